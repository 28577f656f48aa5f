"""Route matching by path shape instead of trying every route in turn.

FastAPI tries an application's routes one after another, in the order they were added, until
one matches (or one matches the path but not the method: 405); each included router tries its
own routes in turn. With about 300 routes in some 50 routers, a request for a route added last
(``/healthz``) went through every router's patterns first, and that walk was most of a small
request's cost.

:class:`RouteIndex` answers exactly as that walk does, after trying fewer routes. At start-up it
reads every route's path template (inside included routers too) and files each top-level entry
of the application's router under the shapes of its paths: literal segments, one-segment
parameters (``{room_id}``) and open tails (``{path:path}``, a mount, a segment mixing text and
a parameter). A request's path then selects the entries whose shapes could match it, still in
the order they were added, and FastAPI's own ``matches`` and ``handle`` run on those alone. An
entry left out could not have matched: its every path differs from the request's in a literal
segment or in the number of segments. So the first full match, the first partial match (405)
and the route chosen are those of the plain walk; when no candidate matches at all, the plain
walk runs as before and gives its own answer (the slash redirect, a low-priority route, 404).
``tests/kit/test_routeindex.py`` checks this for every registered route and near-misses of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRouter
from fastapi.telemetry._api import _route_selected
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Host, Match, Mount
from starlette.types import Receive, Scope, Send

#: convertors whose pattern never crosses a ``/``: a segment that is one such parameter
#: matches one whole segment (any other parameter is taken as matching the rest of the path)
ONE_SEGMENT = frozenset({"str", "int", "float", "uuid"})
PARAM = re.compile(r"^\{[a-zA-Z_][a-zA-Z0-9_]*(?::(\w+))?\}$")


class _Node:
    __slots__ = ("end", "literal", "param", "tail")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.tail: set[int] = set()  # entries with a path that matches anything from here on
        self.end: set[int] = set()  # entries with a path that ends here


def _templates(route: Any) -> Iterable[str] | None:
    """Every path template an entry of the router can match, or ``None`` when it cannot be
    told (the entry is then tried for every request)."""
    if isinstance(route, Host):
        return None
    if isinstance(route, Mount):
        return [route.path + "/{path:path}"]
    contexts = getattr(route, "effective_route_contexts", None)
    if contexts is not None:  # an included router: the paths of its routes, as included
        paths: list[str] = []
        for context in contexts():
            inner = context.starlette_route
            found = _templates(inner) if inner is not None else [context.path]
            if found is None:
                return None
            paths.extend(found)
        return paths
    path = getattr(route, "path", None)
    return [path] if isinstance(path, str) else None


def _shape(template: str) -> tuple[tuple[str | None, ...], bool] | None:
    """``(segments, open)``: each segment is its literal text or ``None`` for a one-segment
    parameter; ``open`` when the rest of the path is free. ``None``: no shape (try always)."""
    if not template.startswith("/"):
        return None
    segments: list[str | None] = []
    for part in template[1:].split("/"):
        if "{" not in part:
            segments.append(part)
            continue
        found = PARAM.match(part)
        if found is None or (found.group(1) or "str") not in ONE_SEGMENT:
            return tuple(segments), True
        segments.append(None)
    return tuple(segments), False


class RouteIndex:
    """The application router's dispatch, with the routes to try chosen by the path's shape
    (installed by :func:`install`)."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.walk = router.app  # FastAPI's own dispatch: every route in turn
        self.routes: list[BaseRoute] = []
        self.root = _Node()
        self.always: set[int] = set()

    def build(self) -> None:
        root, always = _Node(), set()
        routes = list(self.router.routes)
        for index, route in enumerate(routes):
            templates = _templates(route)
            if templates is None:
                always.add(index)
                continue
            for template in templates:
                shape = _shape(template)
                if shape is None:
                    always.add(index)
                    continue
                node = root
                segments, is_open = shape
                for segment in segments:
                    if segment is None:
                        node.param = node.param or _Node()
                        node = node.param
                    else:
                        node = node.literal.setdefault(segment, _Node())
                (node.tail if is_open else node.end).add(index)
        self.root, self.always, self.routes = root, always, routes

    def candidates(self, route_path: str) -> list[BaseRoute]:
        """The entries, in the router's order, that may match ``route_path``."""
        found = set(self.always)
        if route_path.startswith("/"):
            segments = route_path[1:].split("/")
            last = len(segments)
            level = [self.root]
            for depth in range(last + 1):
                following: list[_Node] = []
                for node in level:
                    found |= node.tail
                    if depth == last:
                        found |= node.end
                        continue
                    child = node.literal.get(segments[depth])
                    if child is not None:
                        following.append(child)
                    if node.param is not None:
                        following.append(node.param)
                if not following:
                    break
                level = following
        else:  # a path outside the application's root path: no shape to go by
            found.update(range(len(self.routes)))
        return [self.routes[i] for i in sorted(found)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.walk(scope, receive, send)
            return
        if len(self.routes) != len(self.router.routes):  # routes added after the last build
            self.build()
        if "router" not in scope:
            scope["router"] = self.router
        chosen = self.select(scope)
        if chosen is None:
            # no route matches the path: the plain walk answers (slash redirect, 404) as it would
            await self.walk(scope, receive, send)
            return
        route, child = chosen
        # as FastAPI's router does with the route it chose
        scope.update(child)
        _route_selected(scope=scope, path=getattr(route, "path_format", None), mount=isinstance(route, Mount))
        await route.handle(scope, receive, send)

    def select(self, scope: Scope) -> tuple[BaseRoute, Scope] | None:
        """The entry the plain walk would hand the request to, and its child scope: the first
        one matching fully, else the first matching the path only (405); ``None`` if none."""
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                return route, child_scope
            if match == Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        return partial


def install(app: FastAPI) -> RouteIndex:
    """Dispatch ``app``'s requests through a :class:`RouteIndex` (built now and again when
    routes are added to the application afterwards)."""
    index = RouteIndex(app.router)
    index.build()
    app.router.middleware_stack = index
    return index
