"""The portal's access matrix: every tenant page x every principal of the API matrices
(customer roles, scoped and custom roles, partner Primary admin, partner custom role, partner
users without a role, another partner, a partner after off-boarding) x {in scope, out of
scope, another tenant, another tenant's object under this tenant's path} → status.

A page states its rule once: either "as the API endpoint it shows" (the API matrices'
``Case`` of that endpoint, whose expectation is written from SPEC §2-3, never asked of the
implementation) or its own rule over ``Who``. A page can therefore not show what its API
refuses, and the same 404 answers a missing and an out-of-scope object. Signed-out browsers
are sent to /login (303). The navigation of each principal is checked against the same
rules, and the rooms table against the API's list.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from roomwarden.access.permissions import Permission
from roomwarden.identity import sessions
from roomwarden.identity.models import User
from tests.access.test_matrix import (  # noqa: F401 - the shared matrix fixture is used by name
    ADMIN_CASES,
    CASES,
    FOREIGN,
    IN,
    OTHER,
    OUT,
    TARGETS,
    WHO,
    Case,
    Matrix,
    Who,
    gated,
    group_visible,
    matrix,
    view_then,
)
from tests.approvals.helpers import ALL_MANUAL
from tests.devices.helpers import set_health
from tests.factories import expect
from tests.partners import test_partner_matrix as partner_matrix
from tests.partners.helpers import accept, invite, link
from tests.partners.test_partner_matrix import PARTNERS, Partners, PartnerWho, partners  # noqa: F401
from tests.portal.helpers import Browser
from tests.portal.test_home import _expected_from_the_api as home_oracle
from tests.portal.test_home import _waiting as home_figures

P = Permission
API = {c.name: c for c in (*CASES, *ADMIN_CASES)}
#: a change answered by the API with 201/204 is a page (200) in the portal
AS_PAGE = {201: 200, 204: 200}


@dataclass(frozen=True)
class Page:
    name: str
    path: Callable[[Matrix, str], str]
    #: the API case this page shows, or its own rule
    api: str | None = None
    rule: Callable[[Who, str], int] | None = None
    by_id: bool = False
    #: a partner's rule where it differs from ``rule``
    partner_rule: Callable[[Who, str], int] | None = None


def role_manager_page(w: Who, t: str) -> int:
    """A page of a customer role that changes it: roles.view over all rooms to see roles at
    all, then the object (absent: 404), then roles.modify over all rooms."""
    if not w.tenant_wide(P.ROLES_VIEW):
        return 403
    if t == FOREIGN:
        return 404
    return 200 if w.tenant_wide(P.ROLES_MODIFY) else 403


def partner_on_customer_role(w: Who, t: str) -> int:
    """The customer's own roles and assignments are invisible to a partner holding roles.view
    (its roles.* mean its link's roles); without roles.view the surface itself is refused."""
    return 404 if w.any(P.ROLES_VIEW) else 403


def room(m: Matrix, t: str) -> str:
    return m.rooms[t]


#: a pending approval request per target: on the "in" and "out" rooms of the tenant, and on
#: the other tenant's room (made by the ``held`` fixture, before any page is asked for)
HELD: dict[str, str] = {}
#: a webhook endpoint of each tenant (the ``webhooks`` fixture)
WEBHOOKS: dict[str, str] = {}
ZERO = str(uuid.UUID(int=0))


def approval_page(w: Who, t: str) -> int:
    """As the API's approval request: approvals.review over any rooms to see requests at all,
    then the request's room inside the reviewer's scope (else the same 404 as a missing one)."""
    if not w.any(P.APPROVALS_REVIEW):
        return 403
    return 200 if w.may(P.APPROVALS_REVIEW, t) else 404


def _partner_objects(m: Matrix) -> dict[str, str]:
    """A partner link and a pending invitation of the matrix tenant and of the other one,
    made on first use (a partner that none of the matrix's principals belongs to)."""
    objects: dict[str, str] | None = getattr(m, "portal_partner_objects", None)
    if objects is None:
        w = m.world
        linked, invited = w.tenant(), w.tenant()
        objects = {
            "link": link(w, m.tenant, linked, scope={"room_groups": [m.groups[IN]]})["id"],
            "other link": link(w, m.other, linked)["id"],
            "invitation": invite(w, m.tenant, invited)["id"],
            "other invitation": invite(w, m.other, invited)["id"],
        }
        m.portal_partner_objects = objects  # type: ignore[attr-defined]
    return objects


def partner_object(kind: str) -> Callable[[Matrix, str], str]:
    """The id of the target's partner link or invitation (another tenant's for OTHER and
    FOREIGN); a placeholder where the matrix is only read for its paths."""

    def of(m: Matrix, t: str) -> str:
        if not isinstance(m, Matrix):
            return str(uuid.UUID(int=0))
        return _partner_objects(m)[f"other {kind}" if t in (OTHER, FOREIGN) else kind]

    return of


partner_link, partner_invitation = partner_object("link"), partner_object("invitation")


def partners_gate(w: Who, t: str) -> int:
    """A partner link or invitation by id: partners.manage over all rooms, then the object."""
    return gated(w.tenant_wide(P.PARTNERS_MANAGE), t, 200)


PAGES = [
    Page("rooms", lambda m, t: "/rooms", api="GET rooms list"),
    Page("room", lambda m, t: f"/rooms/{room(m, t)}", api="GET room", by_id=True),
    Page(
        "room edit",
        lambda m, t: f"/rooms/{room(m, t)}/edit",
        rule=lambda w, t: view_then(
            w.may(P.ROOMS_VIEW, t),
            w.may(P.ROOMS_MODIFY, t) or (w.may(P.RINGS_MODIFY, t) and w.any(P.RINGS_VIEW)),
            200,
        ),
        by_id=True,
    ),
    Page(
        "room reset key", lambda m, t: f"/rooms/{room(m, t)}/reset-key", api="POST room reset-key", by_id=True
    ),
    Page("room unenrol", lambda m, t: f"/rooms/{room(m, t)}/unenroll", api="POST room unenroll", by_id=True),
    Page(
        "room suppress",
        lambda m, t: f"/rooms/{room(m, t)}/signals/display/suppress",
        rule=lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_MODIFY, t), 200),
        by_id=True,
    ),
    Page("room new", lambda m, t: "/rooms/new", rule=lambda w, t: 200 if w.any(P.ROOMS_CREATE) else 403),
    Page("room groups", lambda m, t: "/room-groups", api="GET room-groups list"),
    Page("room group", lambda m, t: f"/room-groups/{m.groups[t]}", api="GET room group", by_id=True),
    Page(
        "room group edit",
        lambda m, t: f"/room-groups/{m.groups[t]}/edit",
        rule=lambda w, t: view_then(group_visible(w, t), w.names_group(P.GROUPS_MODIFY, t), 200),
        by_id=True,
    ),
    Page(
        "room group delete",
        lambda m, t: f"/room-groups/{m.groups[t]}/delete",
        api="DELETE room group",
        by_id=True,
    ),
    Page("room group new", lambda m, t: "/room-groups/new", api="POST room group"),
    Page("update rings", lambda m, t: "/update-rings", api="GET update-rings list"),
    Page("update ring new", lambda m, t: "/update-rings/new", api="POST ring"),
    Page("update ring edit", lambda m, t: f"/update-rings/{m.ring[t]}/edit", api="PATCH ring", by_id=True),
    # the release catalogue is the service's, for everyone signed in (GET /api/v1/releases)
    Page("releases", lambda m, t: "/update-rings/releases", rule=lambda w, t: 200),
    Page("tickets", lambda m, t: "/tickets", api="GET tickets list"),
    Page("ticket", lambda m, t: f"/tickets/{m.tickets[t]}", api="GET ticket", by_id=True),
    Page(
        "incident new",
        lambda m, t: "/incidents/new",
        rule=lambda w, t: 200 if w.any(P.INCIDENTS_CREATE) else 403,
    ),
    Page("reports", lambda m, t: "/reports", api="GET health report"),
    Page("reports health", lambda m, t: "/reports/health", api="GET health report"),
    Page("reports health csv", lambda m, t: "/reports/health.csv", api="GET health report"),
    Page("reports usage", lambda m, t: "/reports/usage", api="GET usage report"),
    Page("reports usage csv", lambda m, t: "/reports/usage.csv", api="GET usage report"),
    Page("settings", lambda m, t: "/settings", api="GET settings"),
    Page("roles", lambda m, t: "/roles", api="GET roles"),
    Page("role", lambda m, t: f"/roles/{m.role_ids[t]}", api="GET role", by_id=True),
    Page("role new", lambda m, t: "/roles/new", api="POST role"),
    Page(
        "role edit",
        lambda m, t: f"/roles/{m.role_ids[t]}/edit",
        rule=role_manager_page,
        partner_rule=partner_on_customer_role,
        by_id=True,
    ),
    Page(
        "role delete",
        lambda m, t: f"/roles/{m.role_ids[t]}/delete",
        rule=role_manager_page,
        partner_rule=partner_on_customer_role,
        by_id=True,
    ),
    Page(
        "assignment new",
        lambda m, t: f"/roles/{m.role_ids[t]}/assignments/new",
        rule=role_manager_page,
        partner_rule=partner_on_customer_role,
        by_id=True,
    ),
    Page(
        "assignment",
        lambda m, t: f"/roles/{m.role_ids[t]}/assignments/{m.assignment[t]}",
        rule=role_manager_page,
        partner_rule=partner_on_customer_role,
        by_id=True,
    ),
    Page(
        "assignment delete",
        lambda m, t: f"/roles/{m.role_ids[t]}/assignments/{m.assignment[t]}/delete",
        rule=role_manager_page,
        partner_rule=partner_on_customer_role,
        by_id=True,
    ),
    Page("users", lambda m, t: "/users", api="GET users"),
    # the identity provider's settings are the directory's rule: Global admins, partners never
    Page("sign-in settings", lambda m, t: "/sign-in-settings", api="GET users"),
    Page("user new", lambda m, t: "/users/new", api="POST user"),
    Page("user", lambda m, t: f"/users/{m.bystander[t]}", api="GET user", by_id=True),
    Page("user delete", lambda m, t: f"/users/{m.bystander[t]}/delete", api="GET user", by_id=True),
    Page("security group new", lambda m, t: "/security-groups/new", api="POST security group"),
    Page("security groups", lambda m, t: "/security-groups", api="GET security groups"),
    Page(
        "security group",
        lambda m, t: f"/security-groups/{m.security_group[t]}",
        api="GET security group",
        by_id=True,
    ),
    Page(
        "security group delete",
        lambda m, t: f"/security-groups/{m.security_group[t]}/delete",
        api="GET security group",
        by_id=True,
    ),
    Page(
        "approvals",
        lambda m, t: "/approvals",
        rule=lambda w, t: 200 if w.any(P.APPROVALS_REVIEW) else 403,
    ),
    Page(
        "approval",
        lambda m, t: f"/approvals/{HELD.get(t, ZERO)}",
        rule=lambda w, t: approval_page(w, t),
        by_id=True,
    ),
    Page("partners", lambda m, t: "/partners", api="GET partners"),
    Page("partner new", lambda m, t: "/partners/new", api="GET partner invitations"),
    Page("partner", lambda m, t: f"/partners/{partner_link(m, t)}", rule=partners_gate, by_id=True),
    Page(
        "partner remove",
        lambda m, t: f"/partners/{partner_link(m, t)}/remove",
        rule=partners_gate,
        by_id=True,
    ),
    Page(
        "partner invitation revoke",
        lambda m, t: f"/partner-invitations/{partner_invitation(m, t)}/revoke",
        rule=partners_gate,
        by_id=True,
    ),
    Page("webhooks", lambda m, t: "/settings/webhooks", rule=lambda w, t: webhook_page(w, t)),
    Page(
        "webhook",
        lambda m, t: f"/settings/webhooks/{WEBHOOKS.get(t, ZERO)}",
        rule=lambda w, t: webhook_page(w, t),
        by_id=True,
    ),
    Page(
        "webhook delete",
        lambda m, t: f"/settings/webhooks/{WEBHOOKS.get(t, ZERO)}/delete",
        rule=lambda w, t: webhook_page(w, t),
        by_id=True,
    ),
    Page("audit log", lambda m, t: "/audit-log", api="GET audit log"),
    Page("audit log export", lambda m, t: "/audit-log/export", api="GET audit export"),
]
#: pages of tenant administration a partner never reaches (404, like the API's)
PARTNER_HIDDEN = {
    "settings",
    "sign-in settings",
    "users",
    "user new",
    "user",
    "user delete",
    "security groups",
    "security group new",
    "security group",
    "security group delete",
    "approvals",
    "approval",
    "partners",
    "partner new",
    "partner",
    "partner remove",
    "partner invitation revoke",
    "webhooks",
    "webhook",
    "webhook delete",
    "audit log",
    "audit log export",
}


