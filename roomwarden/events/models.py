from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base, IdMixin
from roomwarden.kit.time import utcnow


class EventRecord(IdMixin, Base):
    """One event of the outbox, written in the transaction of the change that caused it.

    ``tenant_id`` is where it happened (the customer, for a partner's link); ``room_id`` and
    ``link_id`` name the room and the partner link it is about, ``partner_tenant_id`` the
    partner it concerns (an invitation's, a link's). ``dispatched_at`` is set once the
    webhooks job has turned it into deliveries (each of which carries its own copy of what is
    sent). Room and link ids are kept as plain values: the event outlives a deleted room."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_undispatched", "dispatched_at", "id"),)

    # Keyed with its tenant, so the outbox can be distributed by tenant (docs/operations.md).
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    type: Mapped[str] = mapped_column(String(64))
    room_id: Mapped[uuid.UUID | None] = mapped_column()
    link_id: Mapped[uuid.UUID | None] = mapped_column()
    partner_tenant_id: Mapped[uuid.UUID | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column()
