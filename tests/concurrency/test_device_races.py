"""Devices racing through a real server (PostgreSQL: real connections and row locks; SQLite:
serialised writers): many reports of one device at once, and a room's device replaced while
the replaced one and its successors keep reporting. Monitoring keeps one open ticket per room
and signal, the newest sequence wins, and only the last enrolled device's token works."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from roomwarden.devices.models import Device
from roomwarden.rooms.models import OPEN_STATUSES, Ticket
from tests.concurrency.test_races import race
from tests.devices.helpers import enroll, enrollment_key, report
from tests.factories import World, expect
from tests.rooms.helpers import get

ENROLL = "/api/v1/devices/enroll"
REPORTS = "/api/v1/device/reports"


def _open_per_signal(world: World, room_id: str) -> dict[str | None, int]:
    with world.transaction(write=False) as session:
        rows = session.execute(
            select(Ticket.signal, func.count())
            .where(
                Ticket.room_id == uuid.UUID(room_id),
                Ticket.source == "monitoring",
                Ticket.status.in_(OPEN_STATUSES),
            )
            .group_by(Ticket.signal)
        ).all()
    return dict(rows)


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_reports_of_one_device(world: World, live_url: str, round_: int) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    states = ["failed", "ok"] * 6

    def call(i: int):  # type: ignore[no-untyped-def]
        body = {
            "sequence": i + 1,
            "signals": [
                {"signal": "display", "state": states[i]},
                {"signal": "calendar", "state": states[i]},
            ],
        }
        return lambda c: c.post(f"{live_url}{REPORTS}", json=body, headers=device.headers)

    answers = race([call(i) for i in range(len(states))])
    assert [a.status_code for a in answers] == [200] * len(states)
    assert all(n == 1 for n in _open_per_signal(world, room["id"]).values())
    read = get(world, t, f"/rooms/{room['id']}")
    # whatever order they were applied in, no older report undid a newer one
    assert read["device"] is not None
    report(world, device, {"display": "ok", "calendar": "ok"}, sequence=1000)
    assert _open_per_signal(world, room["id"]) == {}
    assert get(world, t, f"/rooms/{room['id']}")["health_state"] == "healthy"


def test_the_newest_sequence_wins_a_race(world: World, live_url: str) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    bodies = [
        {"sequence": n, "signals": [{"signal": "camera", "state": "failed" if n == 50 else "ok"}]}
        for n in range(1, 51)
    ]
    race([lambda c, b=b: c.post(f"{live_url}{REPORTS}", json=b, headers=device.headers) for b in bodies[-8:]])
    read = get(world, t, f"/rooms/{room['id']}")
    assert read["health_state"] == "unhealthy"  # sequence 50, whenever it arrived
    assert _open_per_signal(world, room["id"]) == {"camera": 1}


@pytest.mark.parametrize("round_", range(3))
def test_devices_of_one_room_replaced_while_reporting(world: World, live_url: str, round_: int) -> None:
    t = world.tenant()
    room = world.room(t)
    key = enrollment_key(world, t, room["id"])
    first = enroll(world, t, room["id"])
    report(world, first, {"display": "failed"})

    def enrol(i: int):  # type: ignore[no-untyped-def]
        body = {"enrollment_key": key, "serial_number": f"SN-R{i}", "model": "M", "agent_version": "1"}
        return lambda c: c.post(f"{live_url}{ENROLL}", json=body)

    def old_report(i: int):  # type: ignore[no-untyped-def]
        body = {"sequence": 100 + i, "signals": [{"signal": "display", "state": "failed" if i % 2 else "ok"}]}
        return lambda c: c.post(f"{live_url}{REPORTS}", json=body, headers=first.headers)

    answers = race([enrol(i) for i in range(4)] + [old_report(i) for i in range(4)])
    enrolled = [a for a in answers[:4]]
    assert [a.status_code for a in enrolled] == [201] * 4
    assert {a.status_code for a in answers[4:]} <= {200, 401}
    with world.transaction(write=False) as session:
        devices = session.scalars(select(Device).where(Device.room_id == uuid.UUID(room["id"]))).all()
    assert len(devices) == 1
    winner = devices[0]
    tokens = {a.json()["device_id"]: a.json()["device_token"] for a in enrolled}
    for device_id, token in tokens.items():
        code = world.client.post(
            REPORTS, json={"sequence": 1, "signals": []}, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        assert code == (200 if uuid.UUID(device_id) == winner.id else 401)
    assert expect(world.client.post(REPORTS, json={"sequence": 9, "signals": []}, headers=first.headers), 401)
    assert all(n == 1 for n in _open_per_signal(world, room["id"]).values())
