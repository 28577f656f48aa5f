"""The health report against a reference computed minute by minute from the same tickets
(tests/reports/helpers.py): the 05:00/21:00 edges, tickets spanning midnight, overlapping
tickets counted once, days that skip or repeat an hour, severity changes and reopened
tickets, and a ticket still open counted up to now."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomwarden.devices import monitoring
from roomwarden.kit.time import utcnow
from roomwarden.rooms.models import Room
from tests.factories import TenantH, World, expect
from tests.reports.helpers import Stretch, at, drive, reference
from tests.rooms.helpers import base


def _report(world: World, t: TenantH, start: date, end: date, **extra: Any) -> Any:
    params = {"start": start.isoformat(), "end": end.isoformat(), **extra}
    return expect(world.client.get(f"{base(t)}/reports/health", params=params, headers=t.admin.headers), 200)


def _check(got: dict[str, Any], ref: dict[str, Any]) -> None:
    rooms = {r["room_id"]: (r["monitored_days"], r["unhealthy_days"]) for r in got["rooms"]}
    assert rooms == ref["rooms"]
    days = {date.fromisoformat(d["day"]): (d["room_days"], d["healthy_room_days"]) for d in got["days"]}
    assert days == ref["days"]
    for d in got["days"]:
        n, ok = d["room_days"], d["healthy_room_days"]
        assert d["healthy_share"] == (round(ok / n, 4) if n else None)
    assert got["tickets_per_signal"] == dict(ref["tickets_per_signal"])
    assert got["resolved_tickets"] == ref["resolved"]
    assert got["median_time_to_resolve_seconds"] == ref["median"]
    assert got["room_days"] == sum(n for n, _ in ref["days"].values())


BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
# Days that skip (spring) or repeat (autumn) an hour.
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)
DAY = date(2026, 6, 10)

# (name, zone, [(signal, state, start, end)], day, unhealthy?, monitored days in [day-1, day+1])
CASES = [
    ("20 minutes is healthy", BERLIN, [("display", "failed", (DAY, 10, 0), (DAY, 10, 20))], False),
    ("21 minutes is unhealthy", BERLIN, [("display", "failed", (DAY, 10, 0), (DAY, 10, 21))], True),
    ("before 05:00 does not count", BERLIN, [("display", "failed", (DAY, 3, 0), (DAY, 5, 0))], False),
    ("after 21:00 does not count", BERLIN, [("display", "failed", (DAY, 21, 0), (DAY, 23, 59))], False),
    (
        "the edges count their inside",
        BERLIN,
        [
            ("display", "failed", (DAY, 4, 50), (DAY, 5, 11)),
            ("camera", "failed", (DAY, 20, 50), (DAY, 21, 30)),
        ],
        True,
    ),
    (
        "overlapping tickets count once",
        BERLIN,
        [
            ("display", "failed", (DAY, 10, 0), (DAY, 10, 15)),
            ("camera", "failed", (DAY, 10, 5), (DAY, 10, 20)),
        ],
        False,
    ),
    ("warnings do not count", BERLIN, [("calendar", "failed", (DAY, 8, 0), (DAY, 12, 0))], False),
    ("a warning state does not count", BERLIN, [("display", "warning", (DAY, 8, 0), (DAY, 12, 0))], False),
    (
        "over midnight into the next window",
        NEW_YORK,
        [("network", "failed", (DAY - timedelta(days=1), 20, 50), (DAY, 5, 30))],
        True,
    ),
    ("a day that skips an hour", BERLIN, [("display", "failed", (SPRING, 1, 0), (SPRING, 5, 21))], True),
    ("a day that repeats an hour", BERLIN, [("display", "failed", (AUTUMN, 20, 40), (AUTUMN, 21, 0))], False),
    (
        "a repeated hour at the window",
        NEW_YORK,
        [("display", "failed", (date(2026, 11, 1), 0, 30), (date(2026, 11, 1), 5, 25))],
        True,
    ),
]


@pytest.mark.parametrize(("name", "zone", "spans", "bad"), CASES, ids=[c[0] for c in CASES])
def test_table_of_days(world: World, name: str, zone: str, spans: list[Any], bad: bool) -> None:
    t = world.tenant()
    room = world.room(t, time_zone=zone)
    stretches = [
        Stretch(room["id"], signal, state, at(zone, s[0], s[1], s[2]), at(zone, e[0], e[1], e[2]))
        for signal, state, s, e in spans
    ]
    drive(world, stretches)
    day = stretches[-1].end.astimezone(ZoneInfo(zone)).date()
    got = _report(world, t, day - timedelta(days=2), day + timedelta(days=1))
    ref = reference(stretches, {room["id"]: zone}, day - timedelta(days=2), day + timedelta(days=1))
    _check(got, ref)
    unhealthy_on_day = next(d for d in got["days"] if d["day"] == day.isoformat())
    assert (unhealthy_on_day["room_days"] - unhealthy_on_day["healthy_room_days"] == 1) is bad, name


ZONES = [BERLIN, NEW_YORK, "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]


@st.composite
def stretches_for(draw: st.DrawFn, room_id: str, zone: str) -> list[Stretch]:
    """Stretches starting near the window's edges more often than not, mostly short."""
    out: list[Stretch] = []
    for signal in draw(st.lists(st.sampled_from(["display", "camera", "calendar"]), unique=True, max_size=3)):
        day = date(2026, 3, 27) + timedelta(days=draw(st.integers(0, 3)))
        minute = draw(st.one_of(st.integers(0, 1439), st.integers(270, 330), st.integers(1230, 1290)))
        t = at(zone, day, minute // 60, minute % 60)
        for _ in range(draw(st.integers(1, 4))):
            length = timedelta(minutes=draw(st.one_of(st.integers(1, 45), st.integers(1, 24 * 60))))
            state = draw(st.sampled_from(["failed", "failed", "warning"]))
            out.append(Stretch(room_id, signal, state, t, t + length))
            t = t + length + timedelta(minutes=draw(st.sampled_from([0, 0, 7, 600, 11 * 24 * 60])))
    # A stretch continuing its signal's previous one must change the state (else it is one).
    merged: list[Stretch] = []
    for s in out:
        prev = merged[-1] if merged else None
        if prev and prev.signal == s.signal and prev.end == s.start and prev.state == s.state:
            merged[-1] = Stretch(s.room_id, s.signal, s.state, prev.start, s.end)
        else:
            merged.append(s)
    return merged


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_figures_match_a_reference_from_the_same_tickets(world: World, data: st.DataObject) -> None:
    t = world.tenant()
    zones = {}
    stretches: list[Stretch] = []
    for _ in range(2):
        zone = data.draw(st.sampled_from(ZONES))
        room = world.room(t, time_zone=zone)
        zones[room["id"]] = zone
        stretches += data.draw(stretches_for(room["id"], zone))
    drive(world, stretches)
    start = data.draw(st.dates(date(2026, 3, 26), date(2026, 4, 1)))
    end = start + timedelta(days=data.draw(st.integers(0, 20)))
    _check(_report(world, t, start, end), reference(stretches, zones, start, end))


def test_a_ticket_still_open_counts_up_to_now(world: World) -> None:
    t = world.tenant()
    now = utcnow().replace(second=0, microsecond=0)
    # A zone where it is mid-day now, so that the last half hour is inside today's window.
    zone = next(
        z
        for z in ["UTC", "Asia/Tokyo", "America/Los_Angeles", "Asia/Kolkata", "Europe/Berlin"]
        if 6 <= now.astimezone(ZoneInfo(z)).hour < 20
    )
    room = world.room(t, time_zone=zone)
    with world.transaction() as session:
        room_row = session.get_one(Room, uuid.UUID(room["id"]))
        monitoring.signal_failed(session, room_row, "display", "failed", "", now - timedelta(minutes=45))
    today = now.astimezone(ZoneInfo(zone)).date()
    got = _report(world, t, today - timedelta(days=1), today)
    assert got["rooms"][0]["unhealthy_days"] == 1
    assert got["unhealthy_room_days"] == 1
    assert got["resolved_tickets"] == 0 and got["tickets_per_signal"] == {"display": 1}
    # Resolved now, the roll-up holds what the read counted.
    with world.transaction() as session:
        room_row = session.get_one(Room, uuid.UUID(room["id"]))
        monitoring.signal_cleared(session, room_row, "display", "ok again", utcnow())
    again = _report(world, t, today - timedelta(days=1), today)
    assert again["rooms"] == got["rooms"] and again["days"] == got["days"]
    assert again["resolved_tickets"] == 1 and again["median_time_to_resolve_seconds"] >= 45 * 60
