from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
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

REQUEST_STATUSES = ("pending", "approved", "rejected", "cancelled", "expired", "failed")


class ApprovalRequest(TenantKeyMixin, Base):
    """A partner action held for the customer's decision. ``tenant_id`` is the customer: the
    request lives in the customer tenant, like everything inside a partner link.

    ``change`` is exactly what the partner asked for (path ids and body), ``snapshot`` the
    target's state it was made against, ``proposed`` the target's state had it been applied
    then (for the customer's before/after view)."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'cancelled', 'expired', 'failed')",
            name="status",
        ),
        CheckConstraint("tenant_id <> partner_tenant_id", name="distinct_tenants"),
        Index("ix_approval_requests_tenant_status", "tenant_id", "status", "id"),
        Index("ix_approval_requests_partner", "partner_tenant_id", "id"),
        Index("ix_approval_requests_link_status", "link_id", "status"),
        Index("ix_approval_requests_status_expiry", "status", "expires_at"),
        ForeignKeyConstraint(
            ["tenant_id", "link_id"], ["partner_links.tenant_id", "partner_links.id"], ondelete="CASCADE"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    link_id: Mapped[uuid.UUID] = mapped_column()
    partner_tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # Kept as plain ids, like ticket authors: the record outlives the user.
    requester_user_id: Mapped[uuid.UUID] = mapped_column()
    requester_upn: Mapped[str] = mapped_column(String(320))
    requester_name: Mapped[str] = mapped_column(String(200))
    requester_mfa: Mapped[bool] = mapped_column(default=False)
    event: Mapped[str] = mapped_column(String(30))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    action: Mapped[str] = mapped_column(String(30))
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[uuid.UUID | None] = mapped_column()
    target_name: Mapped[str] = mapped_column(String(400))
    room_id: Mapped[uuid.UUID | None] = mapped_column()
    change: Mapped[dict[str, Any]] = mapped_column(JSON)
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    proposed: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by_user_id: Mapped[uuid.UUID | None] = mapped_column()
    decided_by_tenant_id: Mapped[uuid.UUID | None] = mapped_column()
    decided_by_upn: Mapped[str | None] = mapped_column(String(320))
    result_id: Mapped[uuid.UUID | None] = mapped_column()
