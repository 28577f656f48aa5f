from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base, IdMixin
from roomwarden.kit.time import utcnow

DELIVERY_STATUSES = ("pending", "succeeded", "failed", "skipped")


class WebhookEndpoint(IdMixin, Base):
    """A URL of a tenant that hears the events it subscribed to. The signing secret is kept
    sealed (``kit.crypto``); after a rotation the previous one also signs until
    ``previous_secret_until``. ``failing_since`` is the first failure since the last success:
    an endpoint failing for ``ROOMWARDEN_WEBHOOK_DISABLE_AFTER_SECONDS`` is disabled."""

    __tablename__ = "webhook_endpoints"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_sealed: Mapped[str] = mapped_column(Text)
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None] = mapped_column()
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    failing_since: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(IdMixin, Base):
    """One event for one endpoint: what is sent (``payload``, the body, fixed when the event
    became deliveries), its attempts, its last answer and when it is tried next.

    A partner's endpoint hears a customer's events: the delivery belongs to the endpoint's
    tenant and names the event's (``event_tenant_id``, ``room_id``) and the partner link it
    hears through (``link_id``, re-checked at every attempt) as plain values, so no row of
    one tenant refers to another's (the schema stays distributable by tenant). A pending
    delivery being sent holds a lease: its ``next_attempt_at`` moves past the send's time
    limit, so a process that dies mid-send leaves it due again."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'skipped')", name="status"),
        ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"],
            ["webhook_endpoints.tenant_id", "webhook_endpoints.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("tenant_id", "endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column()
    event_id: Mapped[uuid.UUID] = mapped_column()
    event_type: Mapped[str] = mapped_column(String(64))
    event_tenant_id: Mapped[uuid.UUID] = mapped_column()
    room_id: Mapped[uuid.UUID | None] = mapped_column()
    link_id: Mapped[uuid.UUID | None] = mapped_column()
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    response_status: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
