"""The portal's own addresses: a page's path by its route name."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.routing import NoMatchFound


def path_for(app: Any, name: str, **params: str) -> str:
    """``app.url_path_for``, memoised: routing is asked once per route for a template with
    placeholders, then filled in — a table of a hundred links costs string formatting, not a
    hundred walks over every route of the application."""
    cache: dict[tuple[str, tuple[str, ...]], str | None] | None = getattr(app.state, "portal_paths", None)
    if cache is None:
        cache = app.state.portal_paths = {}
    key = (name, tuple(sorted(params)))
    if key not in cache:
        try:
            cache[key] = str(app.url_path_for(name, **{p: f"__{p}__" for p in params}))
        except NoMatchFound:
            cache[key] = None
    template = cache[key]
    if template is None:
        raise NoMatchFound(name, params)
    for param, value in params.items():
        template = template.replace(f"__{param}__", quote(str(value), safe=""))
    return template
