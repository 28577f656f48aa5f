"""Shared helpers for the rooms tests."""

from __future__ import annotations

from typing import Any

from tests.factories import TenantH, UserH, World, expect


def base(t: TenantH) -> str:
    return f"/api/v1/tenants/{t.id}"


def get(world: World, t: TenantH, path: str, who: UserH | None = None, **params: Any) -> Any:
    return expect(world.client.get(f"{base(t)}{path}", params=params, headers=(who or t.admin).headers), 200)


def all_pages(world: World, t: TenantH, path: str, who: UserH | None = None, **params: Any) -> list[dict]:
    """Every item of a paginated list, asserting the page size is respected."""
    items: list[dict] = []
    cursor = None
    limit = int(params.pop("limit", 2))
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = get(world, t, path, who, **query)
        assert len(page["items"]) <= limit
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


def rings_by_name(world: World, t: TenantH) -> dict[str, dict]:
    return {r["name"]: r for r in get(world, t, "/update-rings")["items"]}
