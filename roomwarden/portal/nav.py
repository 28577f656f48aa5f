"""The layout's moving parts: the navigation (exactly the surfaces the user may see), the
Tenant control (the home tenant and the customers the user may act in) and the user.

Each navigation entry names the route of its page and a rule over the same ``Access`` the
API uses. An entry whose route is not registered is left out, so a page appears in the
navigation the moment its route exists — and never before.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.routing import NoMatchFound

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access, linked_customers, resolve_access
from roomwarden.access.service import require_roles
from roomwarden.identity.models import User
from roomwarden.identity.sessions import ActiveSession
from roomwarden.kit.errors import AppError
from roomwarden.partners.invitations import is_reviewer
from roomwarden.portal import waiting
from roomwarden.portal.urls import path_for
from roomwarden.tenants.models import Tenant, TenantSettings


@dataclass
class NavFacts:
    """What the navigation rules look at, computed once per page and only when asked."""

    session: Session
    active: ActiveSession
    access: Access | None

    @cached_property
    def customers(self) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
        return linked_customers(self.session, self.active.principal)

    @cached_property
    def reviewer(self) -> bool:
        return is_reviewer(self.session, self.active.principal)

    def has(self, perm: P) -> bool:
        return self.access is not None and self.access.has(perm)

    @property
    def reviewer_of_approvals(self) -> bool:
        """The API's rule (``approvals.visibility.require_reviewer``): the tenant's own users
        with ``approvals.review`` over any rooms; a scoped reviewer sees its rooms' requests."""
        return self.access is not None and not self.access.is_partner and self.access.has(P.APPROVALS_REVIEW)

    def customer_wide(self, perm: P) -> bool:
        """A tenant-level surface of the tenant's own users (partners never see it)."""
        return self.access is not None and not self.access.is_partner and self.access.tenant_wide(perm)


def _roles_visible(facts: NavFacts) -> bool:
    if facts.access is None:
        return False
    try:
        require_roles(facts.access, P.ROLES_VIEW)
    except AppError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class NavEntry:
    key: str
    label: str
    route: str
    side: Literal["tenant", "partner"]
    visible: Callable[[NavFacts], bool]


#: In the order of SPEC §9. ``route`` is the page's route name without its ``portal.``
#: prefix; partner-side and some customer pages are added by their own modules under these
#: names.
ENTRIES: tuple[NavEntry, ...] = (
    NavEntry("rooms", "Rooms", "rooms", "tenant", lambda f: f.has(P.ROOMS_VIEW)),
    NavEntry("room_groups", "Room groups", "room_groups", "tenant", lambda f: f.has(P.GROUPS_VIEW)),
    NavEntry("update_rings", "Update rings", "update_rings", "tenant", lambda f: f.has(P.RINGS_VIEW)),
    NavEntry("tickets", "Tickets", "tickets", "tenant", lambda f: f.has(P.TICKETS_VIEW)),
    NavEntry("reports", "Reports", "reports", "tenant", lambda f: f.has(P.REPORTS_VIEW)),
    NavEntry("roles", "Roles", "roles", "tenant", _roles_visible),
    NavEntry("partners", "Partners", "partners", "tenant", lambda f: f.customer_wide(P.PARTNERS_MANAGE)),
    NavEntry("approvals", "Approvals", "approvals", "tenant", lambda f: f.reviewer_of_approvals),
    NavEntry("audit_log", "Audit log", "audit_log", "tenant", lambda f: f.customer_wide(P.AUDIT_EXPORT)),
    NavEntry("settings", "Settings", "settings", "tenant", lambda f: f.customer_wide(P.SETTINGS_VIEW)),
    NavEntry("invitations", "Invitations", "partner_invitations", "partner", lambda f: f.reviewer),
    NavEntry(
        "customers", "Customers", "partner_customers", "partner", lambda f: f.reviewer or bool(f.customers)
    ),
    NavEntry("all_tickets", "All tickets", "partner_tickets", "partner", lambda f: bool(f.customers)),
    NavEntry(
        "approval_requests",
        "Approval requests",
        "partner_approval_requests",
        "partner",
        lambda f: bool(f.customers),
    ),
    NavEntry("all_rooms", "All rooms", "partner_rooms", "partner", lambda f: bool(f.customers)),
    NavEntry("customer_health", "Customer health", "partner_health", "partner", lambda f: bool(f.customers)),
    NavEntry(
        "partner_reports",
        "Customer reports",
        "partner_reports_health",
        "partner",
        lambda f: bool(f.customers),
    ),
)
BY_KEY = {e.key: e for e in ENTRIES}


