"""Tickets and customer incidents, the health report, and tenant settings."""

from __future__ import annotations

import uuid

import pytest

from roomwarden.rooms.tickets import TRANSITIONS
from tests.devices.helpers import set_health
from tests.factories import World, expect
from tests.rooms.helpers import all_pages, base, get

STATUSES = ("open", "in_progress", "resolved", "closed")


@pytest.mark.parametrize(("start", "to"), [(a, b) for a in STATUSES[:-1] for b in STATUSES if a != b])
def test_every_transition_from_a_non_closed_status_is_allowed(world: World, start: str, to: str) -> None:
    t = world.tenant()
    ticket = world.incident(t, world.room(t)["id"])
    url, h = f"{base(t)}/tickets/{ticket['id']}", t.admin.headers
    if start != "open":
        expect(world.client.patch(url, json={"status": start}, headers=h), 200)
    done = expect(world.client.patch(url, json={"status": to}, headers=h), 200)
    assert done["status"] == to and done["updates"][-1]["status_from"] == start
    assert to in TRANSITIONS[start]


def test_closed_is_final(world: World) -> None:
    t = world.tenant()
    ticket = world.incident(t, world.room(t)["id"])
    url, h = f"{base(t)}/tickets/{ticket['id']}", t.admin.headers
    expect(world.client.patch(url, json={"status": "closed", "comment": "fixed"}, headers=h), 200)
    for body in (
        {"status": "open"},
        {"status": "resolved"},
        {"comment": "one more thing"},
        {"status": "closed"},
    ):
        response = world.client.patch(url, json=body, headers=h)
        assert response.status_code == 409, body
        assert response.headers["content-type"] == "application/problem+json"
    final = get(world, t, f"/tickets/{ticket['id']}")
    assert final["status"] == "closed" and len(final["updates"]) == 1


