from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, PrimaryKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from roomwarden.kit.db import Base, TenantKeyMixin


def canonical_json(value: Any) -> str:
    """The one text form of a JSON value: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class CanonicalJSON(TypeDecorator[Any]):
    """JSON stored as its canonical text, so the bytes a record's MAC covers are the bytes
    in the database: verifying reads the text and never decodes it."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else canonical_json(value)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


class AuditRecord(TenantKeyMixin, Base):
    """One row of a tenant's audit log. Rows form a keyed hash chain per tenant (``seq``
    order): each row's ``hash`` is an HMAC, under the key named by ``key_id``, of its content
    and the previous row's hash. Rows with no ``key_id`` predate the keyed chain (see
    ``AuditChainHead.legacy_seq``)."""

    __tablename__ = "audit_records"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        UniqueConstraint("tenant_id", "seq"),
        Index("ix_audit_records_tenant_time", "tenant_id", "creation_time", "seq"),
        Index("ix_audit_records_tenant_user", "tenant_id", "user_id", "seq"),
        Index("ix_audit_records_tenant_user_tenant", "tenant_id", "user_tenant_id", "seq"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column()
    category: Mapped[str] = mapped_column(String(40))
    object_name: Mapped[str] = mapped_column(String(400))
    object_id: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(20))
    result_status: Mapped[str] = mapped_column(String(12))
    creation_time: Mapped[datetime] = mapped_column()
    user_id: Mapped[str | None] = mapped_column(String(64))
    user_tenant_id: Mapped[str | None] = mapped_column(String(64))
    # Readable names as they were when the record was written (part of the MAC).
    user_upn: Mapped[str | None] = mapped_column(String(320))
    user_display_name: Mapped[str | None] = mapped_column(String(200))
    partner_tenant_name: Mapped[str | None] = mapped_column(String(200))
    allowed_by: Mapped[str | None] = mapped_column(String(400))
    details: Mapped[dict[str, Any]] = mapped_column(CanonicalJSON(), default=dict)
    key_id: Mapped[str | None] = mapped_column(String(16))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The tip of a tenant's chain. Appending locks this row, which orders concurrent
    writers of one tenant without blocking other tenants. ``signature`` is an HMAC over the
    tenant, ``last_seq``, ``last_hash`` and ``legacy_seq``: without the key the head can be
    neither rewound nor moved. Records up to ``legacy_seq`` were written before the chain
    was keyed; their plain SHA-256 links are sealed by this signature and by the first keyed
    record's MAC, which covers the last legacy hash."""

    __tablename__ = "audit_chain_heads"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    legacy_seq: Mapped[int] = mapped_column(default=0)
    # The retained chain starts after ``base_seq`` (records purged after the retention
    # period); its first record links to ``base_hash``.
    base_seq: Mapped[int] = mapped_column(default=0)
    base_hash: Mapped[str] = mapped_column(String(64), default="0" * 64)
    key_id: Mapped[str | None] = mapped_column(String(16))
    signature: Mapped[str | None] = mapped_column(String(64))
