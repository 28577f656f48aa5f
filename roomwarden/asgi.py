"""ASGI entry point for servers: ``uvicorn roomwarden.wsgi:app``."""

from roomwarden.app import create_app

app = create_app()
