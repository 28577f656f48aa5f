"""The scope matrix of a ring's roll-out (SPEC §12 "Compliance"): a ring counts, of its rooms
the viewer may see, how many run each version and how many are current; a room outside the
viewer's scope (a scoped lead's, a partner link's) never shows in a count or a version."""

from __future__ import annotations

from typing import Any

import pytest

from tests.devices.helpers import enroll
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import in_customer, link
from tests.rooms.helpers import get
from tests.software.helpers import component, publish, ring, send_software


def _ring_of(world: World, t: TenantH, ring_id: str, who: UserH) -> dict[str, Any]:
    answer = in_customer(world, t, who, "GET", f"/update-rings/{ring_id}")
    one = expect(answer, 200)
    listed = expect(in_customer(world, t, who, "GET", "/update-rings?limit=200"), 200)["items"]
    assert [r for r in listed if r["id"] == ring_id] == [one]
    return one


@pytest.fixture
def fleet(world: World) -> dict[str, Any]:
    """One ring of four rooms: two inside the viewers' scope running 2.0 (current) and 1.0;
    two outside it running 1.5 (previous) and 0.9 (a version no visible room runs)."""
    t = world.tenant()
    r = ring(world, t)
    name = component()
    for v in ("1.0", "1.5", "2.0"):
        publish(world, name, v)
    rooms = [world.room(t, update_ring_id=r["id"]) for _ in range(4)]
    for room, version in zip(rooms, ("2.0", "1.0", "1.5", "0.9"), strict=True):
        expect(send_software(world, enroll(world, t, room["id"]), {name: version}), 200)
    return {"tenant": t, "ring": r, "name": name, "inside": rooms[:2], "outside": rooms[2:]}


def _expect_inside_only(seen: dict[str, Any], name: str) -> None:
    assert seen["room_count"] == 2
    [software] = seen["software"]
    assert software == {
        "component": name,
        "newest": "2.0",
        "current": 1,
        "versions": [{"version": "2.0", "rooms": 1}, {"version": "1.0", "rooms": 1}],
    }


def test_the_tenant_wide_admin_counts_every_room(world: World, fleet: dict[str, Any]) -> None:
    t = fleet["tenant"]
    seen = _ring_of(world, t, fleet["ring"]["id"], t.admin)
    assert seen["room_count"] == 4 and seen["paused"] is False
    [software] = seen["software"]
    assert software["current"] == 1 and software["newest"] == "2.0"
    assert software["versions"] == [{"version": v, "rooms": 1} for v in ("2.0", "1.5", "1.0", "0.9")]


def test_a_scoped_lead_counts_only_its_rooms(world: World, fleet: dict[str, Any]) -> None:
    t = fleet["tenant"]
    lead = world.user(t)
    world.assign(t, t.roles["Site Lead"], users=[lead], scope={"rooms": [r["id"] for r in fleet["inside"]]})
    _expect_inside_only(_ring_of(world, t, fleet["ring"]["id"], lead), fleet["name"])


def test_a_group_scoped_reader_counts_only_its_group(world: World, fleet: dict[str, Any]) -> None:
    t = fleet["tenant"]
    reader = world.user(t)
    group = world.room_group(t, [r["id"] for r in fleet["inside"]])
    role = world.role(t, ["rooms.view", "rings.view"])
    world.assign(t, role, users=[reader], scope={"room_groups": [group["id"]]})
    _expect_inside_only(_ring_of(world, t, fleet["ring"]["id"], reader), fleet["name"])


def test_a_partner_counts_only_the_rooms_of_its_link(world: World, fleet: dict[str, Any]) -> None:
    t = fleet["tenant"]
    partner = world.tenant()
    link(world, t, partner, scope={"rooms": [r["id"] for r in fleet["inside"]]})
    _expect_inside_only(_ring_of(world, t, fleet["ring"]["id"], partner.admin), fleet["name"])
    # and an out-of-scope room's software is not readable through the room either
    for room in fleet["outside"]:
        assert in_customer(world, t, partner.admin, "GET", f"/rooms/{room['id']}").status_code == 404


def test_a_reader_without_rooms_in_the_ring_counts_nothing(world: World, fleet: dict[str, Any]) -> None:
    t = fleet["tenant"]
    elsewhere = world.room(t)
    lead = world.user(t)
    world.assign(t, t.roles["Site Lead"], users=[lead], scope={"rooms": [elsewhere["id"]]})
    seen = _ring_of(world, t, fleet["ring"]["id"], lead)
    assert seen["room_count"] == 0 and seen["software"] == []


def test_another_tenant_sees_neither_the_ring_nor_its_counts(world: World, fleet: dict[str, Any]) -> None:
    t = fleet["tenant"]
    other = world.tenant()
    answer = in_customer(world, t, other.admin, "GET", f"/update-rings/{fleet['ring']['id']}")
    assert answer.status_code == 404
    for r in get(world, other, "/update-rings")["items"]:
        assert r["software"] == []
