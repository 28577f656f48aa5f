"""Writing the audit log (SPEC §6).

``record`` is called by every service function that changes something, inside the same
transaction as the change. Refused attempts are recorded by the API's error handling in a
transaction of their own, since the attempt's transaction is rolled back
(``audit.refusals``). Verifying lives in ``audit.verify``; what the MACs cover, in
``audit.chain``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roomwarden.audit import chain
from roomwarden.audit.keys import AuditKeys, active
from roomwarden.audit.models import AuditChainHead, AuditRecord, canonical_json
from roomwarden.kit.time import utcnow
from roomwarden.tenants.models import Tenant

GENESIS = chain.GENESIS
OPERATOR = "operator"
SYSTEM = "system"
CHAIN_HEAD = "chain head"


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
    AUDIT_LOG = "AuditLog"
    IDENTITY_PROVIDER = "IdentityProvider"
    SIGN_IN = "SignIn"
    DEVICE = "Device"
    WEBHOOK = "Webhook"


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
    """Who acted: a user of some tenant (with its UPN and display name, kept readable in
    the record), the service operator (no user) or the service itself (``ref``)."""

    user_id: uuid.UUID | None
    tenant_id: uuid.UUID | None
    upn: str | None = None
    display_name: str | None = None
    ref: str | None = None

    @property
    def user_ref(self) -> str:
        return str(self.user_id) if self.user_id else (self.ref or OPERATOR)

    @property
    def tenant_ref(self) -> str | None:
        return str(self.tenant_id) if self.tenant_id else None


OPERATOR_ACTOR = Actor(None, None, display_name="Service operator")


class Auditor(Protocol):
    """Someone acting inside one tenant who records its own changes there: what a service below
    the access model (the directory, sign-in settings, accounts) needs of its caller. An
    ``access.resolver.Access`` is one, and its records name the role that allowed the change."""

    @property
    def tenant_id(self) -> uuid.UUID: ...

    @property
    def actor(self) -> Actor: ...

    def audit(
        self,
        session: Session,
        category: Category,
        operation: Operation,
        object_name: str,
        object_id: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
    ) -> None: ...


SYSTEM_ACTOR = Actor(None, None, display_name="Roomwarden", ref=SYSTEM)


def start_chain(session: Session, tenant_id: uuid.UUID, keys: AuditKeys | None = None) -> None:
    head = AuditChainHead(
        tenant_id=tenant_id, last_seq=0, last_hash=GENESIS, legacy_seq=0, base_seq=0, base_hash=GENESIS
    )
    sign_head(head, keys or active())
    session.add(head)
    session.flush()


def sign_head(head: AuditChainHead, keys: AuditKeys) -> None:
    head.key_id = keys.current_id
    head.signature = keys.mac(head.key_id, _head_message(head))


def head_signature_ok(head: AuditChainHead, keys: AuditKeys) -> bool | None:
    """True when the head's signature is valid, False when it is not, ``None`` when it was
    signed with a key that is not configured."""
    if head.signature is None or head.key_id is None:
        return False
    if keys.secret(head.key_id) is None:
        return None
    return keys.mac(head.key_id, _head_message(head)) == head.signature


def _head_message(head: AuditChainHead) -> bytes:
    return chain.head_message(
        str(head.tenant_id), head.last_seq, head.last_hash, head.legacy_seq, head.base_seq, head.base_hash
    )


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
    allowed_by: str | None = None,
    keys: AuditKeys | None = None,
) -> AuditRecord:
    """Append one record to ``tenant_id``'s chain (locking its head) and return it."""
    keys = keys or active()
    head = _locked_head(session, tenant_id, keys)
    rec = _append(
        session,
        head,
        keys,
        actor=actor,
        category=str(category),
        operation=str(operation),
        object_name=object_name,
        object_id=str(object_id) if object_id is not None else None,
        result=str(result),
        details=details or {},
        allowed_by=allowed_by,
    )
    session.flush()
    return rec


def lock_chain(session: Session, tenant_id: uuid.UUID) -> None:
    """Lock ``tenant_id``'s chain head until the transaction ends, as ``record`` does: what
    is read of the tenant's log afterwards cannot change before this transaction appends."""
    _locked_head(session, tenant_id, active())


