from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base, TenantKeyMixin
from roomwarden.kit.time import utcnow


class OutgoingMail(TenantKeyMixin, Base):
    """An e-mail queued in the same transaction as the change it announces; delivered only
    after that transaction commits, retried with back-off until it is sent or given up.

    A mail may name the reason it was sent (``reason_table``/``reason_id`` in the state
    ``reason_status``, until ``reason_until``): when that reason has passed at send time, an
    invitation no longer pending for example, the mail is dropped rather than sent."""

    __tablename__ = "outgoing_mail"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'dropped')", name="status"),
        Index("ix_outgoing_mail_due", "status", "next_attempt_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    link: Mapped[str | None] = mapped_column(String(2000))
    reason_table: Mapped[str | None] = mapped_column(String(64))
    reason_id: Mapped[uuid.UUID | None] = mapped_column()
    reason_status: Mapped[str | None] = mapped_column(String(20))
    reason_until: Mapped[datetime | None] = mapped_column()
