"""Mail about approval requests: the customer's reviewers when a change is held, the
requester when its request is decided; queued in the transaction, sent after commit."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from roomwarden.access.models import AssignmentMember, RoleAssignment, RolePermission, Scope
from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Grant, RoomSet
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.identity.models import SecurityGroupMember, User
from roomwarden.notifications.service import queue_mail
from roomwarden.rooms.service import room_allows
from roomwarden.tenants.models import Tenant, TenantSettings


def _reviewer_addresses(session: Session, req: ApprovalRequest) -> list[str]:
    """The customer's notification address, and the users of assignments with e-mail
    notifications whose role may review this request (``approvals.review`` over its room)."""
    rows = session.execute(
        select(RoleAssignment.id, Scope.id, Scope.all_rooms)
        .join(Scope, Scope.id == RoleAssignment.scope_id)
        .join(RolePermission, RolePermission.role_id == RoleAssignment.role_id)
        .where(
            RoleAssignment.tenant_id == req.tenant_id,
            RoleAssignment.email_notifications,
            RolePermission.permission == P.APPROVALS_REVIEW.value,
        )
    ).all()
    ids = [
        assignment_id
        for assignment_id, scope_id, all_rooms in rows
        if all_rooms
        or (
            req.room_id is not None
            and room_allows(
                session, RoomSet(req.tenant_id, Grant(scope_ids=frozenset({scope_id}))), req.room_id
            )
        )
    ]
    users = select(AssignmentMember.user_id).where(AssignmentMember.assignment_id.in_(ids))
    via_groups = (
        select(SecurityGroupMember.user_id)
        .join(AssignmentMember, AssignmentMember.group_id == SecurityGroupMember.group_id)
        .where(AssignmentMember.assignment_id.in_(ids))
    )
    upns = session.scalars(
        select(User.upn).where(
            User.tenant_id == req.tenant_id, User.is_active, or_(User.id.in_(users), User.id.in_(via_groups))
        )
    ).all()
    own = session.scalar(
        select(TenantSettings.notification_email).where(TenantSettings.tenant_id == req.tenant_id)
    )
    return sorted({*upns, *([own] if own else [])})


def _names(session: Session, req: ApprovalRequest) -> tuple[str, str]:
    rows = dict(
        session.execute(
            select(Tenant.id, Tenant.name).where(Tenant.id.in_([req.tenant_id, req.partner_tenant_id]))
        ).all()
    )
    return rows.get(req.tenant_id, ""), rows.get(req.partner_tenant_id, "")


def notify_reviewers(session: Session, req: ApprovalRequest) -> None:
    to = _reviewer_addresses(session, req)
    if not to:
        return
    customer, partner = _names(session, req)
    body = (
        f"{req.requester_name} ({req.requester_upn}) of {partner} asks to apply {req.action} "
        f"to {req.target_name} in {customer}.\n\nEvent: {req.event}\nRequest: {req.id}\n"
        f"Decide before: {req.expires_at.isoformat()}\n\n"
        "Review it on the Approvals page, or through "
        f"POST /api/v1/tenants/{req.tenant_id}/approval-requests/{req.id}/approve (or /reject)."
    )
    queue_mail(session, req.tenant_id, to, f"Approval needed: {req.action} on {req.target_name}", body)


def notify_requester(session: Session, req: ApprovalRequest) -> None:
    customer, _ = _names(session, req)
    reason = f"\nReason: {req.reason}" if req.reason else ""
    body = (
        f"Your request {req.id} to apply {req.action} to {req.target_name} in {customer} "
        f"is {req.status}.{reason}\n"
    )
    queue_mail(
        session,
        req.tenant_id,
        [req.requester_upn],
        f"Request {req.status}: {req.action} on {req.target_name}",
        body,
    )
