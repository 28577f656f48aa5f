"""Who sees which approval requests (SPEC §5): the customer's reviewers, by the rooms their
``approvals.review`` reaches, and the partner's requester and the link's Primary admins; and
the status a request reads as (a pending request past its expiry is expired, swept or not)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from roomwarden.access.mfa import lenient_customers, require_second_factor
from roomwarden.access.models import AssignmentMember, Role, RoleAssignment
from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.approvals import policy
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.identity.models import SecurityGroupMember
from roomwarden.identity.principal import Principal
from roomwarden.kit.errors import Forbidden, NotFound
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import PartnerLink

NOT_FOUND = "approval request not found"


def require_reviewer(access: Access) -> None:
    """Partners never see approvals (404); the customer's users need ``approvals.review``."""
    if access.is_partner:
        raise NotFound(NOT_FOUND)
    if not access.has(P.APPROVALS_REVIEW):
        raise Forbidden("approvals.review is required")


def reviewable(access: Access) -> ColumnElement[bool]:
    """A reviewer scoped to some rooms sees the requests on those rooms; requests that
    concern no room (ring settings, partner roles) need ``approvals.review`` over all rooms."""
    rooms = access.rooms(P.APPROVALS_REVIEW)
    if rooms.is_everything:
        return true()
    return and_(ApprovalRequest.room_id.is_not(None), rooms.clause(ApprovalRequest.room_id))


def status_is(status: str, now: datetime | None = None) -> ColumnElement[bool]:
    """A pending request past its expiry reads as expired, whether or not the sweep ran."""
    now = now or utcnow()
    if status == policy.PENDING:
        return and_(ApprovalRequest.status == policy.PENDING, ApprovalRequest.expires_at > now)
    if status == "expired":
        return or_(
            ApprovalRequest.status == "expired",
            and_(ApprovalRequest.status == policy.PENDING, ApprovalRequest.expires_at <= now),
        )
    return ApprovalRequest.status == status


def effective_status(req: ApprovalRequest, now: datetime | None = None) -> str:
    if req.status == policy.PENDING and policy.is_expired(req.expires_at, now or utcnow()):
        return "expired"
    return req.status


def customer_query(
    access: Access,
    *,
    status: str | None = None,
    event: str | None = None,
    partner_id: uuid.UUID | None = None,
    room_id: uuid.UUID | None = None,
) -> Any:
    require_reviewer(access)
    stmt = select(ApprovalRequest).where(ApprovalRequest.tenant_id == access.tenant_id, reviewable(access))
    if status:
        stmt = stmt.where(status_is(status))
    if event:
        stmt = stmt.where(ApprovalRequest.event == event)
    if partner_id:
        stmt = stmt.where(ApprovalRequest.partner_tenant_id == partner_id)
    if room_id:
        stmt = stmt.where(ApprovalRequest.room_id == room_id)
    return stmt


def customer_request(
    session: Session, access: Access, request_id: uuid.UUID, *, lock: bool = False
) -> ApprovalRequest:
    stmt = customer_query(access).where(ApprovalRequest.id == request_id)
    if lock:  # re-read under the lock, whatever this session loaded before
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    req = session.scalar(stmt)
    if req is None:
        raise NotFound(NOT_FOUND)
    return req


def _primary_admin_links(principal: Principal) -> Any:
    groups = select(SecurityGroupMember.group_id).where(SecurityGroupMember.user_id == principal.user_id)
    return (
        select(Role.partner_link_id)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .join(AssignmentMember, AssignmentMember.assignment_id == RoleAssignment.id)
        .where(
            Role.kind == "partner_builtin",
            or_(AssignmentMember.user_id == principal.user_id, AssignmentMember.group_id.in_(groups)),
        )
    )


def _partner_visible(principal: Principal) -> Any:
    """A partner user sees the requests it made, and a link's Primary admins every request
    made in that link while they hold the role."""
    return select(ApprovalRequest).where(
        ApprovalRequest.partner_tenant_id == principal.tenant_id,
        or_(
            ApprovalRequest.requester_user_id == principal.user_id,
            ApprovalRequest.link_id.in_(_primary_admin_links(principal)),
        ),
    )


def partner_query(
    session: Session,
    principal: Principal,
    *,
    customer_id: uuid.UUID | None = None,
    status: str | None = None,
    event: str | None = None,
) -> Any:
    """The requests a partner user sees, across customers or for one. A customer that
    requires a second factor the sign-in lacked (``partners.mfa``) is left out of the list
    across customers; naming it (``customer_id``) is refused as on its own paths, once it is a
    customer the caller's tenant is or was linked to (any other id lists nothing)."""
    stmt = _partner_visible(principal).where(lenient_customers(principal, ApprovalRequest.tenant_id))
    if customer_id:
        linked = select(PartnerLink.id).where(
            PartnerLink.tenant_id == customer_id, PartnerLink.partner_tenant_id == principal.tenant_id
        )
        if session.scalar(linked.limit(1)) is not None:
            require_second_factor(session, principal, customer_id)
        stmt = stmt.where(ApprovalRequest.tenant_id == customer_id)
    if status:
        stmt = stmt.where(status_is(status))
    if event:
        stmt = stmt.where(ApprovalRequest.event == event)
    return stmt


def partner_request(
    session: Session, principal: Principal, request_id: uuid.UUID, *, lock: bool = False
) -> ApprovalRequest:
    """One request the caller sees; refused (403) if its customer requires a second factor
    the sign-in lacked, before it is locked."""
    stmt = _partner_visible(principal).where(ApprovalRequest.id == request_id)
    customer_id = session.scalar(stmt.with_only_columns(ApprovalRequest.tenant_id))
    if customer_id is None:
        raise NotFound(NOT_FOUND)
    require_second_factor(session, principal, customer_id)
    if lock:
        stmt = stmt.with_for_update(of=ApprovalRequest).execution_options(populate_existing=True)
    req = session.scalar(stmt)
    if req is None:
        raise NotFound(NOT_FOUND)
    return req
