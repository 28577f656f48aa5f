"""Unknown query parameters answer 422 on every API route, so a mistyped filter cannot pass
for "no filter"; every declared one is still accepted."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from roomwarden.kit.api import TransactionalRoute
from tests.factories import World

SAMPLE_ID = "01a22e00-0000-7000-8000-000000000000"


def api_operations(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    ops = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if (
            isinstance(route, APIRoute)
            and route.include_in_schema
            and (context.path or "").startswith("/api/")
        ):
            for method in sorted(route.methods - {"HEAD"}):
                ops.append((method, context.path or "", route))
    return ops


def test_every_api_route_runs_in_the_checking_route_class(app: FastAPI) -> None:
    ops = api_operations(app)
    assert len(ops) > 50
    assert [path for _, path, route in ops if not isinstance(route, TransactionalRoute)] == []


def test_every_operation_in_the_document_refuses_an_unknown_query_parameter(
    world: World, app: FastAPI
) -> None:
    t = world.tenant()
    document = world.client.get("/api/v1/openapi.json").json()
    checked = 0
    for path, item in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method in item:
            url = re.sub(r"\{tenant_id\}", t.id, path)
            url = re.sub(r"\{[^}]+\}", SAMPLE_ID, url)
            response = world.client.request(
                method.upper(), f"{url}?limti=5", headers=t.admin.headers, json=None
            )
            assert response.status_code == 422, (method, path, response.status_code, response.text)
            body: dict[str, Any] = response.json()
            assert body["errors"][0]["loc"] == ["query", "limti"], body
            checked += 1
    assert checked == len(api_operations(app))


@pytest.mark.parametrize("query", ["limit=1", "limit=1&cursor=", "q=x&country=US&limit=2"])
def test_declared_parameters_still_pass(world: World, query: str) -> None:
    t = world.tenant()
    response = world.client.get(f"/api/v1/tenants/{t.id}/rooms?{query}", headers=t.admin.headers)
    assert response.status_code == 200, response.text
