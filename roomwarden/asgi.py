"""ASGI entry point for servers: ``uvicorn roomwarden.asgi:app`` (what ``roomwarden serve``
runs in each worker)."""

from roomwarden.app import create_app
from roomwarden.kit.server import freeze_heap

app = create_app()
freeze_heap()
