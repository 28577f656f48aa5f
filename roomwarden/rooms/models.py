from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    and_,
    case,
    false,
    select,
    text,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column

from roomwarden.kit.db import Base, TenantKeyMixin
from roomwarden.kit.natural import keep_sort_key, sort_key_column
from roomwarden.kit.time import utcnow
from roomwarden.rooms import health
from roomwarden.rooms.health import HEALTH_STATES

ENROLLMENT_STATES = ("enrolled", "unenrolled")
TICKET_STATUSES = ("open", "in_progress", "resolved", "closed")
OPEN_STATUSES = ("open", "in_progress")
TICKET_SEVERITIES = ("important", "warning")
TICKET_KINDS = ("incident", "service")
TICKET_SOURCES = ("customer", "monitoring")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


OPEN_MONITORING = "source = 'monitoring' AND " + _in("status", OPEN_STATUSES)


class UpdateRing(TenantKeyMixin, Base):
    __tablename__ = "update_rings"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        UniqueConstraint("tenant_id", "name"),
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint("deferral_days >= 0 AND deferral_days <= 60", name="deferral_days"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100))
    deferral_days: Mapped[int] = mapped_column(default=0)
    #: A paused ring offers nothing (from its rooms' next report on).
    paused: Mapped[bool] = mapped_column(default=False, server_default=false())
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Room(TenantKeyMixin, Base):
    __tablename__ = "rooms"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "resource_account"),
        ForeignKeyConstraint(["tenant_id", "update_ring_id"], ["update_rings.tenant_id", "update_rings.id"]),
        CheckConstraint(_in("enrollment_state", ENROLLMENT_STATES), name="enrollment_state"),
        CheckConstraint(_in("health_state", HEALTH_STATES), name="health_state"),
        Index("ix_rooms_tenant_country", "tenant_id", "country", "id"),
        Index("ix_rooms_tenant_ring", "tenant_id", "update_ring_id", "id"),
        Index("ix_rooms_tenant_health", "tenant_id", "health_state"),
        Index("ix_rooms_tenant_name_key", "tenant_id", "name_key", "id"),
        Index("ix_rooms_tenant_report", "tenant_id", "last_report_at", "health_state"),
        Index("ix_rooms_last_report_at", "last_report_at"),
        # a random key's hash, unique over all tenants by its randomness; found before the tenant
        Index("ix_rooms_enrollment_key_hash", "enrollment_key_hash", "tenant_id", unique=True),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200))
    #: the name's natural sort key (kit.natural), kept with the name
    name_key: Mapped[str] = sort_key_column("name")
    resource_account: Mapped[str] = mapped_column(String(320))
    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str] = mapped_column(String(100), default="")
    building: Mapped[str] = mapped_column(String(100), default="")
    update_ring_id: Mapped[uuid.UUID] = mapped_column()
    enrollment_state: Mapped[str] = mapped_column(String(12), default="enrolled")
    #: Health derived from the device's last report (devices keep it); ``health_state`` adds
    #: offline at read time (rooms.health).
    reported_health: Mapped[str] = mapped_column("health_state", String(12), default="unknown")
    #: When the room's device last reported; None without a device or before its first report.
    last_report_at: Mapped[datetime | None] = mapped_column()
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    enrollment_key_sealed: Mapped[str] = mapped_column(Text)
    #: SHA-256 of the enrollment key, so an enrolling device finds its room by the key alone.
    enrollment_key_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def health_state(self) -> str:
        return health.effective(self.reported_health, self.last_report_at)

    @property
    def is_offline(self) -> bool:
        return health.is_offline(self.last_report_at)


def health_state_column() -> ColumnElement[str]:
    """``Room.health_state`` in SQL, offline included: for filters and counts."""
    offline = and_(Room.last_report_at.is_not(None), Room.last_report_at < health.offline_cutoff())
    return case((offline, "unhealthy"), else_=Room.reported_health)


def health_state_is(state: str) -> ColumnElement[bool]:
    offline = and_(Room.last_report_at.is_not(None), Room.last_report_at < health.offline_cutoff())
    if state == "unhealthy":
        return (Room.reported_health == "unhealthy") | offline
    return and_(Room.reported_health == state, ~offline)


class RoomGroup(TenantKeyMixin, Base):
    __tablename__ = "room_groups"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        UniqueConstraint("tenant_id", "name"),
        UniqueConstraint("tenant_id", "id"),
        Index("ix_room_groups_tenant_name_key", "tenant_id", "name_key", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = sort_key_column("name")
    #: a rule-based group's rule (``rooms.rules``); null for a list of rooms
    rule: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoomGroupMember(Base):
    __tablename__ = "room_group_members"
    __table_args__ = (
        PrimaryKeyConstraint("group_id", "room_id", "tenant_id"),
        ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["room_groups.tenant_id", "room_groups.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"], ondelete="CASCADE"),
        Index("ix_room_group_members_room_id", "room_id", "group_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    room_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)

    # keyed (group_id, room_id, tenant_id) in the database, identified by the pair in the ORM
    __mapper_args__ = {"primary_key": [group_id, room_id]}


class Ticket(TenantKeyMixin, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"]),
        CheckConstraint(_in("status", TICKET_STATUSES), name="status"),
        CheckConstraint(_in("severity", TICKET_SEVERITIES), name="severity"),
        CheckConstraint(_in("kind", TICKET_KINDS), name="kind"),
        Index("ix_tickets_tenant_room", "tenant_id", "room_id", "id"),
        Index("ix_tickets_tenant_status", "tenant_id", "status", "id"),
        CheckConstraint(_in("source", TICKET_SOURCES), name="source"),
        # At most one open monitoring ticket per room and signal, whatever reports race.
        Index(
            "uq_tickets_open_monitoring",
            "tenant_id",
            "room_id",
            "signal",
            unique=True,
            postgresql_where=text(OPEN_MONITORING),
            sqlite_where=text(OPEN_MONITORING),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    room_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(10), default="incident")
    status: Mapped[str] = mapped_column(String(12), default="open")
    severity: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column()
    created_by_tenant_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: ``customer``: a person's incident; ``monitoring``: opened by the service for ``signal``.
    source: Mapped[str] = mapped_column(String(12), default="customer", server_default="customer")
    signal: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[datetime | None] = mapped_column()
    #: When monitoring last mailed about this ticket (a flapping signal mails at most hourly).
    notified_at: Mapped[datetime | None] = mapped_column()
    # Read with every ticket, so lists name the room without a second query.
    room_name: Mapped[str] = column_property(
        select(Room.name).where(Room.id == room_id).correlate_except(Room).scalar_subquery()
    )


class TicketUpdate(TenantKeyMixin, Base):
    """One entry of a ticket's history: a status change, a comment, or both."""

    __tablename__ = "ticket_updates"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        ForeignKeyConstraint(
            ["tenant_id", "ticket_id"], ["tickets.tenant_id", "tickets.id"], ondelete="CASCADE"
        ),
        Index("ix_ticket_updates_ticket", "ticket_id", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column()
    author_user_id: Mapped[uuid.UUID | None] = mapped_column()
    author_tenant_id: Mapped[uuid.UUID | None] = mapped_column()
    status_from: Mapped[str | None] = mapped_column(String(12))
    status_to: Mapped[str | None] = mapped_column(String(12))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


keep_sort_key(Room.name, "name_key")
keep_sort_key(RoomGroup.name, "name_key")