def webhook_page(w: Who, t: str) -> int:
    """Webhooks: the Global admin's, or settings.modify over all rooms (the API's rule,
    tests/webhooks/test_matrix.py); another tenant's endpoint is absent."""
    if not (w.global_admin or w.tenant_wide(P.SETTINGS_MODIFY)):
        return 403
    return 404 if t == FOREIGN else 200


def customer_expected(who: Who, page: Page, target: str) -> int:
    if who.perms is None:
        return 303
    if target == OTHER:
        return 404
    status = API[page.api].expected(who, target) if page.api else page.rule(who, target)  # type: ignore[misc]
    return AS_PAGE.get(status, status)


def partner_expected(who: PartnerWho, page: Page, target: str) -> int:
    if target == OTHER or not who.linked or page.name in PARTNER_HIDDEN:
        return 404
    if page.partner_rule is not None:
        status = page.partner_rule(who, target)
    elif page.api is not None:
        status = partner_matrix.expected(who, API[page.api], target)
    else:
        status = page.rule(who, target)  # type: ignore[misc]
    return AS_PAGE.get(status, status)


# -- browsers ------------------------------------------------------------------------------------


class Browsers:
    """One signed-in browser per principal, opened once for the module."""

    def __init__(self, matrix: Matrix, app) -> None:  # type: ignore[no-untyped-def]
        self.matrix, self.app, self.open = matrix, app, {}

    def of(self, name: str, user_id: str | None) -> Browser:
        if name not in self.open:
            browser = Browser(self.app)
            if user_id:
                with self.matrix.world.transaction() as s:
                    user = s.get_one(User, uuid.UUID(user_id))
                    token = sessions.start_session(
                        s, self.matrix.world.settings, user, mfa=False, method="password"
                    )
                browser.client.cookies.set("roomwarden_session", token, domain="testserver.local")
            self.open[name] = browser
        return self.open[name]


