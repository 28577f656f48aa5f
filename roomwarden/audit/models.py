from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base, IdMixin


class AuditRecord(IdMixin, Base):
    """One row of a tenant's audit log. Rows form a hash chain per tenant (``seq`` order):
    each row's ``hash`` covers its content and the previous row's hash."""

    __tablename__ = "audit_records"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq"),
        Index("ix_audit_records_tenant_time", "tenant_id", "creation_time", "seq"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()
    category: Mapped[str] = mapped_column(String(40))
    object_name: Mapped[str] = mapped_column(String(400))
    object_id: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(20))
    result_status: Mapped[str] = mapped_column(String(12))
    creation_time: Mapped[datetime] = mapped_column()
    user_id: Mapped[str | None] = mapped_column(String(64))
    user_tenant_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The tip of a tenant's chain. Appending locks this row, which orders concurrent
    writers of one tenant without blocking other tenants."""

    __tablename__ = "audit_chain_heads"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
