"""Approvals: what change control holds for this tenant's review. Until approval requests
exist, the page says in words that nothing is waiting and shows, per partner, which kinds of
change the link's policy marks for manual review (the link's policy is the one the partner
pages edit)."""

from __future__ import annotations

from fastapi import Response
from sqlalchemy import select

from roomwarden.access.permissions import Permission as P
from roomwarden.partners.models import PartnerLink
from roomwarden.partners.schemas import EVENTS
from roomwarden.portal.deps import TenantCtx
from roomwarden.portal.web import portal_router
from roomwarden.tenants.models import Tenant

pages = portal_router()

EVENT_NAMES = {
    "room.update": "Changes to a room",
    "update_ring.change": "Moving a room to another update ring",
    "incident.create": "Opening an incident",
    "ticket.update": "Updating a ticket",
    "partner_role.change": "Changing the partner's own roles",
}


@pages.get("/t/{tenant_id}/approvals", name="portal.approvals")
def approvals_page(ctx: TenantCtx) -> Response:
    ctx.access.require_tenant_wide(P.APPROVALS_REVIEW, "approvals")
    rows = ctx.session.execute(
        select(Tenant.name, PartnerLink.approval_policy)
        .join(Tenant, Tenant.id == PartnerLink.partner_tenant_id)
        .where(PartnerLink.tenant_id == ctx.tenant_id, PartnerLink.status == "active")
        .order_by(Tenant.name)
    ).all()
    partners = [
        (name, [(EVENT_NAMES[e], (policy or {}).get(e, "auto")) for e in EVENTS]) for name, policy in rows
    ]
    return ctx.page("approvals.html", current="approvals", partners=partners)
