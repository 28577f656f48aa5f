"""The partner's views across customers: ``GET /api/v1/partner/rooms`` and
``GET /api/v1/partner/reports/health``. Exact contents per principal, the customer's MFA
requirement, scope changes and off-boarding on the next request, pagination, and agreement
with each customer's own paths."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.devices.helpers import set_health
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import accept, in_customer, invite

ROOMS = "/api/v1/partner/rooms"
HEALTH = "/api/v1/partner/reports/health"


@dataclass
class Fleet:
    c1: TenantH
    c2: TenantH
    partner: TenantH
    link1: str
    link2: str
    c1_in: list[str]  # delegated by c1 (its group "Delegated")
    c1_out: str  # c1's room outside the delegation
    c2_rooms: list[str]  # c2 delegates all rooms
    group: str
    tech: UserH  # a technician of the partner with a custom role over one c1 room
    helpdesk: UserH  # a partner role without rooms.view or reports.view


def _items(world: World, url: str, user: UserH) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        sep = "&" if "?" in url else "?"
        page_url = f"{url}{sep}limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = expect(world.client.get(page_url, headers=user.headers), 200)
        out.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def _ids(world: World, url: str, user: UserH) -> list[str]:
    return [r["id"] for r in _items(world, url, user)]


def _role(world: World, customer: TenantH, by: UserH, name: str, perms: list[str]) -> str:
    body = {"name": name, "permissions": perms}
    return expect(in_customer(world, customer, by, "POST", "/roles", body), 201)["id"]


def _assign(world: World, customer: TenantH, by: UserH, role: str, user: UserH, scope: dict) -> None:
    body = {"name": f"{user.upn} desk", "members": [{"type": "user", "id": user.id}], "scope": scope}
    expect(in_customer(world, customer, by, "POST", f"/roles/{role}/assignments", body), 201)


@pytest.fixture
def fleet(world: World) -> Fleet:
    c1, c2, partner = world.tenant(), world.tenant(), world.tenant()
    c1_in = [world.room(c1)["id"], world.room(c1, country="DE")["id"]]
    c1_out = world.room(c1)["id"]
    group = world.room_group(c1, c1_in, name="Delegated")["id"]
    c2_rooms = [world.room(c2, country="KR")["id"] for _ in range(3)]
    link1 = expect(
        accept(world, partner.admin, invite(world, c1, partner, {"room_groups": [group]})["id"]), 201
    )
    link2 = expect(accept(world, partner.admin, invite(world, c2, partner)["id"]), 201)
    tech, helpdesk = world.user(partner, name="tech"), world.user(partner, name="desk")
    role = _role(world, c1, partner.admin, "Technician", ["rooms.view", "tickets.view", "incidents.create"])
    _assign(world, c1, partner.admin, role, tech, {"rooms": [c1_in[0]]})
    desk = _role(world, c2, partner.admin, "Help desk", ["tickets.view"])
    _assign(world, c2, partner.admin, desk, helpdesk, {"all": True})
    return Fleet(c1, c2, partner, link1["id"], link2["id"], c1_in, c1_out, c2_rooms, group, tech, helpdesk)


def test_rooms_across_customers_are_exactly_the_delegated_ones(world: World, fleet: Fleet) -> None:
    items = _items(world, ROOMS, fleet.partner.admin)
    assert sorted(r["id"] for r in items) == sorted(fleet.c1_in + fleet.c2_rooms)
    names = {fleet.c1.id: fleet.c1.name, fleet.c2.id: fleet.c2.name}
    for room in items:
        assert room["customer_name"] == names[room["customer_id"]]
        assert room["tenant_id"] == room["customer_id"]
        own = expect(
            in_customer(world, _owner(fleet, room), fleet.partner.admin, "GET", f"/rooms/{room['id']}"), 200
        )
        assert {k: room[k] for k in own} == own  # the same room as under the customer's path
    assert fleet.c1_out not in {r["id"] for r in items}
    assert sorted(_ids(world, f"{ROOMS}?customer_id={fleet.c1.id}", fleet.partner.admin)) == sorted(
        fleet.c1_in
    )
    assert _ids(world, ROOMS, fleet.tech) == [fleet.c1_in[0]]
    assert _ids(world, ROOMS, fleet.helpdesk) == []  # no rooms.view anywhere
    assert _ids(world, ROOMS, world.user(fleet.partner)) == []  # no role in any link
    assert _ids(world, ROOMS, fleet.c1.admin) == []  # a customer is no partner


def _owner(fleet: Fleet, room: dict[str, Any]) -> TenantH:
    return fleet.c1 if room["customer_id"] == fleet.c1.id else fleet.c2


def test_pages_walk_every_room_once_in_id_order(world: World, fleet: Fleet) -> None:
    ids = _ids(world, ROOMS, fleet.partner.admin)
    assert ids == sorted(ids, key=lambda i: uuid.UUID(i)) and len(ids) == len(set(ids)) == 5


def test_filter_by_health_state(world: World, fleet: Fleet) -> None:
    set_health(world, fleet.c1, fleet.c1_in[1], "unhealthy")
    set_health(world, fleet.c1, fleet.c1_out, "unhealthy")
    set_health(world, fleet.c2, fleet.c2_rooms[2], "unhealthy")
    got = _ids(world, f"{ROOMS}?health_state=unhealthy", fleet.partner.admin)
    assert sorted(got) == sorted([fleet.c1_in[1], fleet.c2_rooms[2]])
    got = _ids(world, f"{ROOMS}?health_state=unhealthy&customer_id={fleet.c2.id}", fleet.partner.admin)
    assert got == [fleet.c2_rooms[2]]
    assert _ids(world, f"{ROOMS}?health_state=unhealthy", fleet.tech) == []
    bad = world.client.get(f"{ROOMS}?health_state=on_fire", headers=fleet.partner.admin.headers)
    assert bad.status_code == 422


def test_a_customer_the_caller_is_not_in_answers_like_a_missing_one(world: World, fleet: Fleet) -> None:
    stranger = world.tenant()
    missing = "00000000-0000-7000-8000-000000000000"
    answers = [
        world.client.get(f"{ROOMS}?customer_id={cid}", headers=fleet.tech.headers)
        for cid in (missing, stranger.id, fleet.c2.id)  # tech holds no role in c2's link
    ]
    assert {r.status_code for r in answers} == {404}
    assert len({r.text for r in answers}) == 1
    assert world.client.get(ROOMS).status_code == 401
    assert world.client.get(HEALTH).status_code == 401


def test_scope_change_and_offboarding_apply_on_the_next_request(world: World, fleet: Fleet) -> None:
    url = f"/partners/{fleet.link1}"
    expect(
        in_customer(world, fleet.c1, fleet.c1.admin, "PATCH", url, {"scope": {"rooms": [fleet.c1_in[1]]}}),
        200,
    )
    assert sorted(_ids(world, f"{ROOMS}?customer_id={fleet.c1.id}", fleet.partner.admin)) == [fleet.c1_in[1]]
    assert _ids(world, ROOMS, fleet.tech) == []  # its room left the link
    health = expect(world.client.get(HEALTH, headers=fleet.partner.admin.headers), 200)
    assert {c["customer_id"]: c["total_rooms"] for c in health["customers"]}[fleet.c1.id] == 1
    expect(
        world.client.delete(
            f"/api/v1/tenants/{fleet.c1.id}{url}?confirm=true", headers=fleet.c1.admin.headers
        ),
        204,
    )
    assert sorted(_ids(world, ROOMS, fleet.partner.admin)) == sorted(fleet.c2_rooms)
    gone = world.client.get(f"{ROOMS}?customer_id={fleet.c1.id}", headers=fleet.partner.admin.headers)
    assert gone.status_code == 404
    health = expect(world.client.get(HEALTH, headers=fleet.partner.admin.headers), 200)
    assert [c["customer_id"] for c in health["customers"]] == [fleet.c2.id]


def test_a_customer_that_requires_mfa_is_withheld_from_a_sign_in_without_it(
    world: World, fleet: Fleet
) -> None:
    expect(
        in_customer(
            world, fleet.c2, fleet.c2.admin, "PATCH", "/settings", {"require_mfa_for_partners": True}
        ),
        200,
    )
    admin = fleet.partner.admin
    assert sorted(_ids(world, ROOMS, admin)) == sorted(fleet.c1_in)
    refused = world.client.get(f"{ROOMS}?customer_id={fleet.c2.id}", headers=admin.headers)
    assert refused.status_code == 403 and "second factor" in refused.json()["detail"]
    health = expect(world.client.get(HEALTH, headers=admin.headers), 200)
    assert [c["customer_id"] for c in health["customers"]] == [fleet.c1.id]
    assert health["withheld"] == [
        {"customer_id": fleet.c2.id, "customer_name": fleet.c2.name, "reason": refused.json()["detail"]}
    ]
    with_mfa = UserH(admin.id, admin.upn, admin.tenant_id, world.headers(admin.id, admin.tenant_id, mfa=True))
    assert sorted(_ids(world, ROOMS, with_mfa)) == sorted(fleet.c1_in + fleet.c2_rooms)
    health = expect(world.client.get(HEALTH, headers=with_mfa.headers), 200)
    assert len(health["customers"]) == 2 and health["withheld"] == []


def test_health_per_customer_is_each_customers_own_report(world: World, fleet: Fleet) -> None:
    states = {fleet.c1_in[0]: "healthy", fleet.c1_in[1]: "degraded", fleet.c1_out: "unhealthy"}
    for room, state in states.items():  # degraded and unhealthy rooms get a monitoring ticket
        set_health(world, fleet.c1, room, state)
    for room in fleet.c2_rooms[:2]:
        set_health(world, fleet.c2, room, "unhealthy")
    world.incident(fleet.c1, fleet.c1_in[0])
    world.incident(fleet.c1, fleet.c1_out)  # outside the delegation: never counted
    world.incident(fleet.c2, fleet.c2_rooms[0])
    health = expect(world.client.get(HEALTH, headers=fleet.partner.admin.headers), 200)
    assert [c["customer_name"] for c in health["customers"]] == sorted([fleet.c1.name, fleet.c2.name])
    by_id = {c["customer_id"]: c for c in health["customers"]}
    assert by_id[fleet.c1.id]["rooms_by_health"] == {
        "healthy": 1,
        "degraded": 1,
        "unhealthy": 0,
        "unknown": 0,
    }
    assert by_id[fleet.c1.id]["open_tickets"] == 2  # an incident, the degraded room's ticket
    assert by_id[fleet.c2.id]["rooms_by_health"] == {
        "healthy": 0,
        "degraded": 0,
        "unhealthy": 2,
        "unknown": 1,
    }
    assert by_id[fleet.c2.id]["open_tickets"] == 3  # an incident, two monitoring tickets
    assert health["rooms_by_health"] == {"healthy": 1, "degraded": 1, "unhealthy": 2, "unknown": 1}
    assert health["total_rooms"] == 5 and health["open_tickets"] == 5 and health["withheld"] == []
    for customer in (fleet.c1, fleet.c2):
        own = expect(in_customer(world, customer, fleet.partner.admin, "GET", "/reports/health"), 200)
        mine = by_id[customer.id]
        assert (own["total_rooms"], own["rooms_by_health"], own["open_tickets"]) == (
            mine["total_rooms"],
            mine["rooms_by_health"],
            mine["open_tickets"],
        )
    # Neither the technician (no reports.view) nor the help desk sees any customer's figures.
    for user in (fleet.tech, fleet.helpdesk):
        empty = expect(world.client.get(HEALTH, headers=user.headers), 200)
        assert empty["customers"] == [] and empty["total_rooms"] == 0 and empty["open_tickets"] == 0
