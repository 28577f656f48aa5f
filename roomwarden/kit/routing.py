from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from roomwarden.kit.api import PROBLEM, TransactionalRoute


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": Problem.model_json_schema()}}}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("Not authenticated"),
    403: _problem("Visible but not permitted"),
    404: _problem("Not visible or absent"),
    409: _problem("State conflict"),
    422: _problem("Invalid input"),
    503: _problem("Database unavailable; retry"),
}


def router(**kwargs: Any) -> APIRouter:
    """Every API router runs its endpoints inside one transaction per request and documents
    the problem responses every endpoint can give."""
    kwargs.setdefault("responses", ERROR_RESPONSES)
    return APIRouter(route_class=TransactionalRoute, **kwargs)
