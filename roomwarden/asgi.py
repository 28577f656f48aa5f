"""ASGI entry point for servers: ``uvicorn roomwarden.asgi:app`` (what ``roomwarden serve``
runs in each worker)."""

from roomwarden.app import create_app

app = create_app()