@dataclass(frozen=True, slots=True)
class NavLink:
    key: str
    label: str
    href: str
    current: bool


@dataclass(frozen=True, slots=True)
class TenantChoice:
    id: uuid.UUID
    label: str
    selected: bool
    home: bool = False


@dataclass
class Chrome:
    """Everything the layout draws around a page."""

    user_name: str
    user_upn: str
    tenant_id: uuid.UUID
    tenant_name: str
    tenants: list[TenantChoice]
    tenant_links: list[NavLink] = field(default_factory=list)
    partner_links: list[NavLink] = field(default_factory=list)
    current: str | None = None
    #: what waits, beside the navigation link of the same key: (subject, count), counts > 0
    counts: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: the zone the page's times are shown in: the person's own, else its tenant's default
    time_zone: str = "UTC"


def entry_href(request: Request, entry: NavEntry, tenant_id: uuid.UUID) -> str | None:
    try:
        if entry.side == "tenant":
            return path_for(request.app, f"portal.{entry.route}", tenant_id=str(tenant_id))
        return path_for(request.app, f"portal.{entry.route}")
    except NoMatchFound:
        return None


def visible_links(
    request: Request, facts: NavFacts, tenant_id: uuid.UUID, side: str, current: str | None
) -> list[NavLink]:
    links = []
    for entry in ENTRIES:
        if entry.side != side:
            continue
        href = entry_href(request, entry, tenant_id)
        if href is not None and entry.visible(facts):
            links.append(NavLink(entry.key, entry.label, href, entry.key == current))
    return links


def tenant_choices(facts: NavFacts, current: uuid.UUID) -> list[TenantChoice]:
    principal = facts.active.principal
    home = facts.session.get_one(Tenant, principal.tenant_id)
    choices = [TenantChoice(home.id, home.name, home.id == current, home=True)]
    choices += [TenantChoice(tid, name, tid == current) for _, tid, name in facts.customers]
    return choices


def chrome(
    request: Request, session: Session, active: ActiveSession, access: Access | None, current: str | None
) -> Chrome:
    principal = active.principal
    if access is None:
        access = home_access(session, active)
    facts = NavFacts(session, active, access)
    tenant_id = access.tenant_id
    tenants = tenant_choices(facts, tenant_id)
    tenant_name = next((t.label for t in tenants if t.selected), "")
    partner_links = visible_links(request, facts, tenant_id, "partner", current)
    items = waiting.tenant_items(session, access)
    if any(link.key == "invitations" for link in partner_links):
        invitations = waiting.invitations_item(session, principal)
        items += [invitations] if invitations is not None else []
    return Chrome(
        user_name=principal.display_name,
        user_upn=principal.upn,
        tenant_id=tenant_id,
        tenant_name=tenant_name,
        tenants=tenants,
        tenant_links=visible_links(request, facts, tenant_id, "tenant", current),
        partner_links=partner_links,
        current=current,
        counts={item.key: (item.subject, item.count) for item in items if item.count},
        time_zone=time_zone_of(session, principal.user_id, principal.tenant_id),
    )


def time_zone_of(session: Session, user_id: uuid.UUID, tenant_id: uuid.UUID) -> str:
    own = session.scalar(select(User.time_zone).where(User.id == user_id))
    if own:
        return own
    default = session.scalar(
        select(TenantSettings.default_time_zone).where(TenantSettings.tenant_id == tenant_id)
    )
    return default or "UTC"


def home_access(session: Session, active: ActiveSession) -> Access:
    principal = active.principal
    return resolve_access(session, principal, principal.tenant_id)


def first_surface(request: Request, session: Session, active: ActiveSession, access: Access) -> str | None:
    """Where a tenant's landing page sends the user: the first surface it may see there."""
    facts = NavFacts(session, active, access)
    links = visible_links(request, facts, access.tenant_id, "tenant", None)
    return links[0].href if links else None
