"""The health report over a range of room-local days (SPEC §12, docs/reports.md), read from
the roll-up (``rollup``) for the rooms in the caller's ``reports.view`` scope, with the
still-open important tickets counted up to now.

A day is unhealthy when important monitoring tickets were open more than 20 minutes between
05:00 and 21:00 room local time (the union of their periods: overlapping tickets count once).
Only monitored days count: a day on which the room's device reported or a monitoring ticket
was open; a room without a device has no room-days and does not move the healthy share."""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access, RoomSet
from roomwarden.kit.errors import Forbidden
from roomwarden.reports.days import (
    UNHEALTHY_AFTER_SECONDS,
    day_bounds,
    days_between,
    local_day,
    unhealthy,
    union_seconds,
    window,
    zone,
)
from roomwarden.reports.models import RoomHealthDay, TicketPeriod
from roomwarden.reports.rollup import IMPORTANT
from roomwarden.reports.schemas import DayHealth, HealthFigures, RoomHealthDays
from roomwarden.reports.span import Span
from roomwarden.rooms.models import Room

Cell = tuple[uuid.UUID, date]


@dataclass
class Figures:
    """The raw figures of one tenant's part, which a partner's report adds up."""

    span: Span
    rooms: list[RoomHealthDays] = field(default_factory=list)
    room_days: Counter[date] = field(default_factory=Counter)
    unhealthy_days: Counter[date] = field(default_factory=Counter)
    tickets_per_signal: Counter[str] = field(default_factory=Counter)
    resolved: int = 0
    median: float | None = None
    #: Each resolution's time, kept only where parts are added up (a partner's total).
    durations: list[int] = field(default_factory=list)

    def add(self, other: Figures) -> None:
        self.rooms.extend(other.rooms)
        self.room_days.update(other.room_days)
        self.unhealthy_days.update(other.unhealthy_days)
        self.tickets_per_signal.update(other.tickets_per_signal)
        self.durations.extend(other.durations)
        self.resolved = len(self.durations)
        self.median = statistics.median(self.durations) if self.durations else None

    def out(self) -> dict[str, Any]:
        days = []
        for day in days_between(self.span.start, self.span.end):
            n, bad = self.room_days[day], self.unhealthy_days[day]
            days.append(
                DayHealth(day=day, room_days=n, healthy_room_days=n - bad, healthy_share=_share(n, bad))
            )
        total, bad = sum(self.room_days.values()), sum(self.unhealthy_days.values())
        return HealthFigures(
            start=self.span.start,
            end=self.span.end,
            rooms=self.rooms,
            days=days,
            room_days=total,
            unhealthy_room_days=bad,
            healthy_share=_share(total, bad),
            tickets_per_signal=dict(sorted(self.tickets_per_signal.items())),
            resolved_tickets=self.resolved,
            median_time_to_resolve_seconds=self.median,
        ).model_dump()


def _share(n: int, bad: int) -> float | None:
    return round((n - bad) / n, 4) if n else None


def require(access: Access) -> None:
    if not access.has(P.REPORTS_VIEW):
        raise Forbidden("reports.view is required")


def figures(
    session: Session, access: Access, span: Span, now: datetime, *, durations: bool = False
) -> Figures:
    """The tenant's figures; ``durations`` keeps each resolution's time, for adding up."""
    require(access)
    scope = access.rooms(P.REPORTS_VIEW)
    tid = access.tenant_id
    rooms = session.execute(
        select(Room.id, Room.name, Room.time_zone)
        .where(Room.tenant_id == tid, scope.clause(Room.id))
        .order_by(Room.name, Room.id)
    ).all()
    bad = case((RoomHealthDay.unhealthy_seconds > UNHEALTHY_AFTER_SECONDS, 1), else_=0)
    in_range = (
        RoomHealthDay.tenant_id == tid,
        RoomHealthDay.day >= span.start,
        RoomHealthDay.day <= span.end,
        scope.clause(RoomHealthDay.room_id),
    )
    per_room = {
        r: [n, u]
        for r, n, u in session.execute(
            select(RoomHealthDay.room_id, func.count(), func.sum(bad))
            .where(*in_range)
            .group_by(RoomHealthDay.room_id)
        ).all()
    }
    out = Figures(span)
    for day, n, u in session.execute(
        select(RoomHealthDay.day, func.count(), func.sum(bad)).where(*in_range).group_by(RoomHealthDay.day)
    ).all():
        out.room_days[day], out.unhealthy_days[day] = n, u or 0
    zones = {r.id: r.time_zone for r in rooms}
    for (room_id, day), (before, after) in _live_cells(session, tid, scope, zones, span, now).items():
        counts = per_room.setdefault(room_id, [0, 0])
        if before is None:
            counts[0] += 1
            out.room_days[day] += 1
        change = int(unhealthy(after)) - int(before is not None and unhealthy(before))
        counts[1] += change
        out.unhealthy_days[day] += change
    for r in rooms:
        n, u = per_room.get(r.id, (0, 0))
        out.rooms.append(
            RoomHealthDays(room_id=r.id, room_name=r.name, monitored_days=n, unhealthy_days=u or 0)
        )
    _tickets(session, access, span, out, durations)
    return out


