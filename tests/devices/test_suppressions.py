"""Suppression (SPEC §11): a suppressed signal opens no ticket and leaves health alone, its
open ticket is resolved with a note; ending it counts the signal again; at most 90 days; needs
rooms.modify on the room; a partner's goes through the room.update change-control event; out
of scope is 404; every change is audited (Room)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from roomwarden.devices.models import RoomSignal
from roomwarden.kit.time import utcnow
from tests.approvals.helpers import approve, as_user, linked, requests_of
from tests.devices.helpers import enroll, report
from tests.factories import World, expect
from tests.rooms.helpers import base, get


def until(days: float = 1) -> str:
    return (utcnow() + timedelta(days=days)).isoformat()


def suppress(world: World, t, room_id: str, signal: str, who=None, days: float = 1):  # type: ignore[no-untyped-def]
    return world.client.put(
        f"{base(t)}/rooms/{room_id}/suppressions/{signal}",
        json={"reason": "Display on order", "until": until(days)},
        headers=(who or t.admin).headers,
    )


def test_a_suppressed_signal_opens_no_ticket_and_leaves_health_alone(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    report(world, device, {"display": "failed"})
    [ticket] = get(world, t, "/tickets", room_id=room["id"])["items"]
    read = expect(suppress(world, t, room["id"], "display"), 200)
    assert read["signal"] == "display" and read["reason"] == "Display on order"
    detail = get(world, t, f"/tickets/{ticket['id']}")
    assert detail["status"] == "resolved" and "suppressed" in detail["updates"][-1]["comment"]
    room_read = get(world, t, f"/rooms/{room['id']}")
    assert room_read["health_state"] == "healthy"
    [signal] = room_read["signals"]
    assert signal["state"] == "failed" and signal["suppressed_until"] is not None
    report(world, device, {"display": "failed", "camera": "ok"})
    report(world, device, {"display": "ok"})
    report(world, device, {"display": "failed"})
    assert [x["status"] for x in get(world, t, "/tickets", room_id=room["id"])["items"]] == ["resolved"]
    listed = get(world, t, f"/rooms/{room['id']}/suppressions")["items"]
    assert [s["signal"] for s in listed] == ["display"]
    # ending it counts the signal again: still failing, the same ticket reopens
    assert (
        world.client.delete(
            f"{base(t)}/rooms/{room['id']}/suppressions/display", headers=t.admin.headers
        ).status_code
        == 204
    )
    assert get(world, t, f"/rooms/{room['id']}")["health_state"] == "unhealthy"
    [again] = get(world, t, "/tickets", room_id=room["id"])["items"]
    assert again["id"] == ticket["id"] and again["status"] == "open"
    assert get(world, t, f"/rooms/{room['id']}/suppressions")["items"] == []
    records = get(world, t, "/audit-logs", category="Room", limit=50)["items"]
    assert sum("suppression" in r["details"] for r in records) == 2


def test_an_expired_suppression_counts_again_at_the_next_report(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    report(world, device, {"calendar": "failed"})
    expect(suppress(world, t, room["id"], "calendar"), 200)
    with world.transaction() as session:
        session.execute(
            update(RoomSignal)
            .where(RoomSignal.room_id == uuid.UUID(room["id"]))
            .values(suppressed_until=utcnow() - timedelta(seconds=1))
        )
    report(world, device, {"calendar": "failed"})
    assert get(world, t, f"/rooms/{room['id']}")["health_state"] == "degraded"
    assert [x["status"] for x in get(world, t, "/tickets", room_id=room["id"])["items"]] == ["open"]


def test_suppression_rules_and_refusals(world: World) -> None:
    t = world.tenant()
    room, hidden = world.room(t), world.room(t)
    assert suppress(world, t, room["id"], "display", days=91).status_code == 422
    assert suppress(world, t, room["id"], "display", days=-1).status_code == 422
    assert suppress(world, t, room["id"], "projector").status_code == 422
    assert suppress(world, t, room["id"], "offline").status_code == 422
    assert (
        world.client.delete(
            f"{base(t)}/rooms/{room['id']}/suppressions/display", headers=t.admin.headers
        ).status_code
        == 204  # nothing to end: idempotent
    )
    viewer = world.user(t)
    world.assign(t, world.role(t, ["rooms.view"]), users=[viewer], scope={"rooms": [room["id"]]})
    assert suppress(world, t, room["id"], "display", who=viewer).status_code == 403
    assert suppress(world, t, hidden["id"], "display", who=viewer).status_code == 404
    listing = world.client.get(f"{base(t)}/rooms/{hidden['id']}/suppressions", headers=viewer.headers)
    assert listing.status_code == 404
    other = world.tenant()
    assert suppress(world, t, room["id"], "display", who=other.admin).status_code == 404
    assert (
        world.client.put(
            f"{base(t)}/rooms/{room['id']}/suppressions/display", json={"reason": "x", "until": until()}
        ).status_code
        == 401
    )


def test_a_partner_s_suppression_goes_through_change_control(world: World) -> None:
    ln = linked(world, policy={"room.update": "manual"})
    c = ln.customer
    room = world.room(c)
    device = enroll(world, c, room["id"])
    report(world, device, {"camera": "failed"})
    held = as_user(
        world,
        c,
        ln.primary,
        "PUT",
        f"/rooms/{room['id']}/suppressions/camera",
        {"reason": "Part on order", "until": until()},
    )
    assert held.status_code == 202
    assert get(world, c, f"/rooms/{room['id']}/suppressions")["items"] == []
    [request] = requests_of(world, c, "?status=pending")
    assert request["event"] == "room.update"
    expect(approve(world, c, request["id"]), 200)
    [applied] = get(world, c, f"/rooms/{room['id']}/suppressions")["items"]
    assert applied["signal"] == "camera" and applied["suppressed_by_user_id"] == ln.primary.id
    assert get(world, c, f"/rooms/{room['id']}")["health_state"] == "healthy"
    # with room.update on auto, the partner's suppression applies at once
    auto = linked(world, policy={"room.update": "auto"})
    other_room = world.room(auto.customer)
    done = as_user(
        world,
        auto.customer,
        auto.primary,
        "PUT",
        f"/rooms/{other_room['id']}/suppressions/speaker",
        {"reason": "r", "until": until()},
    )
    assert done.status_code == 200
