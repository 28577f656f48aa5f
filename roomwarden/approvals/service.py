"""Approval requests: one function per transition of the request's state machine.

```
pending ──approve──▶ approved   (the change applied, in the same transaction)
   │ ──approve──▶ failed     (requester no longer allowed, target gone or changed; nothing applied)
   │ ──reject───▶ rejected   (customer, with a reason)
   │ ──cancel───▶ cancelled  (requester; off-boarding; the event's policy back to auto)
   └─(expires_at passes)─▶ expired   (at decision time, or by the sweep)
```

Every transition locks the request row first (``SELECT ... FOR UPDATE``; on SQLite the write
transaction holds the database's write lock from its start), re-reads it, and refuses a request
that is no longer pending (409): each request is decided once, whoever races for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from roomwarden.access.resolver import Access, resolve_access
from roomwarden.approvals import actions, elevations, filing, notices, partner_groups, policy, visibility
from roomwarden.approvals.faults import pause_at
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.audit.service import OPERATOR_ACTOR, Actor, Category, Operation, Result, record
from roomwarden.identity.models import User
from roomwarden.identity.principal import Principal
from roomwarden.kit.errors import AppError, Conflict, Forbidden, NotFound
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import PartnerLink
from roomwarden.tenants.models import TenantSettings


@dataclass(frozen=True, slots=True)
class ApprovedAccess(Access):
    """The requester's access, re-resolved at approval: the applied change is the partner
    user's, and its audit record names the request and the approver."""

    approval: dict[str, Any] = field(default_factory=dict)

    def audit(
        self,
        session: Session,
        category: Any,
        operation: Any,
        object_name: str,
        object_id: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
        *,
        permission: Any = None,
    ) -> None:
        details = {**(details or {}), "approval": self.approval}
        Access.audit(
            self, session, category, operation, object_name, object_id, details, permission=permission
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """A decision: the request as it now stands, and the refusal to answer with (409) when
    the decision ended it some other way than asked (failed, expired)."""

    request: ApprovalRequest
    problem: AppError | None = None


# -- holding ------------------------------------------------------------------------------------


def apply_or_hold(
    session: Session,
    access: Access,
    action_key: str,
    body: BaseModel | None = None,
    **params: uuid.UUID | None,
) -> Any:
    """The direct path of every action change control can hold. A customer user, or a partner
    whose link sets all of the change's events to ``auto``, gets the change applied; otherwise
    the change is validated and authorised exactly as if applied, then held (``ApprovalRequest``)."""
    action = actions.ACTIONS[action_key]
    clean = {k: v for k, v in params.items() if v is not None}
    if access.link is None:
        return action.run(session, access, clean, body)
    link = session.get_one(PartnerLink, access.link.id)
    events = action.events(body)
    held = policy.held_events(link.approval_policy, events)
    if not held:
        return action.run(session, access, clean, body)
    return hold(session, access, link, action, clean, body, events, held)


def hold(
    session: Session,
    access: Access,
    link: PartnerLink,
    action: actions.Action,
    params: actions.Params,
    body: BaseModel | None,
    events: list[str],
    held: list[str],
) -> ApprovalRequest:
    target_id = action.target(access, params, body)
    before = actions.snapshot(session, access.tenant_id, action.target_type, target_id)
    # The direct path, for real, inside a savepoint that is always rolled back: every check
    # and refusal (403/404/409/422, with their Failed audit records) is the direct path's own.
    savepoint = session.begin_nested()
    try:
        result = action.run(session, access, params, body)
        after = _after(session, access.tenant_id, action, target_id, result)
    finally:
        savepoint.rollback()
    now = utcnow()
    named = before if before is not None else after
    req = ApprovalRequest(
        tenant_id=access.tenant_id,
        link_id=link.id,
        partner_tenant_id=link.partner_tenant_id,
        requester_user_id=access.principal.user_id,
        requester_upn=access.principal.upn,
        requester_name=access.principal.display_name,
        requester_mfa=access.principal.mfa,
        event=held[0],
        events=events,
        action=action.key,
        target_type=action.target_type,
        target_id=target_id,
        target_name=actions.NAMES[action.target_type](named)[:400] if named else action.key,
        room_id=actions.room_of(action, target_id, before),
        change=actions.encode_change(params, body),
        snapshot=before,
        proposed=after,
        status=policy.PENDING,
        created_at=now,
        expires_at=policy.expires_at(now, link.approval_expires_in_days),
    )
    filing.file(session, req, access)
    sweep(session, now, tenant_id=access.tenant_id)
    return req


def _after(
    session: Session, tenant_id: uuid.UUID, action: actions.Action, target_id: uuid.UUID | None, result: Any
) -> actions.Snapshot | None:
    if action.result_type is not None:
        return actions.snapshot(session, tenant_id, action.result_type, getattr(result, "id", None))
    session.flush()
    return actions.snapshot(session, tenant_id, action.target_type, target_id)


# -- deciding -----------------------------------------------------------------------------------


def _require_pending(session: Session, req: ApprovalRequest, now: datetime) -> AppError | None:
    """Refuse a decided request (409); end an overdue one as expired and say so."""
    policy.check_transition(req.status, "approved")
    if policy.is_expired(req.expires_at, now):
        _expire(session, req, now)
        return Conflict(f"the request expired at {req.expires_at.isoformat()} without a decision")
    return None


def _finish(
    session: Session,
    req: ApprovalRequest,
    status: str,
    now: datetime,
    reason: str | None,
    by: Principal | None,
) -> None:
    policy.check_transition(req.status, status)
    req.status, req.decided_at, req.reason = status, now, reason
    filing.announce(session, req)
    if by is not None:
        req.decided_by_user_id, req.decided_by_tenant_id, req.decided_by_upn = (
            by.user_id,
            by.tenant_id,
            by.upn,
        )


def _record(
    session: Session,
    req: ApprovalRequest,
    actor: Actor,
    operation: Operation,
    result: Result = Result.SUCCESSFUL,
    **details: Any,
) -> None:
    record(
        session,
        tenant_id=req.tenant_id,
        actor=actor,
        category=Category.APPROVAL_REQUEST,
        operation=operation,
        object_name=filing.label(req),
        object_id=req.id,
        result=result,
        details={
            "event": req.event,
            "status": req.status,
            "requester": str(req.requester_user_id),
            **details,
        },
    )


def _expire(session: Session, req: ApprovalRequest, now: datetime) -> None:
    _finish(session, req, "expired", now, f"no decision before {req.expires_at.isoformat()}", None)
    session.flush()
    _record(session, req, OPERATOR_ACTOR, Operation.UPDATE, reason=req.reason)
    notices.notify_requester(session, req)


def approve(session: Session, access: Access, request_id: uuid.UUID) -> Outcome:
    """Re-check that the requester may still make the change and that its target is as the
    request saw it, then apply it with the direct path's own service code — all inside this
    transaction, under the request's lock. Otherwise the request ends ``failed`` with the
    reason and nothing is applied."""
    req = visibility.customer_request(session, access, request_id, lock=True)
    now = utcnow()
    if (expired := _require_pending(session, req, now)) is not None:
        return Outcome(req, expired)
    reviewer = access.principal
    try:
        with session.begin_nested():
            result = _apply(session, req, reviewer)
            pause_at("approval-applied")
    except AppError as exc:
        return _fail(session, req, now, reviewer, exc.detail)
    except IntegrityError:
        return _fail(session, req, now, reviewer, "the change conflicts with existing data")
    action = actions.ACTIONS[req.action]
    if action.result_type is not None:
        req.result_id = getattr(result, "id", None)
    _finish(session, req, "approved", now, None, reviewer)
    session.flush()
    _record(session, req, reviewer.actor, Operation.APPROVE)
    notices.notify_requester(session, req)
    return Outcome(req)


def _fail(session: Session, req: ApprovalRequest, now: datetime, reviewer: Principal, reason: str) -> Outcome:
    _finish(session, req, "failed", now, reason, reviewer)
    session.flush()
    _record(session, req, reviewer.actor, Operation.APPROVE, Result.FAILED, reason=reason)
    notices.notify_requester(session, req)
    return Outcome(req, Conflict(f"the request failed and nothing was applied: {reason}"))


def _apply(session: Session, req: ApprovalRequest, reviewer: Principal) -> Any:
    action = actions.ACTIONS[req.action]
    if action.target_type == partner_groups.TARGET:
        return _apply_partner_group(session, req, reviewer)
    if action.key == elevations.ACTION:
        return elevations.apply(session, req, reviewer)
    requester = requester_access(session, req, reviewer)
    current = actions.snapshot(session, req.tenant_id, action.target_type, req.target_id, lock=True)
    if req.target_id is not None and current is None:
        raise NotFound(f"the {action.target_type.replace('_', ' ')} no longer exists")
    if changed := policy.changed_fields(req.snapshot, current, action.compared_fields(req.snapshot)):
        raise Conflict(
            f"the {action.target_type.replace('_', ' ')} has changed since the request "
            f"({', '.join(changed)}); the partner must make the request again"
        )
    params, body = actions.decode_change(action, req.change)
    return action.run(session, requester, params, body)


def _apply_partner_group(session: Session, req: ApprovalRequest, reviewer: Principal) -> Any:
    """A partner's own group: its Global admin proposed the change in its directory, so the
    requester must still be one (``partner_groups.apply``), and the group as it was."""
    user = session.get(User, req.requester_user_id)
    if user is None or user.tenant_id != req.partner_tenant_id:
        raise Forbidden("the requesting partner user is no longer active")
    link = session.get(PartnerLink, req.link_id)
    if link is None or not link.live(utcnow()):
        raise Forbidden("the partner link the request was made in has ended")
    action = actions.ACTIONS[req.action]
    current = actions.snapshot(session, req.tenant_id, action.target_type, req.target_id, lock=True)
    if current is None:
        raise NotFound("the partner group no longer exists")
    if changed := policy.changed_fields(req.snapshot, current, action.compared_fields(req.snapshot)):
        raise Conflict(
            f"the partner group has changed since the request ({', '.join(changed)}); "
            "the partner must make the change again"
        )
    params, body = actions.decode_change(action, req.change)
    assert isinstance(body, actions.GroupMembers)
    approval = {
        "request_id": str(req.id),
        "approved_by": str(reviewer.user_id),
        "approved_by_upn": reviewer.upn,
    }
    return partner_groups.apply(session, user, approval, params["group_id"], body.member_ids)


def requester_access(session: Session, req: ApprovalRequest, reviewer: Principal) -> ApprovedAccess:
    """The requester's rights now: still an active user of the partner, the link still the
    active one, a role that allows the change (checked by the service itself), and the
    customer's MFA rule for the sign-in the request was made with."""
    user = session.get(User, req.requester_user_id)
    if user is None or not user.is_active or user.tenant_id != req.partner_tenant_id:
        raise Forbidden("the requesting partner user is no longer active")
    principal = Principal(
        user.id, user.tenant_id, user.upn, user.display_name, user.is_global_admin, req.requester_mfa
    )
    try:
        access = resolve_access(session, principal, req.tenant_id)
    except NotFound:
        raise Forbidden("the requesting partner user no longer holds a role in this customer") from None
    if access.link is None or access.link.id != req.link_id:
        raise Forbidden("the partner link the request was made in has ended")
    require_mfa = session.scalar(
        select(TenantSettings.require_mfa_for_partners).where(TenantSettings.tenant_id == req.tenant_id)
    )
    if require_mfa and not principal.mfa:
        raise Forbidden("this customer now requires partner users to sign in with a second factor")
    approval = {
        "request_id": str(req.id),
        "approved_by": str(reviewer.user_id),
        "approved_by_upn": reviewer.upn,
    }
    return ApprovedAccess(
        access.tenant_id,
        principal,
        access.grants,
        access.link,
        mfa_required=access.mfa_required,
        approval=approval,
    )


def reject(session: Session, access: Access, request_id: uuid.UUID, reason: str) -> Outcome:
    req = visibility.customer_request(session, access, request_id, lock=True)
    now = utcnow()
    if (expired := _require_pending(session, req, now)) is not None:
        return Outcome(req, expired)
    _finish(session, req, "rejected", now, reason, access.principal)
    session.flush()
    _record(session, req, access.actor, Operation.REJECT, reason=reason)
    notices.notify_requester(session, req)
    return Outcome(req)


def cancel(session: Session, principal: Principal, request_id: uuid.UUID, reason: str | None) -> Outcome:
    """The requester withdraws its request."""
    req = visibility.partner_request(session, principal, request_id, lock=True)
    if req.requester_user_id != principal.user_id:
        raise Forbidden("only the partner user who made the request can cancel it")
    now = utcnow()
    if (expired := _require_pending(session, req, now)) is not None:
        return Outcome(req, expired)
    _finish(session, req, "cancelled", now, reason or "cancelled by the requester", principal)
    session.flush()
    _record(session, req, principal.actor, Operation.UPDATE, reason=req.reason)
    return Outcome(req)


def end_pending(
    session: Session, link: PartnerLink, actor: Actor, reason: str, events: Iterable[str] | None = None
) -> int:
    """Cancel a link's pending requests (off-boarding; events whose policy went back to
    ``auto``): they are never applied later by surprise. Locks each request, so a decision
    racing this one either finished first or finds the request cancelled."""
    stmt = select(ApprovalRequest).where(
        ApprovalRequest.link_id == link.id, ApprovalRequest.status == policy.PENDING
    )
    pending: Sequence[ApprovalRequest] = session.scalars(
        stmt.order_by(ApprovalRequest.id).with_for_update().execution_options(populate_existing=True)
    ).all()
    wanted = set(events) if events is not None else None
    now = utcnow()
    ended = 0
    for req in pending:
        if req.status != policy.PENDING or (wanted is not None and not wanted & set(req.events)):
            continue
        _finish(session, req, "cancelled", now, reason, None)
        session.flush()
        _record(session, req, actor, Operation.UPDATE, reason=reason)
        notices.notify_requester(session, req)
        ended += 1
    return ended


def sweep(
    session: Session, now: datetime | None = None, *, tenant_id: uuid.UUID | None = None, limit: int = 500
) -> int:
    """Mark overdue pending requests expired (the CLI's ``approvals sweep``, and opportunistically
    whenever a request is held). Rows another transaction holds are left for the next sweep."""
    now = now or utcnow()
    stmt = select(ApprovalRequest).where(
        ApprovalRequest.status == policy.PENDING, ApprovalRequest.expires_at <= now
    )
    if tenant_id is not None:
        stmt = stmt.where(ApprovalRequest.tenant_id == tenant_id)
    overdue = session.scalars(
        stmt.order_by(ApprovalRequest.expires_at).limit(limit).with_for_update(skip_locked=True)
    ).all()
    for req in overdue:
        _expire(session, req, now)
    return len(overdue)
