from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from roomwarden.kit.api import TransactionalRoute


def router(**kwargs: Any) -> APIRouter:
    """Every API router runs its endpoints inside one transaction per request."""
    return APIRouter(route_class=TransactionalRoute, **kwargs)
