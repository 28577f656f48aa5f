"""The usage report (SPEC §12): meetings and hours per room and per room-local day over the
caller's ``reports.view`` rooms, read from the meetings devices reported (``meetings``). A
meeting counts on the local day it started."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.reports.days import days_between
from roomwarden.reports.health import require
from roomwarden.reports.models import Meeting
from roomwarden.reports.schemas import DayUsage, RoomUsage, UsageFigures
from roomwarden.reports.span import Span
from roomwarden.rooms.models import Room


def hours(seconds: int) -> float:
    return round(seconds / 3600, 2)


@dataclass
class Usage:
    span: Span
    rooms: list[tuple[uuid.UUID, str, int, int]] = field(default_factory=list)
    meetings: Counter[date] = field(default_factory=Counter)
    seconds: Counter[date] = field(default_factory=Counter)

    def add(self, other: Usage) -> None:
        self.rooms.extend(other.rooms)
        self.meetings.update(other.meetings)
        self.seconds.update(other.seconds)

    def out(self) -> dict[str, Any]:
        return UsageFigures(
            start=self.span.start,
            end=self.span.end,
            total_rooms=len(self.rooms),
            meetings=sum(self.meetings.values()),
            hours=hours(sum(self.seconds.values())),
            rooms=[
                RoomUsage(room_id=r, room_name=n, meetings=m, hours=hours(s)) for r, n, m, s in self.rooms
            ],
            days=[
                DayUsage(day=d, meetings=self.meetings[d], hours=hours(self.seconds[d]))
                for d in days_between(self.span.start, self.span.end)
            ],
        ).model_dump()


def usage(session: Session, access: Access, span: Span) -> Usage:
    require(access)
    scope = access.rooms(P.REPORTS_VIEW)
    tid = access.tenant_id
    rooms = session.execute(
        select(Room.id, Room.name)
        .where(Room.tenant_id == tid, scope.clause(Room.id))
        .order_by(Room.name, Room.id)
    ).all()
    where = (
        Meeting.tenant_id == tid,
        Meeting.day >= span.start,
        Meeting.day <= span.end,
        scope.clause(Meeting.room_id),
    )
    per_room = {
        r: (n, s or 0)
        for r, n, s in session.execute(
            select(Meeting.room_id, func.count(), func.sum(Meeting.duration_seconds))
            .where(*where)
            .group_by(Meeting.room_id)
        ).all()
    }
    out = Usage(span)
    for day, n, s in session.execute(
        select(Meeting.day, func.count(), func.sum(Meeting.duration_seconds))
        .where(*where)
        .group_by(Meeting.day)
    ).all():
        out.meetings[day], out.seconds[day] = n, s or 0
    for r in rooms:
        n, s = per_room.get(r.id, (0, 0))
        out.rooms.append((r.id, r.name, n, s))
    return out
