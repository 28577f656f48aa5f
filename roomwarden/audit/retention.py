"""Retention (SPEC §6: records are kept 180 days): purging the oldest records of a chain
without breaking it. The purged prefix is replaced by the head's signed ``base_seq`` and
``base_hash``, so verification starts after them and a prefix deleted by hand is still found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from roomwarden.audit.keys import AuditKeys, active
from roomwarden.audit.models import AuditChainHead, AuditRecord
from roomwarden.audit.service import (
    OPERATOR_ACTOR,
    Category,
    Operation,
    head_signature_ok,
    record,
    sign_head,
)
from roomwarden.audit.verify import verify_chain
from roomwarden.kit.errors import Invalid


@dataclass(frozen=True, slots=True)
class PurgeResult:
    tenant_id: uuid.UUID
    purged: int
    through_seq: int


def purge(
    session: Session,
    tenant_id: uuid.UUID,
    before: datetime,
    *,
    dry_run: bool = False,
    keys: AuditKeys | None = None,
) -> PurgeResult:
    """Delete ``tenant_id``'s records written before ``before`` (a prefix of the chain) and
    record the purge. A chain that does not verify is left alone: purging must never erase
    the evidence of tampering."""
    keys = keys or active()
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id).with_for_update()
    ).scalar_one_or_none()
    if head is None or head_signature_ok(head, keys) is not True:
        raise Invalid(f"tenant {tenant_id}: the chain head does not verify; nothing was purged")
    result = verify_chain(session, tenant_id, keys=keys)
    if not result.ok:
        raise Invalid(f"tenant {tenant_id}: the chain does not verify ({result.problem}); nothing was purged")
    first_kept = session.scalar(
        select(func.min(AuditRecord.seq)).where(
            AuditRecord.tenant_id == tenant_id, AuditRecord.creation_time >= before
        )
    )
    through = first_kept - 1 if first_kept is not None else head.last_seq
    if through <= head.base_seq:
        return PurgeResult(tenant_id, 0, head.base_seq)
    count = through - head.base_seq
    if dry_run:
        return PurgeResult(tenant_id, count, through)
    base_hash = session.scalar(
        select(AuditRecord.hash).where(AuditRecord.tenant_id == tenant_id, AuditRecord.seq == through)
    )
    session.execute(delete(AuditRecord).where(AuditRecord.tenant_id == tenant_id, AuditRecord.seq <= through))
    head.base_seq, head.base_hash = through, base_hash or head.base_hash
    sign_head(head, keys)
    session.flush()
    record(
        session,
        tenant_id=tenant_id,
        actor=OPERATOR_ACTOR,
        category=Category.AUDIT_LOG,
        operation=Operation.DELETE,
        object_name="retention purge",
        details={"purged": count, "through_seq": through, "before": before.isoformat()},
        keys=keys,
    )
    return PurgeResult(tenant_id, count, through)
