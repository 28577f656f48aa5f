"""Reports and derived health (SPEC §11 "Report", "Health", "Monitoring tickets"): snapshots
ordered by sequence, the catalogue's signals and states only, health derived and offline at
once on read, and monitoring's tickets: opened, resolved, reopened within 7 days, closed after
7 days, with their history and what people wrote."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from roomwarden.devices.models import RoomSignal
from roomwarden.devices.monitor import raise_offline
from roomwarden.devices.monitoring import close_resolved
from roomwarden.devices.rules import derive_health
from roomwarden.kit.time import utcnow
from roomwarden.rooms.models import Room, Ticket, TicketUpdate
from tests.devices.helpers import enroll, report
from tests.factories import World, expect
from tests.rooms.helpers import base, get


def room_of(world: World, t, room_id: str) -> dict:  # type: ignore[no-untyped-def]
    return get(world, t, f"/rooms/{room_id}")


def monitoring_tickets(world: World, t, room_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return get(world, t, "/tickets", room_id=room_id, source="monitoring")["items"]


@pytest.mark.parametrize(
    ("snapshot", "health"),
    [
        ({}, "healthy"),
        ({"display": "ok", "calendar": "ok"}, "healthy"),
        ({"calendar": "failed"}, "degraded"),
        ({"display": "warning"}, "degraded"),
        ({"software_update": "warning", "camera": "ok"}, "degraded"),
        ({"microphone": "failed"}, "unhealthy"),
        ({"sign_in": "failed", "calendar": "warning"}, "unhealthy"),
    ],
)
def test_health_is_derived_from_the_snapshot(world: World, snapshot: dict, health: str) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    answer = report(world, device, snapshot)
    assert answer == {"report_interval_seconds": 60, "desired_software": []}
    read = room_of(world, t, room["id"])
    assert read["health_state"] == health
    assert {s["signal"]: s["state"] for s in read["signals"]} == snapshot
    assert derive_health(reported=True, offline=False, states=snapshot) == health


def test_a_room_reads_the_same_alone_and_in_a_list(world: World) -> None:
    """``GET`` room reads the room with its device and signals in one statement
    (``rooms.service.visible_room_read``); a list page reads them apart (``room_reads``): the two
    representations agree, for a room with a device and several signals and for one without."""
    t = world.tenant()
    plain, equipped = world.room(t), world.room(t)
    device = enroll(world, t, equipped["id"])
    report(world, device, {"display": "ok", "microphone": "failed", "calendar": "warning"})
    listed = {r["id"]: r for r in get(world, t, "/rooms", limit=100)["items"]}
    for room in (plain, equipped):
        assert room_of(world, t, room["id"]) == listed[room["id"]]
    read = room_of(world, t, equipped["id"])
    assert [s["signal"] for s in read["signals"]] == ["calendar", "display", "microphone"]
    assert read["device"]["id"] == device.device_id and room_of(world, t, plain["id"])["device"] is None


def test_an_older_report_changes_nothing(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    report(world, device, {"display": "failed"}, sequence=10)
    report(world, device, {"display": "ok"}, sequence=9)
    report(world, device, {"display": "ok"}, sequence=10)
    assert room_of(world, t, room["id"])["health_state"] == "unhealthy"
    report(world, device, {"display": "ok"}, sequence=11)
    assert room_of(world, t, room["id"])["health_state"] == "healthy"


@pytest.mark.parametrize(
    "signals",
    [
        [{"signal": "projector", "state": "ok"}],
        [{"signal": "display", "state": "broken"}],
        [{"signal": "offline", "state": "failed"}],
        [{"signal": "display", "state": "ok"}, {"signal": "display", "state": "failed"}],
    ],
)
def test_unknown_signals_or_states_are_422(world: World, signals: list) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    r = world.client.post(
        "/api/v1/device/reports", json={"sequence": 1, "signals": signals}, headers=device.headers
    )
    assert r.status_code == 422
    assert room_of(world, t, room["id"])["device"]["last_report_at"] is None


def test_an_unchanged_report_writes_no_history(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    report(world, device, {"display": "failed", "camera": "ok"})
    first = room_of(world, t, room["id"])
    with world.transaction(write=False) as session:
        before = session.scalar(
            select(func.count()).select_from(TicketUpdate).where(TicketUpdate.tenant_id == uuid.UUID(t.id))
        )
    for _ in range(3):
        report(world, device, {"display": "failed", "camera": "ok"})
    again = room_of(world, t, room["id"])
    assert again["signals"] == first["signals"] and again["updated_at"] == first["updated_at"]
    assert again["device"]["last_report_at"] > first["device"]["last_report_at"]
    with world.transaction(write=False) as session:
        after = session.scalar(
            select(func.count()).select_from(TicketUpdate).where(TicketUpdate.tenant_id == uuid.UUID(t.id))
        )
    assert after == before


def test_monitoring_opens_resolves_and_reopens_one_ticket(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    report(world, device, {"calendar": "warning"})
    [ticket] = monitoring_tickets(world, t, room["id"])
    assert (ticket["signal"], ticket["severity"], ticket["status"]) == ("calendar", "warning", "open")
    assert ticket["title"] == "Calendar not synchronising" and ticket["created_by_user_id"] is None
    report(world, device, {"calendar": "failed"})
    report(world, device, {"calendar": "failed", "display": "failed"})
    tickets = monitoring_tickets(world, t, room["id"])
    assert sorted(x["signal"] for x in tickets) == ["calendar", "display"]
    display = next(x for x in tickets if x["signal"] == "display")
    assert display["severity"] == "important"
    # a person comments; monitoring resolves; what the person wrote stays
    expect(
        world.client.patch(
            f"{base(t)}/tickets/{display['id']}", json={"comment": "Cable checked"}, headers=t.admin.headers
        ),
        200,
    )
    report(world, device, {"calendar": "failed"})
    detail = get(world, t, f"/tickets/{display['id']}")
    assert detail["status"] == "resolved"
    assert [u["comment"] for u in detail["updates"] if u["author_user_id"]] == ["Cable checked"]
    resolved = [u for u in detail["updates"] if u["status_to"] == "resolved"]
    assert (
        len(resolved) == 1
        and resolved[0]["author_user_id"] is None
        and "monitoring" in resolved[0]["comment"]
    )
    # a relapse within 7 days reopens the same ticket
    report(world, device, {"calendar": "failed", "display": "failed"})
    again = [x for x in monitoring_tickets(world, t, room["id"]) if x["signal"] == "display"]
    assert [x["id"] for x in again] == [display["id"]] and again[0]["status"] == "open"
    # monitoring's transitions are not in the audit log; the person's comment is
    records = get(world, t, "/audit-logs", category="Ticket", limit=200)["items"]
    assert len(records) == 1 and records[0]["user_id"] == t.admin.id


def test_a_resolved_ticket_closes_after_7_days_and_a_later_relapse_opens_a_new_one(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    report(world, device, {"speaker": "failed"})
    report(world, device, {"speaker": "ok"})
    [ticket] = monitoring_tickets(world, t, room["id"])
    with world.transaction() as session:
        session.execute(
            update(Ticket)
            .where(Ticket.id == uuid.UUID(ticket["id"]))
            .values(resolved_at=utcnow() - timedelta(days=8))
        )
        assert close_resolved(session, utcnow()) >= 1
    assert get(world, t, f"/tickets/{ticket['id']}")["status"] == "closed"
    report(world, device, {"speaker": "failed"})
    tickets = monitoring_tickets(world, t, room["id"])
    assert len(tickets) == 2 and {x["status"] for x in tickets} == {"closed", "open"}


def test_offline_shows_at_once_and_the_monitor_opens_its_ticket(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    report(world, device, {"display": "ok"})
    assert (
        world.client.get(
            f"{base(t)}/rooms", params={"health_state": "healthy"}, headers=t.admin.headers
        ).json()["items"][0]["id"]
        == room["id"]
    )
    with world.transaction() as session:
        session.execute(
            update(Room)
            .where(Room.id == uuid.UUID(room["id"]))
            .values({Room.last_report_at: utcnow() - timedelta(seconds=181)})
        )
    read = room_of(world, t, room["id"])
    assert read["health_state"] == "unhealthy"
    assert {s["signal"]: s["state"] for s in read["signals"]}["offline"] == "failed"
    unhealthy = get(world, t, "/rooms", health_state="unhealthy")["items"]
    assert [r["id"] for r in unhealthy] == [room["id"]]
    assert get(world, t, "/reports/health")["unhealthy"] == 1
    assert monitoring_tickets(world, t, room["id"]) == []  # not yet: the monitor records it
    with world.transaction() as session:
        raise_offline(session, utcnow(), limit=10_000)
    [ticket] = monitoring_tickets(world, t, room["id"])
    assert (ticket["signal"], ticket["severity"]) == ("offline", "important")
    with world.transaction() as session:
        raise_offline(session, utcnow(), limit=10_000)  # once only
        rows = session.scalars(select(RoomSignal).where(RoomSignal.room_id == uuid.UUID(room["id"]))).all()
    assert len(monitoring_tickets(world, t, room["id"])) == 1 and len(rows) == 2
    report(world, device, {"display": "ok"})
    read = room_of(world, t, room["id"])
    assert read["health_state"] == "healthy"
    assert get(world, t, f"/tickets/{ticket['id']}")["status"] == "resolved"


def test_ticket_filters_by_source_and_severity(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    report(world, device, {"calendar": "failed", "camera": "failed"})
    world.incident(t, room["id"])
    assert len(get(world, t, "/tickets", room_id=room["id"])["items"]) == 3
    assert [x["source"] for x in get(world, t, "/tickets", source="customer")["items"]] == ["customer"]
    assert len(get(world, t, "/tickets", source="monitoring")["items"]) == 2
    warning = get(world, t, "/tickets", source="monitoring", severity="warning")["items"]
    assert [x["signal"] for x in warning] == ["calendar"]
    assert world.client.get(f"{base(t)}/tickets?source=robots", headers=t.admin.headers).status_code == 422


def test_a_person_cannot_reopen_a_second_ticket_for_a_signal(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    report(world, device, {"display": "failed"})
    [first] = monitoring_tickets(world, t, room["id"])
    expect(
        world.client.patch(
            f"{base(t)}/tickets/{first['id']}", json={"status": "resolved"}, headers=t.admin.headers
        ),
        200,
    )
    report(world, device, {"display": "ok"})
    report(world, device, {"display": "failed"})  # reopens the same one
    [same] = monitoring_tickets(world, t, room["id"])
    assert same["id"] == first["id"] and same["status"] == "open"


def test_time_zone_defaults_from_the_tenant_and_is_validated(world: World) -> None:
    t = world.tenant()
    h = t.admin.headers
    assert world.room(t)["time_zone"] == "UTC"
    expect(
        world.client.patch(f"{base(t)}/settings", json={"default_time_zone": "Asia/Seoul"}, headers=h), 200
    )
    room = world.room(t)
    assert room["time_zone"] == "Asia/Seoul"
    assert world.room(t, time_zone="Europe/Berlin")["time_zone"] == "Europe/Berlin"
    bad = world.client.patch(f"{base(t)}/rooms/{room['id']}", json={"time_zone": "Mars/Olympus"}, headers=h)
    assert bad.status_code == 422
    assert (
        world.client.patch(f"{base(t)}/settings", json={"default_time_zone": "CET5"}, headers=h).status_code
        == 422
    )
