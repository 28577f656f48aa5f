"""The route index (kit/routeindex.py) hands every request to the route plain FastAPI/Starlette
matching would choose: the same entry with the same match (full, or path only: 405), for a
request to every registered route with every method, and for near-misses of each (a trailing
slash added or removed, a segment more or less, a segment changed), where both must find no
route and answer alike (404, or the slash redirect)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Match

from roomwarden.kit.routeindex import RouteIndex, _shape, _templates

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(?::(\w+))?\}")
AN_ID = str(uuid.UUID(int=7))
SAMPLES = {"str": AN_ID, "uuid": AN_ID, "int": "7", "float": "1.5", "path": "a/b.css"}


def plain_select(routes: list[BaseRoute], scope: dict[str, Any]) -> tuple[BaseRoute, Match] | None:
    """Starlette's and FastAPI's router: every route in turn, the first full match, else the
    first partial one."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route, match
        if match == Match.PARTIAL and partial is None:
            partial = (route, match)
    return partial


def scope_for(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "state": {},
    }


def concrete(template: str) -> str:
    return PARAM.sub(lambda m: SAMPLES.get(m.group(2) or "str", "x"), template)


def near_misses(path: str) -> list[str]:
    head = path.rpartition("/")[0]
    out = [path + "/", path + "/extra", head + "/zz-nothing", head or "/"]
    if path.endswith("/") and path != "/":
        out.append(path.rstrip("/"))
    if len(path) > 1:
        out.append("/" + path[1:2].upper() + path[2:])
    return out


def every_template(app: FastAPI) -> list[str]:
    found: list[str] = []
    for route in app.router.routes:
        templates = _templates(route)
        assert templates is not None, f"{route!r}: an entry without a path"
        found.extend(templates)
    return found


def index_of(app: FastAPI) -> RouteIndex:
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex), "create_app dispatches through the route index"
    return index


def test_every_route_and_method_chooses_the_entry_plain_matching_chooses(app: FastAPI) -> None:
    index = index_of(app)
    routes = list(app.router.routes)
    templates = every_template(app)
    assert len(templates) > 250  # every route of every included router, not only the top level
    checked = 0
    for template in templates:
        path = concrete(template)
        for method in METHODS:
            scope = scope_for(method, path)
            expected = plain_select(routes, scope)
            chosen = index.select(scope_for(method, path))
            assert expected is not None, f"{method} {path}: no route matches its own template"
            assert chosen is not None, f"{method} {path}: the index found no route"
            assert chosen[0] is expected[0], f"{method} {path}: {chosen[0]!r} instead of {expected[0]!r}"
            assert chosen[0].matches(scope_for(method, path))[0] == expected[1]
            checked += 1
        for miss in near_misses(path):
            for method in ("GET", "POST", "DELETE"):
                expected = plain_select(routes, scope_for(method, miss))
                chosen = index.select(scope_for(method, miss))
                assert (chosen and chosen[0]) is (expected and expected[0]), f"{method} {miss}"
                checked += 1
    assert checked > 5000


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz/"),
        ("GET", "/readyz/extra"),
        ("GET", "/api/v1/tenants/"),
        ("GET", "/api/v1/tenants/{t}/rooms/"),  # the slash redirect to the list
        ("POST", "/api/v1/tenants/{t}/rooms/{t}/nothing"),
        ("GET", "/api/v1/nothing"),
        ("GET", "/static/"),
        ("GET", "/rooms/"),
        ("PUT", "/healthz"),
        ("TRACE", "/login"),
        ("GET", "/no/such/page"),
    ],
)
def test_near_misses_answer_as_with_plain_matching(app: FastAPI, method: str, path: str) -> None:
    """The answer itself (status, ``Allow``, redirect target, body) with the index and with
    FastAPI's own walk, on the same application."""
    index = index_of(app)
    url = path.format(t=uuid.UUID(int=9))
    client = TestClient(app, follow_redirects=False)  # the session's app: no second start-up
    ours = client.request(method, url)
    app.router.middleware_stack = index.walk
    try:
        plain = client.request(method, url)
    finally:
        app.router.middleware_stack = index
    assert ours.status_code == plain.status_code
    assert ours.headers.get("allow") == plain.headers.get("allow")
    assert ours.headers.get("location") == plain.headers.get("location")
    assert ours.content == plain.content


def test_the_shape_of_a_template() -> None:
    assert _shape("/api/v1/tenants/{tenant_id}/rooms/{room_id}") == (
        ("api", "v1", "tenants", None, "rooms", None),
        False,
    )
    assert _shape("/static/{path:path}") == (("static",), True)
    assert _shape("/files/{name}.json") == (("files",), True)  # text and a parameter: open
    assert _shape("/a/{n:int}/") == (("a", None, ""), False)
    assert _shape("{subdomain}.example.com") is None


def test_routes_added_after_the_app_was_built_are_found(app: FastAPI) -> None:
    index = index_of(app)
    before = len(index.routes)

    @app.get("/zz-added-late/{n:int}")
    async def added_late(n: int) -> dict[str, int]:
        return {"n": n}

    try:
        assert TestClient(app).get("/zz-added-late/4").json() == {"n": 4}
        assert len(index.routes) == before + 1
    finally:
        app.router.routes.pop()
