"""Home (SPEC §9): what waits for each principal, every figure a link whose name starts with
its subject and ends with its count, counted over exactly what that principal may see — the
figure equals the API's list the link opens, and never counts a room outside the principal's
scope. The navigation shows the same figures beside its links, outside their names."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.approvals.helpers import ALL_MANUAL
from tests.devices.helpers import set_health
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import accept, invite
from tests.portal.helpers import Browser, signed_in

SUBJECTS = ("Approval requests", "Unhealthy rooms", "Open important tickets", "Invitations")


@dataclass
class Site:
    customer: TenantH
    partner: TenantH
    rooms: dict[str, dict[str, Any]]
    users: dict[str, UserH]


@pytest.fixture
def site(world: World) -> Site:
    """A customer with a room inside everyone's scope and one outside, both unhealthy, each
    with an important open ticket and a partner's held change; a partner linked on the
    inside room only, with a pending second invitation from another customer."""
    c, p = world.tenant(name=f"Contoso {world.tag}"), world.tenant(name=f"Fabrikam {world.tag}")
    inside, outside = world.room(c, "DE"), world.room(c, "US")
    group = world.room_group(c, [inside["id"]], name="Inside")
    for room in (inside, outside):
        set_health(world, c, room["id"], "unhealthy")  # opens an important monitoring ticket
    inv = invite(world, c, p, scope={"rooms": [inside["id"]]}, approval_policy=ALL_MANUAL)
    link = expect(accept(world, p.admin, inv["id"]), 201)
    # the link ends in 10 days: a link ending soon
    ends = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    url = f"/api/v1/tenants/{c.id}/partners/{link['id']}"
    expect(world.client.patch(url, json={"expires_at": ends}, headers=c.admin.headers), 200)
    other_customer = world.tenant(name=f"Woodgrove {world.tag}")
    invite(world, other_customer, p)
    # the partner's held change on the inside room (the outside one it cannot reach)
    held = world.client.patch(
        f"/api/v1/tenants/{c.id}/rooms/{inside['id']}", json={"city": "Bonn"}, headers=p.admin.headers
    )
    assert held.status_code == 202, held.text
    users = {
        "global admin": c.admin,
        "scoped lead": world.user(c),
        "scoped tech": world.user(c),
        "no role": world.user(c),
        "partner admin": p.admin,
        "partner member": world.user(p),
        "stranger": world.tenant().admin,
    }
    world.assign(c, c.roles["Site Lead"], users=[users["scoped lead"]], scope={"room_groups": [group["id"]]})
    world.assign(c, c.roles["Site Tech"], users=[users["scoped tech"]], scope={"rooms": [inside["id"]]})
    return Site(c, p, {"in": inside, "out": outside}, users)


def _waiting(page_text: str) -> dict[str, int]:
    """Home's links as {accessible name without the count: count}."""
    main = page_text.split("<main", 1)[1]
    found = re.findall(r'<a href="[^"]+" class="[a-z-]+">([^<]+?) <span class="count">(\d+)</span></a>', main)
    return {html.unescape(subject): int(count) for subject, count in found}


def _api_total(world: World, user: UserH, path: str) -> int:
    response = world.client.get(path, headers=user.headers)
    if response.status_code != 200:
        return -1
    return len(response.json()["items"])


def _expected_from_the_api(world: World, user: UserH) -> dict[str, int]:
    """The oracle: each figure is the length of the API list its link opens, and a list the
    API refuses (403/404) is no figure at all."""
    own = f"/api/v1/tenants/{user.tenant_id}"
    lists = {
        "Approval requests": f"{own}/approval-requests?status=pending&limit=200",
        "Unhealthy rooms": f"{own}/rooms?health_state=unhealthy&limit=200",
        "Open important tickets": f"{own}/tickets?status=open&severity=important&limit=200",
        "Invitations": "/api/v1/partner/invitations?status=pending&limit=200",
    }
    expected = {subject: n for subject, path in lists.items() if (n := _api_total(world, user, path)) >= 0}
    links = world.client.get(f"{own}/partners?limit=200", headers=user.headers)
    if links.status_code == 200:
        soon = datetime.now(UTC) + timedelta(days=30)
        expected["Links ending soon"] = sum(
            1
            for x in links.json()["items"]
            if x["status"] == "active" and x["expires_at"] and datetime.fromisoformat(x["expires_at"]) <= soon
        )
    customers = world.client.get("/api/v1/partner/customers", headers=user.headers)
    for customer in customers.json()["items"] if customers.status_code == 200 else []:
        base, name = f"/api/v1/tenants/{customer['customer_id']}", customer["customer_name"]
        rooms = _api_total(world, user, f"{base}/rooms?health_state=unhealthy&limit=200")
        tickets = _api_total(world, user, f"{base}/tickets?status=open&limit=200")
        expected |= {f"Unhealthy rooms at {name}": rooms} if rooms >= 0 else {}
        expected |= {f"Open tickets at {name}": tickets} if tickets >= 0 else {}
    return expected