@pytest.fixture(scope="module")
def held(matrix: Matrix) -> dict[str, str]:
    """Requests held by manual links of two more partners, one per customer tenant."""
    w = matrix.world
    for tenant, targets in ((matrix.tenant, (IN, OUT)), (matrix.other, (OTHER,))):
        p = w.tenant()
        expect(accept(w, p.admin, invite(w, tenant, p, approval_policy=ALL_MANUAL)["id"]), 201)
        for t in targets:
            r = w.client.patch(
                f"/api/v1/tenants/{tenant.id}/rooms/{matrix.rooms[t]}",
                json={"city": "Held"},
                headers=p.admin.headers,
            )
            HELD[t] = expect(r, 202)["id"]
    HELD[FOREIGN] = HELD[OTHER]
    return HELD


@pytest.fixture(scope="module")
def webhooks(matrix: Matrix) -> dict[str, str]:
    for tenant, targets in ((matrix.tenant, (IN, OUT)), (matrix.other, (OTHER,))):
        body = {"url": "https://hooks.invalid/matrix", "events": ["webhook.test"]}
        hook = expect(matrix.world.post(tenant, "/webhooks", body), 201)
        for t in targets:
            WEBHOOKS[t] = hook["id"]
    WEBHOOKS[FOREIGN] = WEBHOOKS[OTHER]
    return WEBHOOKS


