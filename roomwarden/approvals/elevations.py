"""Activating an eligible partner assignment under change control (SPEC §4 "Just-in-time
elevation", §5): the event ``elevation.activate`` is ``manual`` unless the customer made it
``auto``. Held, the activation is an approval request like any other and the customer's
approval starts the clock, after checking again that the member may still activate it."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.access.mfa import require_second_factor
from roomwarden.approvals import actions, filing, policy
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.identity.models import User
from roomwarden.identity.principal import Principal
from roomwarden.kit.errors import Conflict, Forbidden
from roomwarden.kit.time import utcnow
from roomwarden.partners import elevation
from roomwarden.partners.models import Elevation, PartnerLink
from roomwarden.partners.schemas import ActivationCreate
from roomwarden.tenants.models import TenantSettings

ACTION = "elevation.activate"


def _pending(session: Session, user_id: uuid.UUID, assignment_id: uuid.UUID) -> ApprovalRequest | None:
    return session.scalar(
        select(ApprovalRequest).where(
            ApprovalRequest.action == ACTION,
            ApprovalRequest.requester_user_id == user_id,
            ApprovalRequest.target_id == assignment_id,
            ApprovalRequest.status == policy.PENDING,
            ApprovalRequest.expires_at > utcnow(),
        )
    )


def activate(
    session: Session,
    principal: Principal,
    tenant_id: uuid.UUID,
    assignment_id: uuid.UUID,
    data: ActivationCreate,
) -> Elevation | ApprovalRequest:
    """A member of an eligible assignment asks to hold its role for ``data.minutes``: started
    at once under ``auto``, held for the customer's approval under ``manual`` (202). One
    running or pending activation per member and assignment (409); the customer's rule on a
    second factor applies (403)."""
    link, role, assignment = elevation.eligible_target(
        session, principal, tenant_id, assignment_id, lock=True
    )
    require_second_factor(session, principal, tenant_id)
    elevation.check_minutes(link, data.minutes)
    now = utcnow()
    elevation.retire_ran_out(session, assignment.id, principal.user_id, now)
    if (current := elevation.running(session, assignment.id, principal.user_id)) is not None:
        raise Conflict(f"this assignment is already active for you until {current.ends_at.isoformat()}")
    if (waiting := _pending(session, principal.user_id, assignment.id)) is not None:
        raise Conflict(f"an activation of this assignment is already waiting for approval ({waiting.id})")
    if policy.mode(link.approval_policy, policy.ELEVATION_ACTIVATE) == "auto":
        return elevation.start(session, principal, link, role, assignment, data, now)
    return _hold(session, principal, link, assignment.id, data)


def _hold(
    session: Session,
    principal: Principal,
    link: PartnerLink,
    assignment_id: uuid.UUID,
    data: ActivationCreate,
) -> ApprovalRequest:
    before = actions.snapshot(session, link.tenant_id, "assignment", assignment_id)
    assert before is not None
    now = utcnow()
    req = ApprovalRequest(
        tenant_id=link.tenant_id,
        link_id=link.id,
        partner_tenant_id=link.partner_tenant_id,
        requester_user_id=principal.user_id,
        requester_upn=principal.upn,
        requester_name=principal.display_name,
        requester_mfa=principal.mfa,
        event=policy.ELEVATION_ACTIVATE,
        events=[policy.ELEVATION_ACTIVATE],
        action=ACTION,
        target_type="assignment",
        target_id=assignment_id,
        target_name=actions.NAMES["assignment"](before)[:400],
        room_id=None,
        change=actions.encode_change({"assignment_id": assignment_id}, data),
        snapshot=before,
        proposed={**before, "activation": {"user": principal.upn, **data.model_dump()}},
        status=policy.PENDING,
        created_at=now,
        expires_at=policy.expires_at(now, link.approval_expires_in_days),
    )
    return filing.file(session, req, principal.actor)


def apply(session: Session, req: ApprovalRequest, reviewer: Principal) -> Elevation:
    """The customer approves: the requester must still be an active user of the partner,
    the link live, the assignment still eligible and naming it, the minutes within the link's
    cap, and the customer's rule on a second factor met by the request's sign-in; then the
    clock starts now."""
    user = session.get(User, req.requester_user_id)
    if user is None or not user.is_active or user.tenant_id != req.partner_tenant_id:
        raise Forbidden("the requesting partner user is no longer active")
    principal = Principal(
        user.id, user.tenant_id, user.upn, user.display_name, user.is_global_admin, req.requester_mfa
    )
    assert req.target_id is not None
    link, role, assignment = elevation.eligible_target(
        session, principal, req.tenant_id, req.target_id, lock=True
    )
    if link.id != req.link_id:
        raise Forbidden("the partner link the request was made in has ended")
    require_mfa = session.scalar(
        select(TenantSettings.require_mfa_for_partners).where(TenantSettings.tenant_id == req.tenant_id)
    )
    if require_mfa and not principal.mfa:
        raise Forbidden("this customer now requires partner users to sign in with a second factor")
    _, data = actions.decode_change(actions.ACTIONS[ACTION], req.change)
    assert isinstance(data, ActivationCreate)
    elevation.check_minutes(link, data.minutes)
    return elevation.start(
        session, principal, link, role, assignment, data, utcnow(), approved_by=reviewer, request_id=req.id
    )
