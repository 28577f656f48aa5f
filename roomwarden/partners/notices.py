"""Off-boarding e-mail: both sides hear that a partner link ended, and who ended it."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.identity.models import User
from roomwarden.notifications.service import LINK, queue_mail
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
