"""The tables the reports read: monitoring's open periods, the per-room per-local-day
roll-up kept from them, and the meetings devices report."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base
from roomwarden.kit.ids import new_id


class TicketPeriod(Base):
    """One stretch during which a monitoring ticket was open with one severity: it begins when
    the ticket opens or reopens (or its severity changes) and ends when the ticket is resolved
    (``resolved``) or its severity changes. ``opened_at`` is when the ticket's opening began
    (carried across severity changes); ``opened_day``/``ended_day`` are the room-local days of
    the opening and of the end, kept for the report's range filters."""

    __tablename__ = "ticket_periods"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(
            ["tenant_id", "ticket_id"], ["tickets.tenant_id", "tickets.id"], ondelete="CASCADE"
        ),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        Index("ix_ticket_periods_room", "tenant_id", "room_id", "started_at"),
        # Both cover their report queries (no row is read): openings per signal, and the
        # resolution times in a range.
        Index(
            "ix_ticket_periods_opened", "tenant_id", "opened_day", "opens", "signal", "ticket_id", "room_id"
        ),
        Index("ix_ticket_periods_ended", "tenant_id", "ended_day", "resolve_seconds", "room_id"),
        Index("ix_ticket_periods_ticket", "tenant_id", "ticket_id", "ended_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    room_id: Mapped[uuid.UUID] = mapped_column()
    ticket_id: Mapped[uuid.UUID] = mapped_column()
    signal: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(10))
    opened_at: Mapped[datetime] = mapped_column()
    #: The first period of an opening (the ticket opened or reopened here).
    opens: Mapped[bool] = mapped_column()
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    resolved: Mapped[bool] = mapped_column(default=False)
    #: From the opening to the resolution, on the period that resolved the ticket.
    resolve_seconds: Mapped[int | None] = mapped_column(Integer)
    opened_day: Mapped[date] = mapped_column()
    ended_day: Mapped[date | None] = mapped_column()


class RoomHealthDay(Base):
    """A room's room-local day that counts in the health report (its device reported, or
    monitoring had a ticket open in it), with the seconds between 05:00 and 21:00 local time
    during which at least one important monitoring ticket was open (the union of the resolved
    periods; still-open ones are added at read time)."""

    __tablename__ = "room_health_days"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"], ondelete="CASCADE"),
        CheckConstraint("unhealthy_seconds >= 0", name="seconds"),
        Index("ix_room_health_days_day", "tenant_id", "day", "room_id", "unhealthy_seconds"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    room_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    unhealthy_seconds: Mapped[int] = mapped_column(Integer, default=0)


class Meeting(Base):
    """A finished meeting a room's device reported, once per ``(device, started_at)``. The
    room-local day of its start and its length are kept as reported."""

    __tablename__ = "meetings"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"], ondelete="CASCADE"),
        CheckConstraint("ended_at > started_at", name="ends_after_start"),
        CheckConstraint("participants >= 0", name="participants"),
        Index("uq_meetings_device_started", "tenant_id", "device_id", "started_at", unique=True),
        Index("ix_meetings_day", "tenant_id", "day", "room_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    room_id: Mapped[uuid.UUID] = mapped_column()
    #: Not a foreign key: a replaced device's meetings stay the room's.
    device_id: Mapped[uuid.UUID] = mapped_column()
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime] = mapped_column()
    duration_seconds: Mapped[int] = mapped_column(Integer)
    participants: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column()
