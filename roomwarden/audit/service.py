"""Writing and verifying the audit log (SPEC §6).

``record`` is called by every service function that changes something, inside the same
transaction as the change. Refused attempts are recorded by the API's error handling in a
transaction of their own, since the attempt's transaction is rolled back.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.audit.models import AuditChainHead, AuditRecord
from roomwarden.kit.time import utcnow

GENESIS = "0" * 64
OPERATOR = "operator"


class Category(StrEnum):
    USER = "User"
    SECURITY_GROUP = "SecurityGroup"
    ASSIGNMENT = "Assignment"
    ROLE = "Role"
    PARTNER_INVITATION = "PartnerInvitation"
    PARTNER = "Partner"
    ROOM = "Room"
    ROOM_GROUP = "RoomGroup"
    UPDATE_RING = "UpdateRing"
    TICKET = "Ticket"
    SETTINGS = "Settings"
    APPROVAL_REQUEST = "ApprovalRequest"
    ENROLLMENT_KEY = "EnrollmentKey"
    TENANT = "Tenant"
    TENANT_MANAGER = "TenantManager"


class Operation(StrEnum):
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"
    READ = "Read"
    APPROVE = "Approve"
    REJECT = "Reject"


class Result(StrEnum):
    SUCCESSFUL = "Successful"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: a user of some tenant, or the service operator (no user)."""

    user_id: uuid.UUID | None
    tenant_id: uuid.UUID | None

    @property
    def user_ref(self) -> str:
        return str(self.user_id) if self.user_id else OPERATOR

    @property
    def tenant_ref(self) -> str | None:
        return str(self.tenant_id) if self.tenant_id else None


OPERATOR_ACTOR = Actor(None, None)


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def _hashed_fields(rec: AuditRecord) -> dict[str, Any]:
    return {
        "seq": rec.seq,
        "tenant_id": str(rec.tenant_id),
        "category": rec.category,
        "object_name": rec.object_name,
        "object_id": rec.object_id,
        "operation": rec.operation,
        "result_status": rec.result_status,
        "creation_time": rec.creation_time.isoformat(),
        "user_id": rec.user_id,
        "user_tenant_id": rec.user_tenant_id,
        "details": rec.details,
    }


def start_chain(session: Session, tenant_id: uuid.UUID) -> None:
    session.add(AuditChainHead(tenant_id=tenant_id, last_seq=0, last_hash=GENESIS))
    session.flush()


def record(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    actor: Actor,
    category: Category,
    operation: Operation,
    object_name: str,
    object_id: uuid.UUID | str | None = None,
    result: Result = Result.SUCCESSFUL,
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id).with_for_update()
    ).scalar_one()
    rec = AuditRecord(
        tenant_id=tenant_id,
        seq=head.last_seq + 1,
        category=str(category),
        object_name=object_name[:400],
        object_id=str(object_id) if object_id is not None else None,
        operation=str(operation),
        result_status=str(result),
        creation_time=utcnow(),
        user_id=actor.user_ref,
        user_tenant_id=actor.tenant_ref,
        details=_jsonable(details or {}),
        prev_hash=head.last_hash,
        hash="",
    )
    rec.hash = _digest(rec.prev_hash, _hashed_fields(rec))
    head.last_seq = rec.seq
    head.last_hash = rec.hash
    session.add(rec)
    session.flush()
    return rec


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    records_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(session: Session, tenant_id: uuid.UUID, batch: int = 1000) -> VerifyResult:
    """Walk the chain in order; report the first record that was altered, inserted or
    removed (a gap in ``seq``, a broken link or a wrong digest), and a truncated tail."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for rec in _iter_chain(session, tenant_id, batch):
        if rec.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, f"record {expected_seq} is missing")
        if rec.prev_hash != expected_prev:
            return VerifyResult(False, checked, rec.seq, "link to the previous record is broken")
        if _digest(rec.prev_hash, _hashed_fields(rec)) != rec.hash:
            return VerifyResult(False, checked, rec.seq, "record content was altered")
        expected_prev, expected_seq, checked = rec.hash, rec.seq + 1, checked + 1
    head = session.get(AuditChainHead, tenant_id)
    if head is not None and (head.last_seq != checked or head.last_hash != expected_prev):
        return VerifyResult(False, checked, checked + 1, "records at the end were removed")
    return VerifyResult(True, checked)


def _iter_chain(session: Session, tenant_id: uuid.UUID, batch: int) -> Iterator[AuditRecord]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.tenant_id == tenant_id, AuditRecord.seq > last)
            .order_by(AuditRecord.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
