"""Request bodies over ROOMWARDEN_MAX_BODY_BYTES answer 413 problem+json before they are
parsed, whether their size is declared or streamed, and change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi.testclient import TestClient

from roomwarden.app import create_app
from roomwarden.kit.db import Database
from tests.factories import World, expect

LIMIT = 4096


def _client(world: World, db: Database) -> TestClient:
    return TestClient(create_app(world.settings.model_copy(update={"max_body_bytes": LIMIT}), db))


def _assert_413(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert str(LIMIT) in response.json()["detail"]


def test_a_declared_oversized_body_is_refused_unread(world: World, db: Database) -> None:
    t = world.tenant()
    url = f"/api/v1/tenants/{t.id}/room-groups"
    with _client(world, db) as c:
        body = {"name": "big", "room_ids": [], "padding": "x" * LIMIT}
        _assert_413(c.post(url, json=body, headers=t.admin.headers))
        _assert_413(c.post("/api/v1/auth/token", data={"username": "a@b.example", "password": "p" * LIMIT}))
        groups = expect(c.get(url, headers=t.admin.headers), 200)["items"]
        assert all(g["name"] != "big" for g in groups)
        # under the limit, the same request is served as usual
        expect(c.post(url, json={"name": "small", "room_ids": []}, headers=t.admin.headers), 201)


def test_a_streamed_oversized_body_is_refused(world: World, db: Database) -> None:
    t = world.tenant()
    url = f"/api/v1/tenants/{t.id}/room-groups"

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "streamed", "room_ids": [], "padding": "'
        for _ in range(10):
            yield b"x" * 1024
        yield b'"}'

    with _client(world, db) as c:
        headers = {**t.admin.headers, "content-type": "application/json"}
        _assert_413(c.post(url, content=chunks(), headers=headers))
        groups = expect(c.get(url, headers=t.admin.headers), 200)["items"]
        assert all(g["name"] != "streamed" for g in groups)


def test_the_default_limit_refuses_a_30_mb_json(world: World) -> None:
    t = world.tenant()
    payload = json.dumps({"name": "huge", "room_ids": ["x"] * 6_000_000})
    assert len(payload) > 30_000_000
    response = world.client.post(
        f"/api/v1/tenants/{t.id}/room-groups",
        content=payload,
        headers={**t.admin.headers, "content-type": "application/json"},
    )
    assert response.status_code == 413
