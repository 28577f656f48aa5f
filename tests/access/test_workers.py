"""Revocation is effective on the very next request, on every worker: two application
instances with their own engines share only the database."""

from __future__ import annotations

from fastapi.testclient import TestClient

from roomwarden.app import create_app
from roomwarden.kit.db import Database
from tests.factories import World, expect


def test_revoking_an_assignment_applies_on_the_next_request_of_another_worker(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    tech = world.user(t)
    assignment = world.assign(t, t.roles["Site Tech"], users=[tech], scope={"rooms": [room["id"]]})
    url = f"/api/v1/tenants/{t.id}/rooms/{room['id']}"
    other_db = Database(world.settings.database_url)
    try:
        with TestClient(create_app(world.settings, other_db)) as second_worker:
            assert second_worker.get(url, headers=tech.headers).status_code == 200
            expect(
                world.client.delete(
                    f"/api/v1/tenants/{t.id}/assignments/{assignment['id']}", headers=t.admin.headers
                ),
                204,
            )
            assert second_worker.get(url, headers=tech.headers).status_code == 404
            assert world.client.get(url, headers=tech.headers).status_code == 404
    finally:
        other_db.dispose()