def _append(
    session: Session,
    head: AuditChainHead,
    keys: AuditKeys,
    *,
    actor: Actor,
    category: str,
    operation: str,
    object_name: str,
    object_id: str | None,
    result: str,
    details: dict[str, Any],
    allowed_by: str | None,
) -> AuditRecord:
    rec = AuditRecord(
        tenant_id=head.tenant_id,
        seq=head.last_seq + 1,
        category=category,
        object_name=object_name[:400],
        object_id=object_id,
        operation=operation,
        result_status=result,
        creation_time=utcnow(),
        user_id=actor.user_ref,
        user_tenant_id=actor.tenant_ref,
        user_upn=_clip(actor.upn, 320),
        user_display_name=_clip(actor.display_name, 200),
        partner_tenant_name=_clip(_partner_name(session, head.tenant_id, actor), 200),
        allowed_by=_clip(allowed_by, 400),
        details=_jsonable(details),
        key_id=keys.current_id,
        prev_hash=head.last_hash,
        hash="",
    )
    rec.hash = chain.record_mac(keys, keys.current_id, rec.prev_hash, rec.seq, keyed_values(rec))
    head.last_seq, head.last_hash = rec.seq, rec.hash
    sign_head(head, keys)
    session.add(rec)
    return rec


def keyed_values(rec: AuditRecord) -> tuple[str | None, ...]:
    """A record's values in ``chain.KEYED_FIELDS`` order, as the MAC covers them."""
    return (
        str(rec.tenant_id),
        rec.category,
        rec.object_name,
        rec.object_id,
        rec.operation,
        rec.result_status,
        chain.time_text(rec.creation_time),
        rec.user_id,
        rec.user_tenant_id,
        rec.user_upn,
        rec.user_display_name,
        rec.partner_tenant_name,
        rec.allowed_by,
        canonical_json(rec.details),
        rec.key_id,
    )


def _locked_head(session: Session, tenant_id: uuid.UUID, keys: AuditKeys) -> AuditChainHead:
    """The tenant's chain head, locked. A head that is missing or whose signature does not
    hold (or was signed with a key that is not configured) was deleted, rewound or moved by
    someone without the key: it is rebuilt from the last stored record and an alarm record is
    appended first, under the key, so the evidence stays in the chain whatever is written
    after it. Appending never re-signs a head it could not check: that would launder a
    rewind."""
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id).with_for_update()
    ).scalar_one_or_none()
    if head is not None and head_signature_ok(head, keys) is True:
        return head
    problem = "the chain head was missing" if head is None else "the chain head's signature did not hold"
    found = {} if head is None else {"head_seq": head.last_seq, "head_hash": head.last_hash}
    last = session.execute(
        select(AuditRecord.seq, AuditRecord.hash)
        .where(AuditRecord.tenant_id == tenant_id)
        .order_by(AuditRecord.seq.desc())
        .limit(1)
    ).first()
    if head is None:
        head = AuditChainHead(tenant_id=tenant_id, legacy_seq=0, base_seq=0, base_hash=GENESIS)
        session.add(head)
    head.last_seq, head.last_hash = (last[0], last[1]) if last else (0, GENESIS)
    head.legacy_seq = min(head.legacy_seq or 0, head.last_seq)
    _append(
        session,
        head,
        keys,
        actor=SYSTEM_ACTOR,
        category=Category.AUDIT_LOG,
        operation=Operation.UPDATE,
        object_name=CHAIN_HEAD,
        object_id=None,
        result=Result.FAILED,
        details={"alarm": problem, "found": found, "stored_last_seq": head.last_seq},
        allowed_by=None,
    )
    session.flush()
    return head


def _partner_name(session: Session, tenant_id: uuid.UUID, actor: Actor) -> str | None:
    if actor.tenant_id is None or actor.tenant_id == tenant_id:
        return None
    return session.scalar(select(Tenant.name).where(Tenant.id == actor.tenant_id))


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None else None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def chain_length(session: Session, tenant_id: uuid.UUID) -> int:
    return session.scalar(select(func.count()).where(AuditRecord.tenant_id == tenant_id)) or 0


# Verification moved to ``audit.verify``; these names stay importable from here.
from roomwarden.audit.verify import VerifyResult, verify_chain  # noqa: E402, F401