@pytest.fixture(scope="module")
def browsers(matrix: Matrix, app, held, webhooks) -> Browsers:  # type: ignore[no-untyped-def]
    return Browsers(matrix, app)


def _targets(page: Page) -> tuple[str, ...]:
    return (*TARGETS, FOREIGN) if page.by_id else TARGETS


def _get(browsers: Browsers, name: str, user_id: str | None, tenant_id: str, path: str):  # type: ignore[no-untyped-def]
    return browsers.of(name, user_id).get(f"/t/{tenant_id}{path}")


def _check(response, want: int, label: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == want, f"{label}: {response.status_code} {response.text[-600:]}"
    if want == 303:
        assert response.headers["location"].startswith("/login?next=")
    elif want == 404:
        assert "There is nothing at this address that you can see." in response.text


@pytest.mark.parametrize(
    ("page", "who", "target"),
    [
        pytest.param(page, who, target, id=f"{page.name}-{who.name}-{target}")
        for page in PAGES
        for who in WHO
        for target in _targets(page)
    ],
)
def test_customer_page_matrix(matrix: Matrix, browsers: Browsers, page: Page, who: Who, target: str) -> None:
    user = matrix.users[who.name]
    response = _get(
        browsers, who.name, user.id or None, matrix.tenant_for(target).id, page.path(matrix, target)
    )
    _check(response, customer_expected(who, page, target), f"{page.name} as {who.name} on {target}")


@pytest.mark.parametrize(
    ("page", "who", "target"),
    [
        pytest.param(page, who, target, id=f"{page.name}-{who.name}-{target}")
        for page in PAGES
        for who in PARTNERS
        for target in _targets(page)
    ],
)
def test_partner_page_matrix(
    matrix: Matrix, partners: Partners, browsers: Browsers, page: Page, who: PartnerWho, target: str
) -> None:
    user = partners.users[who.name]
    response = _get(
        browsers, f"partner:{who.name}", user.id, matrix.tenant_for(target).id, page.path(matrix, target)
    )
    _check(response, partner_expected(who, page, target), f"{page.name} as {who.name} on {target}")


def test_every_tenant_page_is_in_the_matrix(app) -> None:  # type: ignore[no-untyped-def]
    """A new tenant page cannot escape the matrix: each GET route under /t/{tenant_id} is one
    of PAGES (or the tenant's landing page, which only redirects)."""
    m = _Ids()
    # ids, and a signal's name in a room's signal pages, are path parameters
    driven = {re.sub(r"[0-9a-f-]{36}|(?<=/signals/)[a-z_]+", "{}", p.path(m, IN)) for p in PAGES}  # type: ignore[arg-type]
    routes = set()
    for route in _routes(app):
        path = getattr(route, "path", "")
        if path.startswith("/t/{tenant_id}/") and "GET" in getattr(route, "methods", ()):
            routes.add(re.sub(r"\{[a-z_]+\}", "{}", path.removeprefix("/t/{tenant_id}")))
    assert routes <= driven | _partner_ui_pages(routes), sorted(routes - driven)


def _partner_ui_pages(routes: set[str]) -> set[str]:
    """Pages other modules add are covered by their own matrices."""
    return {r for r in routes if r.startswith("/access")}


def _routes(app):  # type: ignore[no-untyped-def]
    for route in app.router.routes:
        inner = getattr(route, "original_router", None) or getattr(route, "router", None)
        if inner is not None and hasattr(inner, "routes"):
            yield from inner.routes
        else:
            yield route


class _Ids:
    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return _Missing()


class _Missing(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return str(uuid.UUID(int=0))


# -- what a page shows ------------------------------------------------------------------------------


def _nav(text: str) -> list[str]:
    nav = text.split('<nav aria-label="Main"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav)


def _expected_nav(who: Who) -> set[str]:
    customer = not isinstance(who, PartnerWho)
    rules = {
        "Rooms": who.any(P.ROOMS_VIEW),
        "Room groups": who.any(P.GROUPS_VIEW),
        "Update rings": who.any(P.RINGS_VIEW),
        "Tickets": who.any(P.TICKETS_VIEW),
        "Reports": who.any(P.REPORTS_VIEW),
        # a partner's roles.* reach its link's roles when held over the whole link
        "Roles": who.tenant_wide(P.ROLES_VIEW) if customer else who.name == "primary_admin",
        "Partners": customer and who.tenant_wide(P.PARTNERS_MANAGE),
        # the API's rule: approvals.review over any rooms (a scoped reviewer sees its rooms')
        "Approvals": customer and who.any(P.APPROVALS_REVIEW),
        "Audit log": customer and who.tenant_wide(P.AUDIT_EXPORT),
        "Settings": customer and who.tenant_wide(P.SETTINGS_VIEW),
    }
    return {label for label, shown in rules.items() if shown}


@pytest.mark.parametrize("who", [w for w in WHO if w.perms is not None] + PARTNERS[:2], ids=lambda w: w.name)
def test_navigation_shows_exactly_the_surfaces_allowed(
    matrix: Matrix, partners: Partners, browsers: Browsers, who: Who
) -> None:
    if isinstance(who, PartnerWho):
        name, user = f"partner:{who.name}", partners.users[who.name]
    else:
        name, user = who.name, matrix.users[who.name]
    text = browsers.of(name, user.id).get(f"/t/{matrix.tenant.id}/tickets").text
    tenant_side = {
        "Rooms",
        "Room groups",
        "Update rings",
        "Tickets",
        "Reports",
        "Roles",
        "Partners",
        "Approvals",
        "Audit log",
        "Settings",
    }
    assert set(_nav(text)) & tenant_side == _expected_nav(who)


@pytest.mark.parametrize("who", [w for w in WHO if w.perms is not None] + PARTNERS[:2], ids=lambda w: w.name)
def test_the_rooms_table_is_the_api_list(
    matrix: Matrix, partners: Partners, browsers: Browsers, who: Who
) -> None:
    if isinstance(who, PartnerWho):
        name, user = f"partner:{who.name}", partners.users[who.name]
    else:
        name, user = who.name, matrix.users[who.name]
    api = matrix.world.client.get(f"/api/v1/tenants/{matrix.tenant.id}/rooms", headers=user.headers).json()
    page = browsers.of(name, user.id).get(f"/t/{matrix.tenant.id}/rooms")
    shown = re.findall(r'<td><a href="/t/[^/]+/rooms/([0-9a-f-]{36})">', page.text)
    assert sorted(shown) == sorted(r["id"] for r in api["items"])


# -- the partner side (/partner/...) -------------------------------------------------------------
#
# Pages of the user's own tenant as a partner, each stating its rule over who the user is in
# it: a reviewer of invitations (Global admin, Pro manager, tenant manager) or not, linked
# to a customer (holding a role in a link) or not. Objects: "in" is the partner's own (an
# invitation addressed to it, its link), "foreign" another partner's — the same 404 as a
# missing one.


@dataclass(frozen=True)
class SideWho:
    name: str
    reviewer: bool
    linked: bool
    signed_in: bool = True
    primary_admin: bool = False


SIDE_WHO = [
    SideWho(
        "partner_admin", reviewer=True, linked=True, primary_admin=True
    ),  # Global admin and Primary admin
    SideWho("partner_technician", reviewer=False, linked=True),  # a custom partner role only
    SideWho("customer_admin", reviewer=True, linked=False),  # reviews its own tenant's (none)
    SideWho("stranger", reviewer=False, linked=False),  # a user of an unrelated tenant
    SideWho("signed_out", reviewer=False, linked=False, signed_in=False),
]


@dataclass
class Side:
    users: dict[str, str | None]
    invitations: dict[str, str]
    links: dict[str, str]


@pytest.fixture(scope="module")
def side(matrix: Matrix, partners: Partners) -> Side:
    from tests.factories import expect
    from tests.partners.helpers import accept, invite

    w = matrix.world
    p1 = partners.users["primary_admin"]
    offering = w.tenant()
    partner1 = _tenant_of(w, p1)
    pending = invite(w, offering, partner1)
    stranger_tenant = w.tenant()
    other_partner, other_customer = w.tenant(), w.tenant()
    foreign_invitation = invite(w, other_customer, other_partner)
    foreign_link = expect(accept(w, other_partner.admin, invite(w, w.tenant(), other_partner)["id"]), 201)
    return Side(
        users={
            "partner_admin": p1.id,
            "partner_technician": partners.users["partner_custom_role"].id,
            "customer_admin": matrix.tenant.admin.id,
            "stranger": w.user(stranger_tenant).id,
            "signed_out": None,
        },
        invitations={IN: pending["id"], FOREIGN: foreign_invitation["id"]},
        links={IN: partners.link_id, FOREIGN: foreign_link["id"]},
    )


def _tenant_of(world, user):  # type: ignore[no-untyped-def]
    """The partner tenant of ``user``, as a handle ``invite`` can address (by its domain)."""
    from tests.factories import TenantH

    domain = user.upn.split("@", 1)[1]
    return TenantH(id=user.tenant_id, name="", domain=domain, admin=user)


def _reviewer_then(w: SideWho, t: str, own: int = 200) -> int:
    if not w.reviewer:
        return 403
    return own if t == IN and w.linked else 404


@dataclass(frozen=True)
class SidePage:
    name: str
    path: Callable[[Side, str], str]
    rule: Callable[[SideWho, str], int]
    by_id: bool = False


SIDE_PAGES = [
    SidePage("invitations", lambda s, t: "/partner/invitations", lambda w, t: 200 if w.reviewer else 403),
    SidePage(
        "invitation accept",
        lambda s, t: f"/partner/invitations/{s.invitations[t]}/accept",
        # addressed to the partner admin's tenant; the customer admin reviews only its own
        _reviewer_then,
        by_id=True,
    ),
    SidePage(
        "invitation deny",
        lambda s, t: f"/partner/invitations/{s.invitations[t]}/deny",
        _reviewer_then,
        by_id=True,
    ),
    SidePage("customers", lambda s, t: "/partner/customers", lambda w, t: 200),
    SidePage(
        "customer",
        lambda s, t: f"/partner/customers/{s.links[t]}",
        lambda w, t: 200 if w.linked and t == IN else 404,
        by_id=True,
    ),
    SidePage(
        "customer remove",
        lambda s, t: f"/partner/customers/{s.links[t]}/remove",
        # the link's Primary admins; another partner's link is the same 404 as a missing one
        lambda w, t: (200 if w.primary_admin else 403) if w.linked and t == IN else 404,
        by_id=True,
    ),
    SidePage(
        "tenant managers", lambda s, t: "/partner/tenant-managers", lambda w, t: 200 if w.reviewer else 403
    ),
    SidePage("all tickets", lambda s, t: "/partner/tickets", lambda w, t: 200),
    SidePage("all rooms", lambda s, t: "/partner/rooms", lambda w, t: 200),
    SidePage("customer health", lambda s, t: "/partner/health", lambda w, t: 200),
    SidePage("reports health", lambda s, t: "/partner/reports/health", lambda w, t: 200),
    SidePage("reports health csv", lambda s, t: "/partner/reports/health.csv", lambda w, t: 200),
    SidePage("reports usage", lambda s, t: "/partner/reports/usage", lambda w, t: 200),
    SidePage("reports usage csv", lambda s, t: "/partner/reports/usage.csv", lambda w, t: 200),
]


def _side_browser(browsers: Browsers, side: Side, who: SideWho) -> Browser:
    return browsers.of(f"side:{who.name}", side.users[who.name])


@pytest.mark.parametrize(
    ("page", "who", "target"),
    [
        pytest.param(page, who, target, id=f"{page.name}-{who.name}-{target}")
        for page in SIDE_PAGES
        for who in SIDE_WHO
        for target in ((IN, FOREIGN) if page.by_id else (IN,))
    ],
)
def test_partner_side_page_matrix(
    side: Side, browsers: Browsers, page: SidePage, who: SideWho, target: str
) -> None:
    response = _side_browser(browsers, side, who).get(page.path(side, target))
    want = page.rule(who, target) if who.signed_in else 303
    _check(response, want, f"{page.name} as {who.name} on {target}")


def test_every_partner_side_page_is_in_the_matrix(app) -> None:  # type: ignore[no-untyped-def]
    """Each GET route of the partner-side page modules is one of SIDE_PAGES."""
    from roomwarden.portal import (
        partner_customers,
        partner_invitations,
        partner_managers,
        partner_views,
        report_ranges,
    )

    driven = {re.sub(r"[0-9a-f-]{36}", "{}", p.path(_Ids(), IN)) for p in SIDE_PAGES}  # type: ignore[arg-type]
    routes = set()
    for module in (partner_invitations, partner_customers, partner_managers, partner_views, report_ranges):
        for route in module.pages.routes:
            if "GET" in getattr(route, "methods", ()) and route.path.startswith("/partner/"):
                routes.add(re.sub(r"\{[a-z_]+\}", "{}", route.path))
    assert routes and routes <= driven, sorted(routes - driven)


@pytest.mark.parametrize("who", [w for w in SIDE_WHO if w.signed_in], ids=lambda w: w.name)
def test_partner_navigation_and_cross_customer_lists_are_the_api(
    matrix: Matrix, side: Side, browsers: Browsers, who: SideWho
) -> None:
    """The partner-side entries each principal sees, and the All rooms and All tickets rows
    are exactly what the partner API lists for it."""
    browser = _side_browser(browsers, side, who)
    expected = [
        label
        for label, shown in (
            ("Invitations", who.reviewer),
            ("Customers", who.reviewer or who.linked),
            ("All tickets", who.linked),
            ("All rooms", who.linked),
            ("Customer health", who.linked),
            ("Customer reports", who.linked),
        )
        if shown
    ]
    page = browser.get("/partner/customers")
    nav = page.text.split('<nav aria-label="Main"', 1)[1].split("</nav>", 1)[0]
    partner_part = nav.split('id="nav-partner"', 1)[1] if 'id="nav-partner"' in nav else ""
    labels = {"Invitations", "Customers", "All tickets", "All rooms", "Customer health", "Customer reports"}
    assert [x for x in re.findall(r"<a [^>]*>([^<]+)</a>", partner_part) if x in labels] == expected
    with matrix.world.transaction(write=False) as s:
        user = s.get_one(User, uuid.UUID(side.users[who.name]))  # type: ignore[arg-type]
        headers = matrix.world.headers(str(user.id), str(user.tenant_id))
    client = matrix.world.client
    rooms = client.get("/api/v1/partner/rooms?limit=200", headers=headers).json()["items"]
    shown = re.findall(r'<td><a href="/t/[^/]+/rooms/([0-9a-f-]{36})">', browser.get("/partner/rooms").text)
    assert sorted(shown) == sorted(r["id"] for r in rooms)
    if who.linked:
        assert matrix.rooms[OUT] not in shown and set(shown) <= _delegated_rooms(matrix)
    tickets = client.get("/api/v1/partner/tickets?limit=200", headers=headers).json()["items"]
    listed = re.findall(
        r'<td><a href="/t/[^/]+/tickets/([0-9a-f-]{36})">', browser.get("/partner/tickets").text
    )
    assert sorted(listed) == sorted(t["id"] for t in tickets)


def _delegated_rooms(matrix: Matrix) -> set[str]:
    url = f"/api/v1/tenants/{matrix.tenant.id}/room-groups/{matrix.groups[IN]}"
    response = matrix.world.client.get(url, headers=matrix.tenant.admin.headers)
    return set(response.json()["room_ids"])


# -- Home (/) --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unhealthy(matrix: Matrix) -> None:
    """The "in" and the "out" room unhealthy, each with its important monitoring ticket: the
    only unhealthy rooms of the tenant."""
    for target in (IN, OUT):
        set_health(matrix.world, matrix.tenant, matrix.rooms[target], "unhealthy")


@pytest.mark.parametrize("who", [*WHO, *PARTNERS[:2]], ids=lambda w: w.name)
def test_home_counts_only_what_the_principal_may_see(
    matrix: Matrix, partners: Partners, browsers: Browsers, unhealthy: None, who: Who
) -> None:
    """Home answers every signed-in principal and sends a signed-out browser to sign in. Its
    unhealthy rooms and open important tickets are the rooms of the principal's scope (the
    SPEC's rule, ``Who.may``), never the other room's; each figure equals the API's list its
    link opens (tests/portal/test_home.py)."""
    if isinstance(who, PartnerWho):
        name, user = f"partner:{who.name}", partners.users[who.name]
    elif who.perms is None:
        response = browsers.of(who.name, None).get("/")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
        return
    else:
        name, user = who.name, matrix.users[who.name]
    page = browsers.of(name, user.id).get("/")
    assert page.status_code == 200 and "<h1>Home</h1>" in page.text
    shown = home_figures(page.text)
    expected = home_oracle(matrix.world, user)
    assert {k: v for k, v in shown.items() if v} == {k: v for k, v in expected.items() if v}, shown
    if isinstance(who, PartnerWho):
        return
    seen = sum(1 for target in (IN, OUT) if who.may(P.ROOMS_VIEW, target))
    assert shown.get("Unhealthy rooms", 0) == (seen if who.any(P.ROOMS_VIEW) else 0)
    tickets = sum(1 for target in (IN, OUT) if who.may(P.TICKETS_VIEW, target))
    assert shown.get("Open important tickets", 0) == (tickets if who.any(P.TICKETS_VIEW) else 0)
