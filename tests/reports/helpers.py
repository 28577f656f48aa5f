"""Monitoring driven at chosen instants (the service's own functions, as a device's reports
and the monitor call them), and a reference of the health figures computed minute by minute
from the same periods, independent of the roll-up."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from roomwarden.devices import monitoring
from roomwarden.devices.catalogue import SIGNALS
from roomwarden.rooms.models import Room
from tests.factories import World

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Stretch:
    """``signal`` in ``state`` from ``start`` to ``end``; a stretch that begins where the
    previous one of its signal ended continues the ticket (only its state changes)."""

    room_id: str
    signal: str
    state: str
    start: datetime
    end: datetime


def drive(world: World, stretches: list[Stretch]) -> None:
    """Fail and clear the signals in time order, each step in its own transaction."""
    steps: list[tuple[datetime, int, Stretch]] = []
    ends = {(s.room_id, s.signal, s.start) for s in stretches}
    for s in stretches:
        steps.append((s.start, 1, s))
        # A stretch followed at once by the next one of its signal is not cleared.
        continued = any((s.room_id, s.signal, s.end) == k for k in ends)
        if not continued:
            steps.append((s.end, 0, s))
    for at, kind, s in sorted(steps, key=lambda x: (x[0], x[1])):
        with world.transaction() as session:
            room = session.get_one(Room, uuid.UUID(s.room_id))
            if kind == 1:
                monitoring.signal_failed(session, room, s.signal, s.state, "", at)
            else:
                monitoring.signal_cleared(session, room, s.signal, "cleared", at)


def important(s: Stretch) -> bool:
    return s.state == "failed" and SIGNALS[s.signal].severity == "important"


def reference(
    stretches: list[Stretch], zones: dict[str, str], start: date, end: date, now: datetime | None = None
) -> dict[str, object]:
    """Per room (id → (monitored days, unhealthy days)), per day (room-days, healthy), tickets
    per signal and the median time to resolve, minute by minute. Times are whole minutes."""
    covered: dict[tuple[str, date], set[datetime]] = {}
    touched: set[tuple[str, date]] = set()
    for s in stretches:
        if not important(s):
            continue
        tz = ZoneInfo(zones[s.room_id])
        stop = min(s.end, now) if now else s.end
        m = s.start
        while m < stop:
            local = m.astimezone(tz)
            touched.add((s.room_id, local.date()))
            if time(5) <= local.time() < time(21):
                covered.setdefault((s.room_id, local.date()), set()).add(m)
            m += MINUTE
        touched.add((s.room_id, stop.astimezone(tz).date()))
    cells = {c for c in touched if start <= c[1] <= end}
    bad = {c for c in cells if len(covered.get(c, ())) > 20}
    rooms = {r: (sum(1 for c in cells if c[0] == r), sum(1 for c in bad if c[0] == r)) for r in zones}
    days = {}
    d = start
    while d <= end:
        n = sum(1 for c in cells if c[1] == d)
        days[d] = (n, n - sum(1 for c in bad if c[1] == d))
        d += timedelta(days=1)
    # Openings: a stretch not continuing the previous one of its signal opens (or reopens).
    per_signal: dict[str, set[tuple[str, int]]] = {}
    durations = []
    for room_id in zones:
        tz = ZoneInfo(zones[room_id])
        for signal in {s.signal for s in stretches if s.room_id == room_id}:
            mine = sorted(
                (s for s in stretches if s.room_id == room_id and s.signal == signal), key=lambda s: s.start
            )
            ticket, resolved_at, opened = -1, None, None
            for i, s in enumerate(mine):
                if i == 0 or mine[i - 1].end != s.start:
                    if resolved_at is None or s.start - resolved_at > timedelta(days=7):
                        ticket += 1
                    opened = s.start
                    if start <= s.start.astimezone(tz).date() <= end:
                        per_signal.setdefault(signal, set()).add((room_id, ticket))
                if i + 1 == len(mine) or mine[i + 1].start != s.end:
                    resolved_at = s.end
                    if opened is not None and start <= s.end.astimezone(tz).date() <= end:
                        durations.append((s.end - opened).total_seconds())
    return {
        "rooms": rooms,
        "days": days,
        "tickets_per_signal": Counter({k: len(v) for k, v in per_signal.items()}),
        "median": median(durations) if durations else None,
        "resolved": len(durations),
    }


def at(zone: str, day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(zone)).astimezone(UTC)
