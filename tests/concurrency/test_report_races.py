"""Reports under races through a real server (PostgreSQL: real connections and row locks):
a meeting sent in many reports at once is stored once, and two transactions ending tickets
of one room-day at once leave the roll-up equal to the union of the room's periods."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from roomwarden.kit.time import utcnow
from roomwarden.reports.models import RoomHealthDay, TicketPeriod
from tests.concurrency.test_races import race
from tests.devices.helpers import enroll, report
from tests.factories import World, expect
from tests.rooms.helpers import base

REPORTS = "/api/v1/device/reports"


@pytest.mark.parametrize("round_", range(2))
def test_a_meeting_in_many_reports_at_once_counts_once(world: World, live_url: str, round_: int) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    start = utcnow() - timedelta(hours=3)
    meetings = [
        {"started_at": (start + timedelta(minutes=40 * i)).isoformat(),
         "ended_at": (start + timedelta(minutes=40 * i + 30)).isoformat(), "participants": i}
        for i in range(3)
    ]  # fmt: skip

    def call(i: int):  # type: ignore[no-untyped-def]
        body = {"sequence": i + 1, "meetings": meetings}
        return lambda c: c.post(f"{live_url}{REPORTS}", json=body, headers=device.headers)

    answers = race([call(i) for i in range(8)])
    assert [a.status_code for a in answers] == [200] * 8
    today = utcnow().date()
    params = {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()}
    usage = expect(world.client.get(f"{base(t)}/reports/usage", params=params, headers=t.admin.headers), 200)
    assert usage["meetings"] == 3 and usage["hours"] == 1.5


def _union_seconds(periods: list[tuple[datetime, datetime]], lo: datetime, hi: datetime) -> int:
    covered, last = 0.0, lo
    for s, e in sorted(periods):
        s, e = max(s, last), min(e, hi)
        if e > s:
            covered += (e - s).total_seconds()
            last = e
    return int(covered)


@pytest.mark.parametrize("round_", range(3))
def test_tickets_of_one_room_day_ending_at_once_keep_the_roll_up_true(
    world: World, live_url: str, round_: int
) -> None:
    now = utcnow()
    zone = next(
        z
        for z in ("UTC", "Asia/Tokyo", "America/Los_Angeles", "Asia/Kolkata", "Europe/Berlin")
        if 6 <= now.astimezone(ZoneInfo(z)).hour < 20
    )
    t = world.tenant()
    room = world.room(t, time_zone=zone)
    device = enroll(world, t, room["id"])
    report(world, device, {"display": "failed", "camera": "failed"})
    tickets = expect(
        world.client.get(
            f"{base(t)}/tickets",
            params={"room_id": room["id"], "source": "monitoring"},
            headers=t.admin.headers,
        ),
        200,
    )["items"]
    camera = next(x for x in tickets if x["signal"] == "camera")
    calls = [
        # the device clears the display while a person resolves the camera's ticket
        lambda c: c.post(
            f"{live_url}{REPORTS}",
            json={"sequence": 99, "signals": [{"signal": "camera", "state": "failed"}]},
            headers=device.headers,
        ),
        lambda c: c.patch(
            f"{live_url}{base(t)}/tickets/{camera['id']}",
            json={"status": "resolved"},
            headers=t.admin.headers,
        ),
    ]
    answers = race(calls)
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    day = utcnow().astimezone(ZoneInfo(zone)).date()
    lo = datetime.combine(day, datetime.min.time().replace(hour=5), tzinfo=ZoneInfo(zone))
    hi = datetime.combine(day, datetime.min.time().replace(hour=21), tzinfo=ZoneInfo(zone))
    with world.transaction(write=False) as session:
        rid = uuid.UUID(room["id"])
        periods = session.execute(
            select(TicketPeriod.started_at, TicketPeriod.ended_at).where(
                TicketPeriod.room_id == rid, TicketPeriod.severity == "important"
            )
        ).all()
        stored = session.scalar(
            select(RoomHealthDay.unhealthy_seconds).where(
                RoomHealthDay.room_id == rid, RoomHealthDay.day == day
            )
        )
    assert len(periods) == 2 and all(e is not None for _, e in periods)
    assert stored == _union_seconds([(s, e) for s, e in periods if e is not None], lo, hi)
