"""Home (what waits for the user), a tenant's landing page and the Tenant control."""

from __future__ import annotations

import uuid

from fastapi import Request, Response

from roomwarden.access.deps import access_in
from roomwarden.kit.api import SessionDep
from roomwarden.kit.errors import NotFound
from roomwarden.portal import waiting
from roomwarden.portal.deps import TenantCtx
from roomwarden.portal.nav import BY_KEY, NavFacts, entry_href, first_surface, home_access
from roomwarden.portal.partner_side import PartnerCtx
from roomwarden.portal.web import parse_uuid, portal_router, public, redirect, session_of

pages = portal_router()


@pages.get("/", name="portal.home")
@public
def home(request: Request, session: SessionDep) -> Response:
    """Signed out: the sign-in page. Signed in: what waits for this user — in its own
    tenant, its pending invitations, and per customer it manages rooms for (SPEC §9)."""
    active = getattr(request.state, "web_session", None)
    if active is None:
        return redirect("/login")
    pctx = PartnerCtx(request=request, session=session, active=active)
    own = home_access(session, active)
    return pctx.page(
        "home_waiting.html",
        current="home",
        own=waiting.tenant_items(session, own),
        invitations=waiting.invitations_item(session, active.principal),
        customers=waiting.customer_items(session, active.principal),
    )


@pages.get("/t/{tenant_id}", name="portal.tenant_home")
def tenant_home(ctx: TenantCtx) -> Response:
    """The first surface the user may see in this tenant, or a page that says what it may do."""
    target = first_surface(ctx.request, ctx.session, ctx.active, ctx.access)
    if target is not None:
        return redirect(target)
    facts = NavFacts(ctx.session, ctx.active, ctx.access)
    return ctx.page("home.html", current=None, customers=facts.customers)


@pages.get("/switch-tenant", name="portal.switch_tenant")
def switch_tenant(request: Request, session: SessionDep, tenant: str = "", surface: str = "") -> Response:
    """The Tenant control's form (GET, so it works without JavaScript and changes nothing):
    the same surface in the chosen tenant when the user may see it there, else its landing."""
    active = session_of(request)
    tenant_id = parse_uuid(tenant)
    if tenant_id is None:
        raise NotFound("tenant not found")
    access = access_in(request, tenant_id, active.principal, session)
    entry = BY_KEY.get(surface)
    if entry is not None and entry.side == "tenant" and entry.visible(NavFacts(session, active, access)):
        href = entry_href(request, entry, access.tenant_id)
        if href:
            return redirect(href)
    return redirect(f"/t/{uuid.UUID(str(tenant_id))}")
