from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base, IdMixin
from roomwarden.kit.time import utcnow

LINK_STATUSES = ("active", "ended")


class PartnerLink(IdMixin, Base):
    """An established customer-partner relationship. ``tenant_id`` is the customer: the link
    and everything inside it belong to the customer tenant."""

    __tablename__ = "partner_links"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'ended')", name="status"),
        CheckConstraint("tenant_id <> partner_tenant_id", name="distinct_tenants"),
        Index(
            "uq_partner_links_active_pair",
            "tenant_id",
            "partner_tenant_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_partner_links_partner", "partner_tenant_id", "status"),
        CheckConstraint(
            "approval_expires_in_days >= 1 AND approval_expires_in_days <= 90", name="approval_expiry"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    partner_tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[Literal["active", "ended"]] = mapped_column(String(10), default="active")
    scope_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scopes.id"), unique=True)
    approval_policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: How long a held partner action waits for the customer's decision (SPEC §5).
    approval_expires_in_days: Mapped[int] = mapped_column(default=7, server_default="7")
    #: Counts the link's changes: its ETag (``kit.conditional``).
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


INVITATION_STATUSES = ("pending", "accepted", "denied", "revoked", "expired")


class PartnerInvitation(IdMixin, Base):
    """A customer's offer to a partner tenant. ``tenant_id`` is the customer. A pending
    invitation past ``expires_at`` is expired, whether or not a job has marked it yet."""

    __tablename__ = "partner_invitations"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted', 'denied', 'revoked', 'expired')", name="status"),
        CheckConstraint("tenant_id <> partner_tenant_id", name="distinct_tenants"),
        Index(
            "uq_partner_invitations_pending_pair",
            "tenant_id",
            "partner_tenant_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_partner_invitations_partner", "partner_tenant_id", "status"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    partner_tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[Literal["pending", "accepted", "denied", "revoked", "expired"]] = mapped_column(
        String(10), default="pending"
    )
    expires_at: Mapped[datetime] = mapped_column()
    approval_policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scope_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scopes.id"), unique=True)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by_user_id: Mapped[uuid.UUID | None] = mapped_column()
    link_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partner_links.id"))
    # The domain the customer addressed (the partner may own several).
    partner_domain: Mapped[str | None] = mapped_column(String(253))


class TenantManager(Base):
    """A partner-side user who may review invitations without managing rooms."""

    __tablename__ = "tenant_managers"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
