"""The health report's roll-up, kept in the transaction that changes a monitoring ticket.

Each opening of a monitoring ticket is a ``TicketPeriod`` (split where its severity changes).
When an important period ends, the room-local days it touched get their unhealthy seconds
recomputed from the room's resolved important periods on those days (the union: overlapping
tickets count once) and stored in ``room_health_days``; the rows are locked first, so two
transactions ending periods of one room's day queue and the second sees the first's period.
A still-open period is counted at read time, up to that moment (``health``).

A device's first report of a room-local day adds the day's row with no unhealthy time: the
day counts in the report because the room was monitored on it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from roomwarden.reports.days import day_bounds, days_touched, local_day, union_seconds, window, zone
from roomwarden.reports.models import RoomHealthDay, TicketPeriod
from roomwarden.rooms.models import OPEN_STATUSES, Room, Ticket

IMPORTANT = "important"


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(RoomHealthDay)


def ensure_days(session: Session, tenant_id: uuid.UUID, room_id: uuid.UUID, days: list[date]) -> None:
    """The rows of these days exist (added with no unhealthy time when missing)."""
    if not days:
        return
    session.execute(
        _insert(session)
        .values(
            [{"tenant_id": tenant_id, "room_id": room_id, "day": d, "unhealthy_seconds": 0} for d in days]
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "room_id", "day"])
    )


def room_zone(session: Session, tenant_id: uuid.UUID, room_id: uuid.UUID) -> ZoneInfo:
    name = session.scalar(select(Room.time_zone).where(Room.tenant_id == tenant_id, Room.id == room_id))
    return zone(name or "UTC")


def ticket_changed(session: Session, ticket: Ticket, at: datetime) -> None:
    """Bring the ticket's periods up to date with its status and severity at ``at``."""
    tz = room_zone(session, ticket.tenant_id, ticket.room_id)
    current = session.scalar(
        select(TicketPeriod).where(
            TicketPeriod.tenant_id == ticket.tenant_id,
            TicketPeriod.ticket_id == ticket.id,
            TicketPeriod.ended_at.is_(None),
        )
    )
    is_open = ticket.status in OPEN_STATUSES
    opened_at, opens = at, True
    if current is not None and (not is_open or current.severity != ticket.severity):
        opened_at, opens = current.opened_at, False
        current.ended_at = max(at, current.started_at)
        current.ended_day = local_day(current.ended_at, tz)
        current.resolved = not is_open
        if current.resolved:
            current.resolve_seconds = int((current.ended_at - current.opened_at).total_seconds())
        session.flush()
        if current.severity == IMPORTANT:
            recompute(session, ticket.tenant_id, ticket.room_id, tz, current.started_at, current.ended_at)
        current = None
    if is_open and current is None:
        session.add(
            TicketPeriod(
                tenant_id=ticket.tenant_id,
                room_id=ticket.room_id,
                ticket_id=ticket.id,
                signal=ticket.signal or "",
                severity=ticket.severity,
                opened_at=opened_at,
                opens=opens,
                started_at=at,
                opened_day=local_day(opened_at, tz),
            )
        )
        session.flush()


def recompute(
    session: Session, tenant_id: uuid.UUID, room_id: uuid.UUID, tz: ZoneInfo, start: datetime, end: datetime
) -> None:
    """Store the unhealthy seconds of every local day that ``[start, end]`` touches."""
    days = list(days_touched(start, end, tz))
    ensure_days(session, tenant_id, room_id, days)
    rows = session.scalars(
        select(RoomHealthDay)
        .where(
            RoomHealthDay.tenant_id == tenant_id,
            RoomHealthDay.room_id == room_id,
            RoomHealthDay.day.in_(days),
        )
        .order_by(RoomHealthDay.day)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    periods = resolved_periods(
        session, tenant_id, room_id, day_bounds(days[0], tz)[0], day_bounds(days[-1], tz)[1]
    )
    for row in rows:
        lo, hi = window(row.day, tz)
        row.unhealthy_seconds = union_seconds(periods, lo, hi)
    session.flush()


def resolved_periods(
    session: Session, tenant_id: uuid.UUID, room_id: uuid.UUID, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    """The room's ended important periods overlapping ``[lo, hi)``."""
    rows = session.execute(
        select(TicketPeriod.started_at, TicketPeriod.ended_at).where(
            TicketPeriod.tenant_id == tenant_id,
            TicketPeriod.room_id == room_id,
            TicketPeriod.severity == IMPORTANT,
            TicketPeriod.ended_at.is_not(None),
            and_(TicketPeriod.started_at < hi, TicketPeriod.ended_at > lo),
        )
    ).all()
    return [(s, e) for s, e in rows if e is not None]


def report_arrived(session: Session, room: Room, previous: datetime | None, now: datetime) -> None:
    """The device's first report of a room-local day marks the day monitored."""
    tz = zone(room.time_zone)
    today = local_day(now, tz)
    if previous is not None and local_day(previous, tz) == today:
        return
    ensure_days(session, room.tenant_id, room.id, [today])
