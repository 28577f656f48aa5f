from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base, TenantKeyMixin
from roomwarden.kit.time import utcnow


class Device(TenantKeyMixin, Base):
    """The device of a room (at most one: enrolling again replaces it). Only the SHA-256 of
    its token is stored."""

    __tablename__ = "devices"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"], ondelete="CASCADE"),
        Index("uq_devices_room", "tenant_id", "room_id", unique=True),
        # a random token's hash: unique over all tenants by its randomness; found before the tenant
        Index("uq_devices_token_hash", "token_hash", "tenant_id", unique=True),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    room_id: Mapped[uuid.UUID] = mapped_column()
    serial_number: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))
    agent_version: Mapped[str] = mapped_column(String(50))
    token_hash: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_report_at: Mapped[datetime | None] = mapped_column()
    last_sequence: Mapped[int | None] = mapped_column(BigInteger)


class RoomSignal(Base):
    """A signal's state in a room, with ``since`` (its last change) and a suppression. Only
    changes are written: an unchanged report leaves these rows alone."""

    __tablename__ = "room_signals"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"], ondelete="CASCADE"),
        CheckConstraint("state IN ('ok', 'warning', 'failed')", name="state"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    room_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    signal: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default="ok")
    detail: Mapped[str] = mapped_column(String(500), default="")
    since: Mapped[datetime] = mapped_column(default=utcnow)
    suppressed_until: Mapped[datetime | None] = mapped_column()
    suppression_reason: Mapped[str | None] = mapped_column(Text)
    suppressed_by_user_id: Mapped[uuid.UUID | None] = mapped_column()
