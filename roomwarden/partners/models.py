from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

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
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    partner_tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default="active")
    scope_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scopes.id"), unique=True)
    approval_policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
