"""Held partner changes: nothing changes until a reviewer approves; each decision once."""

from __future__ import annotations

from tests.approvals.helpers import approve, as_user, cancel, linked, reject, requests_of, ring_ids
from tests.factories import World, expect


def test_held_room_rename_changes_nothing_until_approved(world: World) -> None:
    x = linked(world)
    room = world.room(x.customer)
    held = expect(
        as_user(world, x.customer, x.primary, "PATCH", f"/rooms/{room['id']}", {"name": "Renamed"}), 202
    )
    assert held["status"] == "pending" and held["event"] == "room.update"
    assert held["before"]["name"] == room["name"] and held["after"]["name"] == "Renamed"
    assert {"field": "name", "before": room["name"], "after": "Renamed"} in held["diff"]
    now = expect(as_user(world, x.customer, x.customer.admin, "GET", f"/rooms/{room['id']}"), 200)
    assert now["name"] == room["name"]
    decided = expect(approve(world, x.customer, held["id"]), 200)
    assert decided["status"] == "approved" and decided["decided_by"]["user_id"] == x.customer.admin.id
    now = expect(as_user(world, x.customer, x.customer.admin, "GET", f"/rooms/{room['id']}"), 200)
    assert now["name"] == "Renamed"
    assert approve(world, x.customer, held["id"]).status_code == 409


def test_stale_request_fails_instead_of_overwriting(world: World) -> None:
    x = linked(world)
    room = world.room(x.customer)
    held = expect(
        as_user(world, x.customer, x.primary, "PATCH", f"/rooms/{room['id']}", {"city": "Oslo"}), 202
    )
    expect(
        as_user(world, x.customer, x.customer.admin, "PATCH", f"/rooms/{room['id']}", {"city": "Bergen"}), 200
    )
    r = approve(world, x.customer, held["id"])
    assert r.status_code == 409
    assert r.json()["approval_request"]["status"] == "failed"
    now = expect(as_user(world, x.customer, x.customer.admin, "GET", f"/rooms/{room['id']}"), 200)
    assert now["city"] == "Bergen"
    assert requests_of(world, x.customer, "?status=failed")[0]["id"] == held["id"]


def test_every_event_is_held(world: World) -> None:
    x = linked(world)
    room = world.room(x.customer)
    ticket = world.incident(x.customer, room["id"])
    rings = ring_ids(world, x.customer)
    c, p = x.customer, x.primary
    calls = [
        ("PATCH", f"/rooms/{room['id']}", {"update_ring_id": rings["Validation"]}),
        ("PATCH", f"/update-rings/{rings['Validation']}", {"deferral_days": 9}),
        ("POST", "/incidents", {"room_id": room["id"], "title": "Broken", "severity": "warning"}),
        ("PATCH", f"/tickets/{ticket['id']}", {"status": "resolved", "comment": "fixed"}),
        ("POST", "/roles", {"name": "Desk", "permissions": ["tickets.view"]}),
    ]
    held = [expect(as_user(world, c, p, *call), 202) for call in calls]
    assert [h["event"] for h in held] == [
        "update_ring.change",
        "update_ring.change",
        "incident.create",
        "ticket.update",
        "partner_role.change",
    ]
    for h in held:
        assert expect(approve(world, c, h["id"]), 200)["status"] == "approved"
    roles = expect(as_user(world, c, c.admin, "GET", "/roles?kind=partner_custom"), 200)["items"]
    assert [r["name"] for r in roles] == ["Desk"]
    assert held[4]["id"] in {r["id"] for r in requests_of(world, c, "?status=approved")}


def test_reject_and_cancel(world: World) -> None:
    x = linked(world)
    room = world.room(x.customer)
    a = expect(as_user(world, x.customer, x.primary, "PATCH", f"/rooms/{room['id']}", {"city": "A"}), 202)
    b = expect(as_user(world, x.customer, x.primary, "PATCH", f"/rooms/{room['id']}", {"city": "B"}), 202)
    assert expect(reject(world, x.customer, a["id"], "no"), 200)["reason"] == "no"
    assert expect(cancel(world, x.primary, b["id"]), 200)["status"] == "cancelled"
    assert approve(world, x.customer, a["id"]).status_code == 409
    assert approve(world, x.customer, b["id"]).status_code == 409
    mine = expect(world.client.get("/api/v1/partner/approval-requests", headers=x.primary.headers), 200)
    assert {r["status"] for r in mine["items"]} == {"rejected", "cancelled"}


def test_offboarding_cancels_pending(world: World) -> None:
    x = linked(world)
    room = world.room(x.customer)
    a = expect(as_user(world, x.customer, x.primary, "PATCH", f"/rooms/{room['id']}", {"city": "A"}), 202)
    expect(
        as_user(world, x.customer, x.customer.admin, "DELETE", f"/partners/{x.link['id']}?confirm=true"), 204
    )
    got = expect(as_user(world, x.customer, x.customer.admin, "GET", f"/approval-requests/{a['id']}"), 200)
    assert got["status"] == "cancelled" and "removed" in got["reason"]
