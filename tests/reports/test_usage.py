"""Meetings from device reports: validated, stored once per device and start, counted on the
room-local day they started; the usage report and its CSV against the meetings sent."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomwarden.kit.time import utcnow
from tests.devices.helpers import REPORTS, DeviceH, enroll
from tests.factories import TenantH, World, expect
from tests.rooms.helpers import base


def _send(world: World, device: DeviceH, meetings: list[dict[str, Any]], sequence: int | None = None) -> Any:
    body = {"sequence": next(device.sequence) if sequence is None else sequence, "meetings": meetings}
    return world.client.post(REPORTS, json=body, headers=device.headers)


def _meeting(start: datetime, minutes: int, participants: int = 4) -> dict[str, Any]:
    return {
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=minutes)).isoformat(),
        "participants": participants,
    }


def _usage(world: World, t: TenantH, start: date, end: date, **extra: Any) -> Any:
    params = {"start": start.isoformat(), "end": end.isoformat(), **extra}
    return world.client.get(f"{base(t)}/reports/usage", params=params, headers=t.admin.headers)


def test_meetings_count_once_per_device_and_start_on_the_rooms_local_day(world: World) -> None:
    t = world.tenant()
    tokyo, utc_room = world.room(t, time_zone="Asia/Tokyo"), world.room(t, time_zone="UTC")
    a, b = enroll(world, t, tokyo["id"]), enroll(world, t, utc_room["id"])
    day = (utcnow() - timedelta(days=3)).date()
    late = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=23
    )  # 08:00 next day in Tokyo
    morning = late - timedelta(hours=13)
    first = [_meeting(late, 30), _meeting(morning, 90), _meeting(morning, 90)]  # a duplicate in one report
    expect(_send(world, a, first), 200)
    expect(_send(world, a, [_meeting(late, 30), _meeting(late + timedelta(hours=2), 15)]), 200)  # again
    expect(_send(world, b, [_meeting(late, 60)]), 200)
    # A stale report changes nothing, its meetings included.
    expect(_send(world, b, [_meeting(morning, 60)], sequence=0), 200)
    got = expect(_usage(world, t, day - timedelta(days=1), day + timedelta(days=1)), 200)
    rooms = {r["room_id"]: (r["meetings"], r["hours"]) for r in got["rooms"]}
    assert rooms == {tokyo["id"]: (3, 2.25), utc_room["id"]: (1, 1.0)}
    days = {d["day"]: (d["meetings"], d["hours"]) for d in got["days"]}
    next_day = (day + timedelta(days=1)).isoformat()
    assert late.astimezone(ZoneInfo("Asia/Tokyo")).date().isoformat() == next_day
    assert days == {
        (day - timedelta(days=1)).isoformat(): (0, 0.0),
        day.isoformat(): (2, 2.5),  # Tokyo's morning meeting, the UTC room's late one
        next_day: (2, 0.75),  # Tokyo's late meetings, on its next local day
    }
    assert got["meetings"] == 4 and got["hours"] == 3.25 and got["total_rooms"] == 2


BAD = [
    (
        "ends before it starts",
        lambda now: [
            {**_meeting(now - timedelta(hours=2), 30), "ended_at": (now - timedelta(hours=3)).isoformat()}
        ],
    ),
    ("ends when it starts", lambda now: [_meeting(now - timedelta(hours=2), 0)]),
    ("ends in the future", lambda now: [_meeting(now - timedelta(minutes=10), 30)]),
    ("lasts over a day", lambda now: [_meeting(now - timedelta(days=3), 25 * 60)]),
    (
        "no time zone",
        lambda now: [{**_meeting(now - timedelta(hours=2), 30), "started_at": "2026-01-01T10:00:00"}],
    ),
    ("negative participants", lambda now: [_meeting(now - timedelta(hours=2), 30, participants=-1)]),
    ("too many", lambda now: [_meeting(now - timedelta(days=2, minutes=i), 1) for i in range(501)]),
]


@pytest.mark.parametrize(("name", "make"), BAD, ids=[b[0] for b in BAD])
def test_bad_meetings_are_refused_and_nothing_is_written(world: World, name: str, make: Any) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    now = utcnow()
    good = _meeting(now - timedelta(hours=5), 20)
    assert _send(world, device, [good, *make(now)]).status_code == 422, name
    today = now.date()
    got = expect(_usage(world, t, today - timedelta(days=5), today), 200)
    assert got["meetings"] == 0


def test_usage_csv_is_the_per_room_table_and_safe_in_a_spreadsheet(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    expect(
        world.client.patch(
            f"{base(t)}/rooms/{room['id']}", json={"name": '=HYPERLINK("x")'}, headers=t.admin.headers
        ),
        200,
    )
    device = enroll(world, t, room["id"])
    start = utcnow() - timedelta(days=1)
    expect(_send(world, device, [_meeting(start, 45)]), 200)
    today = utcnow().date()
    response = _usage(world, t, today - timedelta(days=2), today, format="csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows == [["room_id", "room", "meetings", "hours"], [room["id"], '\'=HYPERLINK("x")', "1", "0.75"]]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"start": "2026-02-10", "end": "2026-02-01"}, 422),
        ({"start": "2025-01-01", "end": "2026-01-02"}, 422),
        ({"start": "2025-01-01", "end": "2026-01-01"}, 200),
        ({"start": "2026-02-30"}, 422),
        ({"start": "yesterday"}, 422),
        ({"format": "xlsx"}, 422),
        ({}, 200),
    ],
)
@pytest.mark.parametrize("report", ["health", "usage"])
def test_ranges_are_validated(world: World, report: str, params: dict[str, str], status: int) -> None:
    t = world.tenant()
    response = world.client.get(f"{base(t)}/reports/{report}", params=params, headers=t.admin.headers)
    assert response.status_code == status, response.text
    if status == 422:
        assert response.headers["content-type"].startswith("application/problem+json")
    elif not params:
        body = response.json()
        assert (date.fromisoformat(body["end"]) - date.fromisoformat(body["start"])).days == 29


ZONES = ["UTC", "Asia/Tokyo", "America/New_York", "Europe/Berlin", "Pacific/Kiritimati"]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_usage_matches_a_reference_from_the_same_meetings(world: World, data: st.DataObject) -> None:
    """Random meetings (repeated across reports and inside one) in rooms of several zones,
    against meetings and hours per room and per room-local day counted here."""
    t = world.tenant()
    origin = (utcnow() - timedelta(days=6)).replace(second=0, microsecond=0)
    sent: dict[str, dict[datetime, int]] = {}
    zones: dict[str, str] = {}
    for _ in range(data.draw(st.integers(1, 3))):
        zone = data.draw(st.sampled_from(ZONES))
        room = world.room(t, time_zone=zone)
        zones[room["id"]] = zone
        device = enroll(world, t, room["id"])
        starts = data.draw(st.lists(st.integers(0, 5 * 24 * 60), max_size=12))
        meetings = {origin + timedelta(minutes=m): data.draw(st.integers(1, 180)) for m in starts}
        sent[room["id"]] = meetings
        batch = [_meeting(s, minutes) for s, minutes in meetings.items()]
        for chunk in (batch, batch[: len(batch) // 2], batch[::-1]):  # sent again: counted once
            expect(_send(world, device, chunk), 200)
    first = origin.date() - timedelta(days=1)
    last = first + timedelta(days=data.draw(st.integers(0, 8)))
    got = expect(_usage(world, t, first, last), 200)
    per_room: dict[str, list[float]] = {r: [0, 0.0] for r in zones}
    per_day: dict[str, list[float]] = {}
    for room_id, meetings in sent.items():
        for start, minutes in meetings.items():
            day = start.astimezone(ZoneInfo(zones[room_id])).date()
            if first <= day <= last:
                per_room[room_id][0] += 1
                per_room[room_id][1] += minutes * 60
                cell = per_day.setdefault(day.isoformat(), [0, 0.0])
                cell[0] += 1
                cell[1] += minutes * 60
    assert {r["room_id"]: (r["meetings"], r["hours"]) for r in got["rooms"]} == {
        r: (n, round(s / 3600, 2)) for r, (n, s) in per_room.items()
    }
    assert {d["day"]: (d["meetings"], d["hours"]) for d in got["days"] if d["meetings"]} == {
        d: (n, round(s / 3600, 2)) for d, (n, s) in per_day.items()
    }
    assert got["meetings"] == sum(n for n, _ in per_room.values())