@pytest.mark.parametrize(
    "who",
    ["global admin", "scoped lead", "scoped tech", "no role", "partner admin", "partner member", "stranger"],
)
def test_home_counts_what_the_principal_may_see_and_equals_the_api(
    world: World, app: Any, site: Site, who: str
):
    c, p = site.customer, site.partner
    user = site.users[who]
    page = signed_in(world, app, user).get("/")
    assert page.status_code == 200 and "<h1>Home</h1>" in page.text
    shown = _waiting(page.text)
    expected = _expected_from_the_api(world, user)
    # a figure only where the API answers the list, and the same number; a list the API
    # answers empty may be left out for someone who holds no role there
    assert set(shown) <= set(expected), (who, shown, expected)
    assert {k: v for k, v in shown.items() if v} == {k: v for k, v in expected.items() if v}, (who, shown)
    # exactly what the scope holds: the outside room is never counted by the scoped
    if who in ("scoped lead", "scoped tech"):
        assert shown["Unhealthy rooms"] == 1 and shown["Open important tickets"] == 1
    if who == "global admin":
        assert shown["Unhealthy rooms"] == 2 and shown["Approval requests"] == 1
        assert shown["Links ending soon"] == 1
    if who == "partner admin":
        assert shown[f"Unhealthy rooms at {c.name}"] == 1 and shown[f"Open tickets at {c.name}"] == 1
    assert p.name not in page.text or who in ("partner admin", "partner member")


def test_each_figure_links_to_the_list_it_counts(world: World, app: Any, site: Site) -> None:
    c = site.customer
    b = signed_in(world, app, site.users["scoped lead"])
    home = b.get("/").text
    links = dict(re.findall(r'<a href="([^"]+)" class="[a-z-]+">([^<]+?) <span', home))
    by_subject = {subject: href.replace("&amp;", "&") for href, subject in links.items()}
    assert by_subject["Unhealthy rooms"] == f"/t/{c.id}/rooms?health=unhealthy"
    rooms = b.get(by_subject["Unhealthy rooms"]).text
    assert site.rooms["in"]["name"] in rooms and site.rooms["out"]["name"] not in rooms
    assert b.get(by_subject["Open important tickets"]).status_code == 200
    admin = signed_in(world, app, c.admin)
    links = dict(re.findall(r'<a href="([^"]+)" class="[a-z-]+">([^<]+?) <span', admin.get("/").text))
    approvals = {subject: href for href, subject in links.items()}["Approval requests"]
    assert admin.get(approvals.replace("&amp;", "&")).status_code == 200


def test_the_navigation_shows_the_counts_outside_the_link_names(world: World, app: Any, site: Site) -> None:
    c = site.customer
    page = signed_in(world, app, c.admin).get(f"/t/{c.id}/tickets").text
    nav = page.split('<nav aria-label="Main"', 1)[1].split("</nav>", 1)[0]
    assert re.search(r">Home</a>", nav)
    badge = '</a> <span class="nav-count"><span class="visually-hidden">{}: </span>{}</span>'
    assert ">Rooms" + badge.format("Unhealthy rooms", 2) in nav, nav
    assert ">Approvals" + badge.format("Approval requests", 1) in nav, nav
    # a figure of zero is not shown
    assert "Invitations: </span>" not in nav


def test_a_customer_that_requires_a_second_factor_is_named_without_figures(
    world: World, app: Any, site: Site
) -> None:
    c, p = site.customer, site.partner
    expect(
        world.client.patch(
            f"/api/v1/tenants/{c.id}/settings",
            json={"require_mfa_for_partners": True},
            headers=c.admin.headers,
        ),
        200,
    )
    home = signed_in(world, app, p.admin).get("/").text
    assert f"{html.escape(c.name)} requires partner users to sign in with a second factor" in home
    assert f"Unhealthy rooms at {c.name}" not in html.unescape(home)
    with_mfa = signed_in(world, app, p.admin, mfa=True).get("/").text
    assert f"Unhealthy rooms at {c.name}" in html.unescape(with_mfa)


def test_signed_out_home_is_the_sign_in_page(app: Any) -> None:
    response = Browser(app).client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
