"""The tenants a signed-in caller's transaction states (row-level security, SPEC §10): its
own tenant and the tenants it has a live link with, either way: for a partner, the customers
whose live links allow it; for a customer, its live partners, whose people and records its
decisions reach (an approval carried out for a partner user, a notice to a partner's admins).
A pending invitation counts for the invited partner: it reads the offer and its customer's
name. Not the other way: anyone may invite any tenant by its domain, so an invitation must
not open the invited tenant's rows to the inviter (creating one states the partner for that
transaction alone, to mail its reviewers).
``partner_links`` rows of the caller's tenant, on either side, are visible once it is
stated. Everything else the transaction reads or writes must belong to one of them,
whatever its queries forget."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import BindParameter, CompoundSelect, bindparam, select, union
from sqlalchemy.orm import Session

from roomwarden.kit.db import state_tenants, state_tenants_of, stated_tenants, states_tenants
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import PartnerInvitation, PartnerLink, live_link, pending_invitation
from roomwarden.tenants.models import EVERY_TENANT

_CALLER = "stated_caller"  # Session.info: the tenant whose caller has been stated


def state_caller(session: Session, tenant_id: uuid.UUID) -> None:
    """State the caller's tenant and those live-linked to it, once per session (two statements)."""
    if not states_tenants(session):
        return
    if session.info.get(_CALLER) == tenant_id and str(tenant_id) in stated_tenants(session):
        return
    state_linked(session, [tenant_id])
    session.info[_CALLER] = tenant_id


def state_linked(session: Session, tenant_ids: Collection[uuid.UUID] | None) -> None:
    """State ``tenant_ids`` and every tenant live-linked to one of them either way (what
    delivering a tenant's events to its partners' webhooks reads); ``None``: every tenant
    (a delivery round of the whole instance)."""
    if not states_tenants(session):
        return
    if tenant_ids is None:
        state_tenants_of(session, EVERY_TENANT)
        return
    state_tenants(session, tenant_ids)
    state_tenants_of(session, _LINKED, {"ids": list(tenant_ids), "now": utcnow()})


def _linked() -> CompoundSelect[Any]:
    ids: BindParameter[Any] = bindparam("ids", expanding=True)
    now: BindParameter[Any] = bindparam("now")
    customers = select(PartnerLink.tenant_id).where(PartnerLink.partner_tenant_id.in_(ids), live_link(now))
    partners = select(PartnerLink.partner_tenant_id).where(PartnerLink.tenant_id.in_(ids), live_link(now))
    inviters = select(PartnerInvitation.tenant_id).where(
        PartnerInvitation.partner_tenant_id.in_(ids), pending_invitation(now)
    )
    return union(customers, partners, inviters)


#: the tenants live-linked to ``ids`` either way, and those whose invitations to them are
#: pending, at ``now`` (built once: ``state_tenants_of``)
_LINKED = _linked()
