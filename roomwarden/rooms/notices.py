"""Ticket e-mail: a new incident or a ticket change is mailed to the tenant's
``notification_email`` and to the members of role assignments with ``email_notifications``
who can see the ticket's room (decided by the same resolver as every request, so a mail
never tells anyone about a room they could not open). Queued in the change's transaction."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from roomwarden.access.models import AssignmentMember, RoleAssignment
from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access, resolve_access
from roomwarden.identity.models import SecurityGroupMember, User
from roomwarden.identity.principal import Principal
from roomwarden.identity.tenancy import state_linked
from roomwarden.kit.errors import NotFound
from roomwarden.notifications.service import LINK, queue_mail
from roomwarden.rooms.models import Room, Ticket
from roomwarden.rooms.service import room_allows
from roomwarden.tenants.models import Tenant, TenantSettings


def _subscribers(session: Session, tenant_id: uuid.UUID) -> list[User]:
    """Active users who are members (directly or through a group) of an assignment with
    e-mail notifications in this tenant; partner users included."""
    assignments = select(RoleAssignment.id).where(
        RoleAssignment.tenant_id == tenant_id, RoleAssignment.email_notifications.is_(True)
    )
    direct = select(AssignmentMember.user_id).where(
        AssignmentMember.assignment_id.in_(assignments), AssignmentMember.user_id.is_not(None)
    )
    groups = select(AssignmentMember.group_id).where(
        AssignmentMember.assignment_id.in_(assignments), AssignmentMember.group_id.is_not(None)
    )
    via_group = select(SecurityGroupMember.user_id).where(SecurityGroupMember.group_id.in_(groups))
    return list(
        session.scalars(
            select(User)
            .where(User.is_active, or_(User.id.in_(direct), User.id.in_(via_group)))
            .order_by(User.id)
        )
    )


def _can_see(
    session: Session, user: User, tenant_id: uuid.UUID, room_id: uuid.UUID, mfa_required: bool
) -> bool:
    if mfa_required and user.tenant_id != tenant_id:
        return False  # no sign-in of theirs is known to have used a second factor
    principal = Principal(user.id, user.tenant_id, user.upn, user.display_name, user.is_global_admin)
    try:
        access: Access = resolve_access(session, principal, tenant_id)
    except NotFound:
        return False
    return room_allows(session, access.rooms(P.ROOMS_VIEW), room_id) and room_allows(
        session, access.rooms(P.TICKETS_VIEW), room_id
    )


def ticket_recipients(session: Session, tenant_id: uuid.UUID, room_id: uuid.UUID) -> list[str]:
    # subscribers include the users of the tenant's live partners, whoever's change (a device
    # report, another partner's user) this is: their rows are reached (row-level security)
    state_linked(session, [tenant_id])
    settings = session.get(TenantSettings, tenant_id)
    mfa_required = bool(settings and settings.require_mfa_for_partners)
    found = {
        u.upn
        for u in _subscribers(session, tenant_id)
        if _can_see(session, u, tenant_id, room_id, mfa_required)
    }
    if settings is not None and settings.notification_email:
        found.add(settings.notification_email)
    return sorted(found)


def notify_ticket(
    session: Session,
    access: Access,
    ticket: Ticket,
    event: Literal["created", "updated"],
    changes: dict[str, object] | None = None,
) -> None:
    recipients = ticket_recipients(session, ticket.tenant_id, ticket.room_id)
    if not recipients:
        return
    tenant = session.get_one(Tenant, ticket.tenant_id)
    room = session.get_one(Room, ticket.room_id)
    who = f"{access.principal.display_name} ({access.principal.upn})"
    lines = [f"Room: {room.name} ({room.city or room.country})", f"Status: {ticket.status}"]
    lines.append(f"Severity: {ticket.severity}")
    if event == "created":
        subject = f"[{tenant.name}] New incident: {ticket.title} ({room.name})"
        intro = f"{who} reported an incident in {tenant.name}."
        if ticket.description:
            lines.append("")
            lines.append(ticket.description)
    else:
        subject = f"[{tenant.name}] Ticket updated: {ticket.title} ({room.name})"
        intro = f"{who} updated a ticket in {tenant.name}."
        status = (changes or {}).get("status")
        if isinstance(status, dict):
            lines.append(f"Status changed from {status['from']} to {status['to']}")
        comment = (changes or {}).get("comment")
        if comment:
            lines.extend(["", f"Comment: {comment}"])
    link = f"/t/{ticket.tenant_id}/tickets/{ticket.id}"
    body = "\n".join([intro, "", f"Ticket: {ticket.title}", *lines, "", f"Open the ticket: {LINK}", ""])
    queue_mail(session, ticket.tenant_id, recipients, subject, body, link=link)