def _live_cells(
    session: Session,
    tid: uuid.UUID,
    scope: RoomSet,
    zones: dict[uuid.UUID, str],
    span: Span,
    now: datetime,
) -> dict[Cell, tuple[int | None, int]]:
    """The room-days in the range that a still-open important ticket touches: the stored
    seconds (None without a row) and the seconds counted up to now."""
    open_rows = session.execute(
        select(TicketPeriod.room_id, TicketPeriod.started_at).where(
            TicketPeriod.tenant_id == tid,
            TicketPeriod.ended_at.is_(None),
            TicketPeriod.severity == IMPORTANT,
            scope.clause(TicketPeriod.room_id),
        )
    ).all()
    open_by_room: dict[uuid.UUID, list[datetime]] = {}
    for room_id, started in open_rows:
        if room_id in zones and started <= now:
            open_by_room.setdefault(room_id, []).append(started)
    if not open_by_room:
        return {}
    spans: dict[uuid.UUID, list[date]] = {}
    for room_id, starts in open_by_room.items():
        tz = zone(zones[room_id])
        first, last = max(span.start, local_day(min(starts), tz)), min(span.end, local_day(now, tz))
        if first <= last:
            spans[room_id] = list(days_between(first, last))
    if not spans:
        return {}
    earliest = min(day_bounds(days[0], zone(zones[r]))[0] for r, days in spans.items())
    closed: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    for room_id, s, e in session.execute(
        select(TicketPeriod.room_id, TicketPeriod.started_at, TicketPeriod.ended_at).where(
            TicketPeriod.tenant_id == tid,
            TicketPeriod.room_id.in_(list(spans)),
            TicketPeriod.severity == IMPORTANT,
            TicketPeriod.ended_at.is_not(None),
            TicketPeriod.ended_at > earliest,
        )
    ).all():
        if e is not None:
            closed.setdefault(room_id, []).append((s, e))
    stored = {
        (r, d): s
        for r, d, s in session.execute(
            select(RoomHealthDay.room_id, RoomHealthDay.day, RoomHealthDay.unhealthy_seconds).where(
                RoomHealthDay.tenant_id == tid,
                RoomHealthDay.room_id.in_(list(spans)),
                RoomHealthDay.day >= span.start,
                RoomHealthDay.day <= span.end,
            )
        ).all()
    }
    cells: dict[Cell, tuple[int | None, int]] = {}
    for room_id, days in spans.items():
        tz = zone(zones[room_id])
        periods = closed.get(room_id, []) + [(s, now) for s in open_by_room[room_id]]
        for day in days:
            lo, hi = window(day, tz)
            if day_bounds(day, tz)[0] > now:
                continue
            cells[(room_id, day)] = (stored.get((room_id, day)), union_seconds(periods, lo, hi))
    return cells


def _tickets(session: Session, access: Access, span: Span, out: Figures, durations: bool) -> None:
    scope = access.rooms(P.REPORTS_VIEW)
    where = (TicketPeriod.tenant_id == access.tenant_id, scope.clause(TicketPeriod.room_id))
    for signal, n in session.execute(
        select(TicketPeriod.signal, func.count(func.distinct(TicketPeriod.ticket_id)))
        .where(
            *where,
            TicketPeriod.opened_day >= span.start,
            TicketPeriod.opened_day <= span.end,
            TicketPeriod.opens.is_(True),
        )
        .group_by(TicketPeriod.signal)
    ).all():
        out.tickets_per_signal[signal] = n
    resolved = (
        *where,
        TicketPeriod.resolve_seconds.is_not(None),
        TicketPeriod.ended_day >= span.start,
        TicketPeriod.ended_day <= span.end,
    )
    if durations:
        out.durations = [
            s for s in session.scalars(select(TicketPeriod.resolve_seconds).where(*resolved)) if s is not None
        ]
        out.resolved = len(out.durations)
        out.median = statistics.median(out.durations) if out.durations else None
        return
    # The median in the database: the middle one (or two) of the ordered times.
    out.resolved = session.scalar(select(func.count()).select_from(TicketPeriod).where(*resolved)) or 0
    if out.resolved:
        middle = session.scalars(
            select(TicketPeriod.resolve_seconds)
            .where(*resolved)
            .order_by(TicketPeriod.resolve_seconds)
            .offset((out.resolved - 1) // 2)
            .limit(2 - out.resolved % 2)
        ).all()
        out.median = statistics.mean(m or 0 for m in middle)
