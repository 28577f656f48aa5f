"""Two admins edit the same object at once, each with the ETag it read: exactly one change
applies (200), the other is refused (412) and changes nothing — on links, roles and
assignments, through a real server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from tests.concurrency.test_races import race
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import link


def _two_admins(world: World, t: TenantH) -> tuple[UserH, UserH]:
    return t.admin, world.user(t, ga=True)


def _edit_race(
    world: World, url: str, admins: tuple[UserH, UserH], bodies: list[dict[str, Any]]
) -> list[Any]:
    tag = world.client.get(url, headers=admins[0].headers).headers["etag"]

    def edit(i: int) -> Callable[[httpx2.Client], Any]:
        headers = {**admins[i].headers, "If-Match": tag}
        return lambda c: c.patch(url, json=bodies[i], headers=headers)

    return race([edit(0), edit(1)])


@pytest.mark.parametrize("round_", range(3))
def test_two_admins_editing_a_link_at_once(world: World, live_url: str, round_: int) -> None:
    c, p = world.tenant(), world.tenant()
    rooms = [world.room(c)["id"] for _ in range(2)]
    lk = link(world, c, p, {"rooms": [rooms[0]]})
    url = f"{live_url}/api/v1/tenants/{c.id}/partners/{lk['id']}"
    bodies = [{"scope": {"rooms": [rooms[0]]}, "approval_expires_in_days": 3}, {"scope": {"rooms": rooms}}]
    results = _edit_race(world, url, _two_admins(world, c), bodies)
    assert sorted(r.status_code for r in results) == [200, 412], [r.text for r in results]
    winner = bodies[[r.status_code for r in results].index(200)]
    now = expect(world.client.get(url.removeprefix(live_url), headers=c.admin.headers), 200)
    assert now["scope"]["rooms"] == sorted(winner["scope"]["rooms"])
    assert now["approval_expires_in_days"] == winner.get("approval_expires_in_days", 7)
    assert now["version"] == lk["version"] + 1


@pytest.mark.parametrize("round_", range(3))
def test_two_admins_adding_rooms_to_a_link_at_once(world: World, live_url: str, round_: int) -> None:
    c, p = world.tenant(), world.tenant()
    first, second = world.room(c)["id"], world.room(c)["id"]
    lk = link(world, c, p, {"rooms": []})
    url = f"{live_url}/api/v1/tenants/{c.id}/partners/{lk['id']}"
    tag = world.client.get(url, headers=c.admin.headers).headers["etag"]
    admins = _two_admins(world, c)
    calls = [
        (lambda h, r: lambda cl: cl.post(f"{url}/scope/rooms", json={"room_ids": [r]}, headers=h))(
            {**admins[i].headers, "If-Match": tag}, room
        )
        for i, room in enumerate((first, second))
    ]
    results = race(calls)
    assert sorted(r.status_code for r in results) == [200, 412], [r.text for r in results]
    now = expect(world.client.get(url.removeprefix(live_url), headers=c.admin.headers), 200)
    assert len(now["scope"]["rooms"]) == 1


@pytest.mark.parametrize("round_", range(3))
def test_two_admins_editing_a_role_and_an_assignment_at_once(
    world: World, live_url: str, round_: int
) -> None:
    t = world.tenant()
    admins = _two_admins(world, t)
    role_id = world.role(t, ["rooms.view"])
    base = f"{live_url}/api/v1/tenants/{t.id}"
    results = _edit_race(
        world, f"{base}/roles/{role_id}", admins, [{"description": "a"}, {"description": "b"}]
    )
    assert sorted(r.status_code for r in results) == [200, 412], [r.text for r in results]
    winner = "ab"[[r.status_code for r in results].index(200)]
    role = expect(world.client.get(f"/api/v1/tenants/{t.id}/roles/{role_id}", headers=t.admin.headers), 200)
    assert role["description"] == winner

    user = world.user(t)
    assignment = world.assign(t, role_id, users=[user], scope={"all": True})
    url = f"{base}/assignments/{assignment['id']}"
    results = _edit_race(world, url, admins, [{"name": "Desk A"}, {"name": "Desk B"}])
    assert sorted(r.status_code for r in results) == [200, 412], [r.text for r in results]
    winner = ["Desk A", "Desk B"][[r.status_code for r in results].index(200)]
    got = expect(world.client.get(url.removeprefix(live_url), headers=t.admin.headers), 200)
    assert got["name"] == winner
