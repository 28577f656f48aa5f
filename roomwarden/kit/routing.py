from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

from roomwarden.kit.api import TransactionalRoute


def operation_id(route: APIRoute) -> str:
    """The endpoint function's name: short and stable (uniqueness is checked when the
    OpenAPI document is built)."""
    return route.name


def router(**kwargs: Any) -> APIRouter:
    """Every API router runs its endpoints inside one transaction per request (which also
    refuses unknown query parameters). The problem responses each operation can give are
    added to the OpenAPI document by ``kit.openapi``, as shared components."""
    kwargs.setdefault("generate_unique_id_function", operation_id)
    return APIRouter(route_class=TransactionalRoute, **kwargs)
