"""A link's e-mail: both sides hear that a partner link ended, and who ended it; that it is
about to reach its end (30, 7 and 1 days before), and that it did."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.access.models import AssignmentMember, Role, RoleAssignment
from roomwarden.identity.models import SecurityGroupMember, User
from roomwarden.notifications.service import LINK, Reason, queue_mail
from roomwarden.partners.models import PartnerLink, TenantManager
from roomwarden.tenants.models import Tenant, TenantSettings

ENDED_BY = {"customer": "the customer", "partner": "the partner", "operator": "the service operator"}


def _admins(session: Session, tenant_id: uuid.UUID, *, managers: bool) -> list[str]:
    found = set(
        session.scalars(
            select(User.upn).where(User.tenant_id == tenant_id, User.is_active, User.is_global_admin)
        )
    )
    if managers:
        found |= set(
            session.scalars(
                select(User.upn)
                .join(TenantManager, TenantManager.user_id == User.id)
                .where(TenantManager.tenant_id == tenant_id, User.is_active)
            )
        )
    settings = session.get(TenantSettings, tenant_id)
    if settings is not None and settings.notification_email:
        found.add(settings.notification_email)
    return sorted(found)


def notify_offboarding(session: Session, link: PartnerLink, by: str) -> None:
    customer = session.get_one(Tenant, link.tenant_id)
    partner = session.get_one(Tenant, link.partner_tenant_id)
    who = ENDED_BY.get(by, by)
    when = f"{link.ended_at:%Y-%m-%d %H:%M} UTC" if link.ended_at else "now"
    queue_mail(
        session,
        customer.id,
        _admins(session, customer.id, managers=False),
        f"[{customer.name}] Partner removed: {partner.name}",
        f"{partner.name} no longer manages any of {customer.name}'s rooms: the partnership was ended by "
        f"{who} at {when}. Its partner roles were removed; your audit log keeps every record of its "
        f"activity.\n\nPartners: {LINK}\n",
        link=f"/t/{customer.id}/partners",
    )
    queue_mail(
        session,
        partner.id,
        _admins(session, partner.id, managers=True),
        f"[{partner.name}] Customer removed: {customer.name}",
        f"{partner.name} no longer manages {customer.name}'s rooms: the partnership was ended by {who} at "
        f"{when}. Nobody of {partner.name} can see or change anything at {customer.name} any more.\n\n"
        f"Customers: {LINK}\n",
        link="/partner/customers",
    )


# -- a link's end (SPEC §4 "Expiry and renewal") --------------------------------------------------


def primary_admin_addresses(session: Session, link: PartnerLink) -> list[str]:
    """The active users among the link's Primary admins, named directly or through a group."""
    assignments = (
        select(AssignmentMember.user_id, AssignmentMember.group_id)
        .join(RoleAssignment, RoleAssignment.id == AssignmentMember.assignment_id)
        .join(Role, Role.id == RoleAssignment.role_id)
        .where(Role.partner_link_id == link.id, Role.kind == "partner_builtin")
        .subquery()
    )
    direct = select(User.upn).join(assignments, assignments.c.user_id == User.id)
    via = (
        select(User.upn)
        .join(SecurityGroupMember, SecurityGroupMember.user_id == User.id)
        .join(assignments, assignments.c.group_id == SecurityGroupMember.group_id)
    )
    found = set(session.scalars(direct.where(User.is_active))) | set(
        session.scalars(via.where(User.is_active))
    )
    return sorted(found)


def _customer_addresses(session: Session, tenant_id: uuid.UUID) -> list[str]:
    """The customer's notification e-mail, or its Global admins when it has none."""
    settings = session.get(TenantSettings, tenant_id)
    if settings is not None and settings.notification_email:
        return [settings.notification_email]
    return _admins(session, tenant_id, managers=False)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def notify_expiring(session: Session, link: PartnerLink, days: int) -> None:
    """A reminder to both sides, sent only while the link is active and before its end."""
    assert link.expires_at is not None
    customer = session.get_one(Tenant, link.tenant_id)
    partner = session.get_one(Tenant, link.partner_tenant_id)
    when, span = _when(link.expires_at), "1 day" if days == 1 else f"{days} days"
    reason = Reason("partner_links", link.id, "active", link.expires_at)
    queue_mail(
        session,
        customer.id,
        _customer_addresses(session, customer.id),
        f"[{customer.name}] Partner access of {partner.name} ends in {span}",
        f"{partner.name}'s access to {customer.name}'s rooms ends at {when}. To keep it, move the end "
        f"of the partnership before then, or renew it within 30 days after.\n\nPartners: {LINK}\n",
        link=f"/t/{customer.id}/partners/{link.id}",
        reason=reason,
    )
    queue_mail(
        session,
        partner.id,
        primary_admin_addresses(session, link),
        f"[{partner.name}] Access to {customer.name} ends in {span}",
        f"{partner.name}'s access to {customer.name}'s rooms ends at {when}, unless {customer.name} "
        f"moves the end of the partnership.\n\nCustomers: {LINK}\n",
        link="/partner/customers",
        reason=reason,
    )


def notify_expired(session: Session, link: PartnerLink) -> None:
    assert link.expires_at is not None
    customer = session.get_one(Tenant, link.tenant_id)
    partner = session.get_one(Tenant, link.partner_tenant_id)
    when = _when(link.expires_at)
    queue_mail(
        session,
        customer.id,
        _customer_addresses(session, customer.id),
        f"[{customer.name}] Partner access of {partner.name} has ended",
        f"{partner.name}'s access to {customer.name}'s rooms ended at {when}. Its roles and Primary "
        f"admins are kept for 30 days: renew the partnership before then to restore them.\n\n"
        f"Partners: {LINK}\n",
        link=f"/t/{customer.id}/partners/{link.id}",
    )
    queue_mail(
        session,
        partner.id,
        primary_admin_addresses(session, link),
        f"[{partner.name}] Access to {customer.name} has ended",
        f"{partner.name}'s access to {customer.name}'s rooms ended at {when}. {customer.name} can "
        f"renew the partnership within 30 days.\n\nCustomers: {LINK}\n",
        link="/partner/customers",
    )