def test_an_incident_and_its_history(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    tech = world.user(t)
    world.assign(t, t.roles["Site Tech"], users=[tech], scope={"rooms": [room["id"]]})
    body = {
        "room_id": room["id"],
        "title": "Screen flickers",
        "description": "since Monday",
        "severity": "important",
    }
    ticket = expect(world.post(t, "/incidents", body, as_=tech), 201)
    assert (ticket["kind"], ticket["status"], ticket["severity"], ticket["room_id"]) == (
        "incident",
        "open",
        "important",
        room["id"],
    )
    assert ticket["created_by_user_id"] == tech.id and ticket["created_by_tenant_id"] == t.id
    url = f"{base(t)}/tickets/{ticket['id']}"
    steps = [
        (tech, {"status": "in_progress", "comment": "looking"}),
        (t.admin, {"comment": "cable ordered"}),
        (tech, {"status": "resolved"}),
        (t.admin, {"status": "open", "comment": "back again"}),
    ]
    for who, step in steps:
        expect(world.client.patch(url, json=step, headers=who.headers), 200)
    history = get(world, t, f"/tickets/{ticket['id']}")["updates"]
    assert [(u["author_user_id"], u["status_from"], u["status_to"], u["comment"]) for u in history] == [
        (tech.id, "open", "in_progress", "looking"),
        (t.admin.id, None, None, "cable ordered"),
        (tech.id, "in_progress", "resolved", ""),
        (t.admin.id, "resolved", "open", "back again"),
    ]
    assert all(u["author_tenant_id"] == t.id for u in history)


def test_ticket_filters_and_scope(world: World) -> None:
    t = world.tenant()
    a, b = world.room(t), world.room(t)
    t1 = world.incident(t, a["id"])
    t2 = expect(world.post(t, "/incidents", {"room_id": b["id"], "title": "B", "severity": "important"}), 201)
    t3 = world.incident(t, b["id"])
    expect(
        world.client.patch(
            f"{base(t)}/tickets/{t3['id']}", json={"status": "resolved"}, headers=t.admin.headers
        ),
        200,
    )

    def ids(who=None, **params: str) -> list[str]:  # type: ignore[no-untyped-def]
        return [x["id"] for x in all_pages(world, t, "/tickets", who=who, **params)]

    assert ids() == [t1["id"], t2["id"], t3["id"]]
    assert ids(room_id=b["id"]) == [t2["id"], t3["id"]]
    assert ids(status="open") == [t1["id"], t2["id"]]
    assert ids(status="resolved", room_id=b["id"]) == [t3["id"]]
    assert ids(severity="important") == [t2["id"]]
    assert ids(room_id=str(uuid.uuid4())) == []
    for bad in ({"status": "done"}, {"severity": "meh"}, {"room_id": "x"}):
        assert world.client.get(f"{base(t)}/tickets", params=bad, headers=t.admin.headers).status_code == 422
    tech = world.user(t)
    world.assign(t, t.roles["Site Tech"], users=[tech], scope={"rooms": [a["id"]]})
    assert ids(who=tech) == [t1["id"]]
    assert world.client.get(f"{base(t)}/tickets/{t2['id']}", headers=tech.headers).status_code == 404
    assert (
        world.client.patch(
            f"{base(t)}/tickets/{t2['id']}", json={"comment": "x"}, headers=tech.headers
        ).status_code
        == 404
    )
    out_of_scope = world.post(
        t, "/incidents", {"room_id": b["id"], "title": "x", "severity": "warning"}, as_=tech
    )
    assert out_of_scope.status_code == 404
    other = world.tenant()
    assert world.client.get(f"{base(t)}/tickets/{t1['id']}", headers=other.admin.headers).status_code == 404
    assert (
        world.post(other, "/incidents", {"room_id": a["id"], "title": "x", "severity": "warning"}).status_code
        == 404
    )


def test_a_viewer_of_tickets_without_update_is_refused_403(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    ticket = world.incident(t, room["id"])
    viewer = world.user(t)
    world.assign(t, world.role(t, ["rooms.view", "tickets.view"]), users=[viewer])
    url = f"{base(t)}/tickets/{ticket['id']}"
    expect(world.client.get(url, headers=viewer.headers), 200)
    assert world.client.patch(url, json={"status": "closed"}, headers=viewer.headers).status_code == 403
    assert (
        world.post(
            t, "/incidents", {"room_id": room["id"], "title": "x", "severity": "warning"}, as_=viewer
        ).status_code
        == 403
    )
    assert get(world, t, f"/tickets/{ticket['id']}")["status"] == "open"


def test_health_report_counts_only_open_tickets_and_in_scope_rooms(world: World) -> None:
    t = world.tenant()
    h = t.admin.headers
    rooms = [world.room(t) for _ in range(4)]
    for room, state in zip(rooms, ("healthy", "healthy", "degraded", "unhealthy"), strict=True):
        set_health(world, t, room["id"], state)  # degraded and unhealthy open a monitoring ticket each
    _open, progressing, resolved, closed = (world.incident(t, rooms[i % 2]["id"]) for i in range(4))
    for ticket, status in ((progressing, "in_progress"), (resolved, "resolved"), (closed, "closed")):
        expect(
            world.client.patch(f"{base(t)}/tickets/{ticket['id']}", json={"status": status}, headers=h), 200
        )
    report = get(world, t, "/reports/health")
    assert report["tenant_id"] == t.id and report["total_rooms"] == 4 and report["open_tickets"] == 4
    assert report["rooms_by_health"] == {"healthy": 2, "degraded": 1, "unhealthy": 1, "unknown": 0}
    assert (report["healthy"], report["degraded"], report["unhealthy"], report["unknown"]) == (2, 1, 1, 0)
    group = world.room_group(t, [rooms[1]["id"], rooms[3]["id"]])
    lead = world.user(t)
    world.assign(t, t.roles["Site Lead"], users=[lead], scope={"room_groups": [group["id"]]})
    scoped = get(world, t, "/reports/health", who=lead)
    # room 1's in-progress ticket, room 3's monitoring ticket
    assert scoped["total_rooms"] == 2 and scoped["open_tickets"] == 2
    assert scoped["rooms_by_health"] == {"healthy": 1, "degraded": 0, "unhealthy": 1, "unknown": 0}
    tech = world.user(t)
    world.assign(t, t.roles["Site Tech"], users=[tech])
    assert world.client.get(f"{base(t)}/reports/health", headers=tech.headers).status_code == 403
    other = world.tenant()
    assert world.client.get(f"{base(t)}/reports/health", headers=other.admin.headers).status_code == 404


def test_settings_read_and_change(world: World) -> None:
    t = world.tenant()
    url, h = f"{base(t)}/settings", t.admin.headers
    first = get(world, t, "/settings")
    assert first["tenant_id"] == t.id and first["notification_email"] is None
    assert first["require_mfa_for_partners"] is False and first["enable_all_tickets_view"] is False
    changed = expect(world.client.patch(url, json={"require_mfa_for_partners": True}, headers=h), 200)
    assert changed["require_mfa_for_partners"] is True and changed["enable_all_tickets_view"] is False
    for body in (
        {"require_mfa_for_partners": None},
        {"enable_all_tickets_view": None},
        {"enable_all_tickets_view": "maybe"},
        {"notification_email": "not an address"},
        {"colour": "blue"},
    ):
        assert world.client.patch(url, json=body, headers=h).status_code == 422, body
    assert get(world, t, "/settings") == changed
    msa, lead = world.user(t), world.user(t)
    world.assign(t, t.roles["Managed Service Administrator"], users=[msa])
    world.assign(t, t.roles["Site Lead"], users=[lead])
    expect(world.client.patch(url, json={"enable_all_tickets_view": True}, headers=msa.headers), 200)
    assert world.client.get(url, headers=lead.headers).status_code == 403
    assert (
        world.client.patch(url, json={"enable_all_tickets_view": False}, headers=lead.headers).status_code
        == 403
    )
    assert get(world, t, "/settings")["enable_all_tickets_view"] is True
    other = world.tenant()
    assert world.client.get(url, headers=other.admin.headers).status_code == 404
