from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base, IdMixin
from roomwarden.kit.ids import new_id
from roomwarden.kit.time import utcnow

RESULT_STATUSES = ("installed", "failed")


class Release(IdMixin, Base):
    """A published version of a component. Not a tenant's: the operator's catalogue, read by
    every tenant. ``version_key`` is the version's dotted numbers as a fixed-width string
    (``software.versions.key``), so SQL orders versions as numbers and ``1.4`` and ``1.4.0``
    are one version to the unique constraint."""

    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("component", "version_key"),
        Index("ix_releases_published_at", "published_at"),
    )

    component: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    version_key: Mapped[str] = mapped_column(String(64))
    notes: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeviceSoftware(Base):
    """What a room's device runs of a component (its last report's ``software``), and the
    last install it reported for it. The rows go with the device: a replaced or ended device's
    software is not the room's any more (``software.delivery.forget``)."""

    __tablename__ = "device_software"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"], ondelete="CASCADE"),
        CheckConstraint(
            "result_status IS NULL OR result_status IN ('installed', 'failed')", name="result_status"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    room_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    component: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: The version the device runs; None when its last report did not name the component.
    version: Mapped[str | None] = mapped_column(String(50))
    #: ``software.versions.key`` of ``version``; None when it is not dotted numbers.
    version_key: Mapped[str | None] = mapped_column(String(64))
    result_version: Mapped[str | None] = mapped_column(String(50))
    result_status: Mapped[str | None] = mapped_column(String(10))
    result_detail: Mapped[str | None] = mapped_column(String(500))
    result_at: Mapped[datetime | None] = mapped_column()


class SoftwareResult(Base):
    """Every install attempt a device reported, in order (kept when the device is replaced)."""

    __tablename__ = "software_results"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"], ondelete="CASCADE"),
        CheckConstraint("status IN ('installed', 'failed')", name="status"),
        Index("ix_software_results_room", "tenant_id", "room_id", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    room_id: Mapped[uuid.UUID] = mapped_column()
    device_id: Mapped[uuid.UUID] = mapped_column()
    component: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(10))
    detail: Mapped[str] = mapped_column(String(500), default="")
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
