"""The partner side of the portal (SPEC §4, §9): Invitations (Accept with Primary admins and
Confirm, Deny), Customers and a customer's page, Tenant managers, All tickets, All rooms and
Customer health. What each page does is read back through the API; what it shows is what
the partner API shows the same user, and nothing of a customer outside the delegation."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from roomwarden.partners.models import PartnerInvitation
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import accept, invite
from tests.portal.helpers import Browser, signed_in

NOT_FOUND = "There is nothing at this address that you can see."


def _nav(text: str) -> list[str]:
    nav = text.split('<nav aria-label="Main"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav)


def _partner_nav(text: str) -> list[str]:
    if 'id="nav-partner"' not in text:
        return []
    part = text.split('id="nav-partner"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r"<a [^>]*>([^<]+)</a>", part)


def _api(world: World, user: UserH, path: str):  # type: ignore[no-untyped-def]
    return expect(world.client.get(path, headers=user.headers), 200)


def _expire(world: World, invitation_id: str) -> None:
    with world.transaction() as session:
        session.execute(
            update(PartnerInvitation)
            .where(PartnerInvitation.id == uuid.UUID(invitation_id))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def _settings(world: World, c: TenantH, **values: bool) -> None:
    expect(world.client.patch(f"/api/v1/tenants/{c.id}/settings", json=values, headers=c.admin.headers), 200)


# -- Invitations -----------------------------------------------------------------------------------


@pytest.fixture
def offer(world: World, app):  # type: ignore[no-untyped-def]
    c, p = world.tenant(name=f"Contoso {world.tag}"), world.tenant(name=f"Fabrikam {world.tag}")
    rooms = [world.room(c), world.room(c)]
    group = world.room_group(c, [rooms[0]["id"]])
    inv = invite(
        world,
        c,
        p,
        scope={"rooms": [r["id"] for r in rooms], "room_groups": [group["id"]]},
        approval_policy={"ticket.update": "manual"},
    )
    return c, p, inv, signed_in(world, app, p.admin)


def test_invitations_list_the_pending_offers_with_accept_and_deny(world, app, offer):
    c, _p, inv, b = offer
    other_customer = world.tenant(name=f"Elsewhere {world.tag}")
    elsewhere = invite(world, other_customer, world.tenant())  # addressed to another partner
    page = b.get("/partner/invitations")
    assert page.status_code == 200
    assert c.name in page.text and other_customer.name not in page.text and elsewhere["id"] not in page.text
    assert "2 rooms and 1 room group" in page.text
    assert "The customer approves ticket updates" in page.text
    assert inv["expires_at"][:10] in page.text
    assert page.text.count(">Accept</button>") == 1 and page.text.count(">Deny</button>") == 1
    assert f'action="/partner/invitations/{inv["id"]}/accept"' in page.text
    assert "Invitations" in _partner_nav(page.text)
    assert 'aria-current="page">Invitations</a>' in page.text


def test_accept_asks_for_primary_admins_and_confirm_establishes_the_link(world, app, offer):
    c, p, inv, b = offer
    tech = world.user(p, name="tech")
    sg = world.security_group(p, [tech])
    form = b.get(f"/partner/invitations/{inv['id']}/accept")
    assert form.status_code == 200
    assert "<legend>Primary admins</legend>" in form.text
    # the acceptor, checked by default; the others offered a page at a time, with a search
    assert f'name="primary_admins" value="{p.admin.id}" checked>' in form.text
    assert f'name="primary_groups" value="{sg}">' in form.text and ">Confirm</button>" in form.text
    assert ">Find users</button>" in form.text and ">Find security groups</button>" in form.text
    url = f"/partner/invitations/{inv['id']}/accept"
    found = b.post(
        url, {"primary_admins": [p.admin.id], "primary_admins_q": "tech", "search": "primary_admins"}
    )
    assert found.status_code == 200
    assert f'name="primary_admins" value="{tech.id}">' in found.text  # found, not yet chosen
    assert f'name="primary_admins" value="{p.admin.id}" checked>' in found.text  # kept
    assert _api(world, c.admin, f"/api/v1/tenants/{c.id}/partners")["items"] == []  # nothing accepted
    done = b.post(url, {"primary_admins": [tech.id], "primary_groups": [sg]})
    assert done.status_code == 303, done.text
    link_id = done.headers["location"].split("/partner/customers/", 1)[1].split("?")[0]
    link = _api(world, c.admin, f"/api/v1/tenants/{c.id}/partners/{link_id}")
    (a,) = _api(world, c.admin, f"/api/v1/tenants/{c.id}/roles/{link['primary_admins_role_id']}/assignments")[
        "items"
    ]
    assert sorted((m["type"], m["id"]) for m in a["members"]) == sorted([("user", tech.id), ("group", sg)])
    shown = b.get(done.headers["location"])
    assert "You accepted the invitation" in shown.text and c.name in shown.text
    # the acceptor named others: it holds no role, so the delegation stays an outline for it
    assert "are shown to the people of your organisation who hold a role" in shown.text
    assert c.name not in b.get("/partner/invitations").text  # no longer pending


def test_confirm_with_nobody_chosen_makes_the_acceptor_primary_admin(world, app, offer):
    _c, p, inv, b = offer
    b.get(f"/partner/invitations/{inv['id']}/accept")
    done = b.post(f"/partner/invitations/{inv['id']}/accept", {})
    assert done.status_code == 303
    page = b.get(done.headers["location"])
    assert p.admin.upn in page.text.split('id="h-primary"', 1)[1].split("</section>", 1)[0]


def test_accept_refusals_are_readable_and_keep_the_choice(world, app, offer):
    c, p, inv, b = offer
    stranger = world.user(world.tenant())
    b.get(f"/partner/invitations/{inv['id']}/accept")
    bad = b.post(f"/partner/invitations/{inv['id']}/accept", {"primary_admins": [stranger.id]})
    assert bad.status_code == 422
    assert 'id="e-primary_admins"' in bad.text and 'aria-invalid="true"' in bad.text
    # the customer's second-factor rule, in words
    _settings(world, c, require_mfa_for_partners=True)
    mfa = b.post(f"/partner/invitations/{inv['id']}/accept", {"primary_admins": [p.admin.id]})
    assert mfa.status_code == 403 and "second factor" in mfa.text and 'class="error-summary"' in mfa.text
    assert f'name="primary_admins" value="{p.admin.id}" checked>' in mfa.text
    _settings(world, c, require_mfa_for_partners=False)
    _expire(world, inv["id"])
    late = b.post(f"/partner/invitations/{inv['id']}/accept", {"primary_admins": [p.admin.id]})
    assert late.status_code == 409 and "The invitation is expired." in late.text
    assert ">Confirm</button>" not in late.text and "it can no longer be accepted" in late.text
    assert _api(world, p.admin, "/api/v1/partner/customers")["items"] == []


def test_deny_ends_the_invitation_with_a_notice(world, app, offer):
    c, p, inv, b = offer
    listing = b.get("/partner/invitations")
    deny = f'<form method="get" action="/partner/invitations/{inv["id"]}/deny">'
    assert deny in listing.text  # the list's Deny asks first; nothing is denied by it
    confirm = b.get(f"/partner/invitations/{inv['id']}/deny")
    assert confirm.status_code == 200
    assert f"Deny the invitation from {html.escape(c.name)}?</h1>" in confirm.text
    assert ">Deny</button>" in confirm.text and 'href="/partner/invitations">Cancel</a>' in confirm.text
    assert _api(world, p.admin, "/api/v1/partner/invitations")["items"][0]["status"] == "pending"
    denied = b.post(f"/partner/invitations/{inv['id']}/deny")
    assert denied.status_code == 303
    page = b.get(denied.headers["location"])
    assert f"You denied the invitation from {c.name}." in page.text and 'role="status"' in page.text
    (item,) = _api(world, p.admin, "/api/v1/partner/invitations")["items"]
    assert item["status"] == "denied"
    again = b.post(f"/partner/invitations/{inv['id']}/deny")
    assert again.status_code == 409 and "The invitation is denied." in again.text
    assert accept(world, p.admin, inv["id"]).status_code == 409


def test_invitations_only_for_reviewers_and_their_own_tenant(world, app, offer):
    _c, p, inv, _ = offer
    member = signed_in(world, app, world.user(p))
    for path in (
        "/partner/invitations",
        f"/partner/invitations/{inv['id']}/accept",
        "/partner/tenant-managers",
    ):
        refused = member.get(path)
        assert refused.status_code == 403 and "tenant managers" in refused.text, path
    assert member.post(f"/partner/invitations/{inv['id']}/deny").status_code == 403
    assert "Invitations" not in _partner_nav(member.get(f"/t/{p.id}/rooms").text)
    other = signed_in(world, app, world.tenant().admin)  # a reviewer of another tenant
    for path in (f"/partner/invitations/{inv['id']}/accept", f"/partner/invitations/{uuid.uuid4()}/accept"):
        missing = other.get(path)
        assert missing.status_code == 404 and NOT_FOUND in missing.text
    assert other.post(f"/partner/invitations/{inv['id']}/deny").status_code == 404
    for path in (f"/partner/invitations/{inv['id']}/deny", f"/partner/invitations/{uuid.uuid4()}/deny"):
        missing = other.get(path)
        assert missing.status_code == 404 and NOT_FOUND in missing.text
    assert member.get(f"/partner/invitations/{inv['id']}/deny").status_code == 403
    assert _api(world, p.admin, "/api/v1/partner/invitations")["items"][0]["status"] == "pending"
    signed_out = Browser(app).get("/partner/invitations")
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login?next=")


def test_a_refused_deny_is_recorded_in_the_customers_audit_log(world, app, offer):
    c, p, inv, b = offer
    _settings(world, c, require_mfa_for_partners=True)
    b.get("/partner/invitations")
    assert b.post(f"/partner/invitations/{inv['id']}/deny").status_code == 403
    log = _api(world, c.admin, f"/api/v1/tenants/{c.id}/audit-logs?result_status=Failed")["items"]
    assert [(r["category"], r["operation"], r["user_upn"], r["object_id"]) for r in log][:1] == [
        ("PartnerInvitation", "Reject", p.admin.upn, inv["id"])
    ], log[:1]


# -- Customers, the customer page, partner roles ------------------------------------------------------


@pytest.fixture
def linked(world: World, app):  # type: ignore[no-untyped-def]
    c, p = world.tenant(name=f"Contoso {world.tag}"), world.tenant(name=f"Fabrikam {world.tag}")
    inside, grouped, outside = world.room(c), world.room(c), world.room(c)
    group = world.room_group(c, [grouped["id"]], name="Delegated group")
    inv = invite(world, c, p, scope={"rooms": [inside["id"]], "room_groups": [group["id"]]})
    link = expect(accept(world, p.admin, inv["id"]), 201)
    tech = world.user(p, name="tech")
    rooms = {"inside": inside, "grouped": grouped, "outside": outside}
    return c, p, link, tech, rooms, group


def test_the_partner_admin_creates_a_partner_role_and_assigns_a_technician(world, app, linked):
    """The seed's journey, in the portal: the customer's Roles pages serve the link's roles."""
    c, p, link, tech, rooms, _group = linked
    b = signed_in(world, app, p.admin)
    b.get(f"/t/{c.id}/roles/new")
    made = b.post(
        f"/t/{c.id}/roles/new",
        {"name": "Help desk", "permissions": ["rooms.view", "tickets.view", "tickets.update"]},
    )
    assert made.status_code == 303, made.text
    role_path = made.headers["location"].split("?")[0]
    role_id = role_path.rsplit("/", 1)[1]
    role = _api(world, p.admin, f"/api/v1/tenants/{c.id}/roles/{role_id}")
    assert role["kind"] == "partner_custom" and role["partner_link_id"] == link["id"]
    form = b.get(f"{role_path}/assignments/new")
    assert form.status_code == 200 and tech.upn in form.text and c.admin.upn not in form.text
    assigned = b.post(
        f"{role_path}/assignments/new",
        {"name": "Desk", "users": [tech.id], "scope": "listed", "rooms": [rooms["inside"]["id"]]},
    )
    assert assigned.status_code == 303, assigned.text
    (a,) = _api(world, p.admin, f"/api/v1/tenants/{c.id}/roles/{role_id}/assignments")["items"]
    assert [(m["type"], m["id"]) for m in a["members"]] == [("user", tech.id)]
    # the technician acts in the customer: Rooms shows its one room, the Tenant control the customer
    t = signed_in(world, app, tech)
    listed = t.get(f"/t/{c.id}/rooms")
    assert listed.status_code == 200
    assert rooms["inside"]["name"] in listed.text
    assert rooms["grouped"]["name"] not in listed.text and rooms["outside"]["name"] not in listed.text
    assert re.search(rf'<option value="{c.id}" selected>{re.escape(c.name)}</option>', listed.text)
    for room in ("grouped", "outside"):
        hidden = t.get(f"/t/{c.id}/rooms/{rooms[room]['id']}")
        assert hidden.status_code == 404 and NOT_FOUND in hidden.text
    # the customer page shows the partner roles with their assignments and the Primary admins
    page = b.get(f"/partner/customers/{link['id']}")
    roles = page.text.split('id="h-partner-roles"', 1)[1]
    assert "Help desk" in roles and tech.upn in roles and "Primary admins" in roles
    assert p.admin.upn in page.text.split('id="h-primary"', 1)[1].split("</section>", 1)[0]
    assert f'href="/t/{c.id}/roles/new"' in page.text
    # the technician's own view of it: no roles.view, so no partner roles
    mine = t.get(f"/partner/customers/{link['id']}")
    assert mine.status_code == 200 and "Help desk" not in mine.text
    assert rooms["inside"]["name"] in mine.text  # the delegated room its role shows
    assert "more room" not in mine.text and "1 more group outside what your roles show" in mine.text


def test_customers_list_and_the_customer_page(world, app, linked):
    c, p, link, tech, rooms, _group = linked
    b = signed_in(world, app, p.admin)
    page = b.get("/partner/customers")
    assert page.status_code == 200
    assert f'href="/partner/customers/{link["id"]}">{c.name}</a>' in page.text
    assert f'href="/t/{c.id}">Act in {c.name}</a>' in page.text
    assert "1 room and 1 room group" in page.text
    assert 'aria-current="page">Customers</a>' in page.text
    detail = b.get(f"/partner/customers/{link['id']}")
    assert detail.status_code == 200
    delegation = detail.text.split('id="h-delegation"', 1)[1].split("</section>", 1)[0]
    assert rooms["inside"]["name"] in delegation and "Delegated group" in delegation
    assert rooms["outside"]["name"] not in detail.text
    assert f'href="/t/{c.id}/rooms/{rooms["inside"]["id"]}"' in delegation
    # the Tenant control then shows the customer
    acting = b.follow(f"/t/{c.id}")
    assert re.search(rf'<option value="{c.id}" selected>{re.escape(c.name)}</option>', acting.text)
    # partner users without a role, other partners and the customer itself see no such page
    for user in (tech, world.tenant().admin, c.admin):
        other = signed_in(world, app, user)
        missing = other.get(f"/partner/customers/{link['id']}")
        assert missing.status_code == 404 and NOT_FOUND in missing.text, user.upn
        assert c.name not in other.get("/partner/customers").text.split("<main", 1)[1]
    assert signed_in(world, app, tech).get(f"/partner/customers/{uuid.uuid4()}").status_code == 404


def test_a_customer_requiring_a_second_factor(world, app, linked):
    c, p, link, _tech, rooms, _group = linked
    _settings(world, c, require_mfa_for_partners=True)
    weak = signed_in(world, app, p.admin)
    listed = weak.get("/partner/customers")
    assert "requires a second factor" in listed.text and f"Act in {c.name}" not in listed.text
    refused = weak.get(f"/partner/customers/{link['id']}")
    assert refused.status_code == 403 and "second factor" in refused.text
    everywhere = weak.get("/partner/rooms")
    assert "sign in again with your verification code" in everywhere.text
    assert rooms["inside"]["name"] not in everywhere.text
    strong = signed_in(world, app, p.admin, mfa=True)
    assert strong.get(f"/partner/customers/{link['id']}").status_code == 200
    assert rooms["inside"]["name"] in strong.get("/partner/rooms").text


def _audit(world: World, c: TenantH, query: str) -> list[dict]:
    return _api(world, c.admin, f"/api/v1/tenants/{c.id}/audit-logs?{query}")["items"]


def test_remove_customer_asks_for_confirmation_then_offboards(world, app, linked):
    """The partner's Primary admin ends the link from the customer's page: Remove customer,
    a confirmation (which changes nothing), Remove — the API's ``offboard_by_partner``."""
    c, p, link, tech, rooms, _group = linked
    role = world.role(c, ["rooms.view"])  # the customer's own role: untouched
    b = signed_in(world, app, p.admin)
    page = b.get(f"/partner/customers/{link['id']}")
    assert (
        f'<form method="get" action="/partner/customers/{link["id"]}/remove">'
        '<button type="submit" class="danger">Remove customer</button></form>'
    ) in page.text
    confirm = b.get(f"/partner/customers/{link['id']}/remove")
    assert confirm.status_code == 200
    assert f"<h1>Remove the customer {c.name}?</h1>" in confirm.text
    assert '<button type="submit" class="danger">Remove</button>' in confirm.text
    assert f'href="/partner/customers/{link["id"]}">Cancel</a>' in confirm.text
    assert 'aria-current="page">Customers</a>' in confirm.text
    customer_link = f"/api/v1/tenants/{c.id}/partners/{link['id']}"
    assert _api(world, c.admin, customer_link)["status"] == "active"  # the question changes nothing
    # a technician holding a partner role loses its access with the link
    partner_role = expect(
        world.client.post(
            f"/api/v1/tenants/{c.id}/roles",
            json={"name": "Desk", "permissions": ["rooms.view"]},
            headers=p.admin.headers,
        ),
        201,
    )
    expect(
        world.client.post(
            f"/api/v1/tenants/{c.id}/roles/{partner_role['id']}/assignments",
            json={"name": "Desk", "members": [{"type": "user", "id": tech.id}], "scope": {"all": True}},
            headers=p.admin.headers,
        ),
        201,
    )
    t = signed_in(world, app, tech)
    assert t.get(f"/t/{c.id}/rooms/{rooms['inside']['id']}").status_code == 200
    done = b.post(f"/partner/customers/{link['id']}/remove")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/partner/customers?done=removed"
    listed = b.get(done.headers["location"])
    assert "The customer was removed" in listed.text and 'role="status"' in listed.text
    assert c.name not in listed.text.split("<main", 1)[1]
    assert _api(world, c.admin, customer_link)["status"] == "ended"
    gone = t.get(f"/t/{c.id}/rooms/{rooms['inside']['id']}")
    assert gone.status_code == 404 and NOT_FOUND in gone.text
    assert b.get(f"/partner/customers/{link['id']}").status_code == 404
    assert b.get(f"/partner/customers/{link['id']}/remove").status_code == 404
    assert b.post(f"/partner/customers/{link['id']}/remove").status_code == 404
    assert _api(world, c.admin, f"/api/v1/tenants/{c.id}/roles/{role}")["id"] == role
    # recorded in the customer's log, like the API's DELETE
    deletes = [r for r in _audit(world, c, "category=Partner") if r["operation"] == "Delete"]
    assert [(r["result_status"], r["user_upn"], r["object_id"]) for r in deletes] == [
        ("Failed", p.admin.upn, link["id"]),  # the second attempt, on the ended link
        ("Successful", p.admin.upn, link["id"]),
    ]
    assert deletes[1]["details"]["ended_by"] == "partner"


def test_remove_customer_is_for_the_links_primary_admins(world, app, linked):
    c, p, link, _tech, _rooms, _group = linked
    # a reviewer of the partner tenant who is not a Primary admin sees the customer, not the button
    other_admin = world.user(p, ga=True, name="other")
    b = signed_in(world, app, other_admin)
    page = b.get(f"/partner/customers/{link['id']}")
    assert page.status_code == 200 and "Remove customer" not in page.text
    refused = b.get(f"/partner/customers/{link['id']}/remove")
    assert refused.status_code == 403 and "Primary admins" in refused.text
    assert b.post(f"/partner/customers/{link['id']}/remove").status_code == 403
    failed = _audit(world, c, "category=Partner&result_status=Failed")
    assert [(r["operation"], r["user_upn"], r["object_id"]) for r in failed][:1] == [
        ("Delete", other_admin.upn, link["id"])
    ]
    # another partner, the customer itself, and an unknown id: the same 404
    for user in (world.tenant().admin, c.admin):
        other = signed_in(world, app, user)
        assert other.get(f"/partner/customers/{link['id']}/remove").status_code == 404, user.upn
        assert other.post(f"/partner/customers/{link['id']}/remove").status_code == 404, user.upn
    assert b.get(f"/partner/customers/{uuid.uuid4()}/remove").status_code == 404
    # a form without the session's token changes nothing
    admin = signed_in(world, app, p.admin)
    assert admin.post(f"/partner/customers/{link['id']}/remove", csrf="forged").status_code == 403
    assert _api(world, c.admin, f"/api/v1/tenants/{c.id}/partners/{link['id']}")["status"] == "active"
    # the customer's second-factor rule comes before the question
    _settings(world, c, require_mfa_for_partners=True)
    weak = admin.get(f"/partner/customers/{link['id']}/remove")
    assert weak.status_code == 403 and "second factor" in weak.text
    strong = signed_in(world, app, p.admin, mfa=True)
    assert strong.get(f"/partner/customers/{link['id']}/remove").status_code == 200


# -- Tenant managers ------------------------------------------------------------------------------


def test_tenant_managers_are_listed_added_and_revoked(world, app):
    p = world.tenant()
    m = world.user(p, name="manager")
    b = signed_in(world, app, p.admin)
    page = b.get("/partner/tenant-managers")
    assert page.status_code == 200 and "has no tenant managers" in page.text
    assert '<label for="f-user_id">User</label>' in page.text and ">Add tenant manager</button>" in page.text
    bad = b.post("/partner/tenant-managers", {"user_id": ""})
    assert bad.status_code == 422 and 'id="e-user_id"' in bad.text
    added = b.post("/partner/tenant-managers", {"user_id": m.id})
    assert added.status_code == 303
    (row,) = _api(world, p.admin, "/api/v1/partner/tenant-managers")["items"]
    assert row["user_id"] == m.id
    again = b.post("/partner/tenant-managers", {"user_id": m.id})
    assert again.status_code == 409 and "already a tenant manager" in again.text
    # the manager reviews invitations, but does not grant the role
    mb = signed_in(world, app, m)
    assert "Invitations" in _partner_nav(mb.get(f"/t/{p.id}/rooms").text)
    assert mb.get("/partner/invitations").status_code == 200
    own = mb.get("/partner/tenant-managers")
    assert own.status_code == 200 and m.upn in own.text and "Add tenant manager" not in own.text
    refused = mb.post("/partner/tenant-managers", {"user_id": p.admin.id})
    assert refused.status_code == 403 and "Pro managers grant" in refused.text
    revoked = b.post(f"/partner/tenant-managers/{m.id}/revoke")
    assert revoked.status_code == 303
    assert _api(world, p.admin, "/api/v1/partner/tenant-managers")["items"] == []
    assert mb.get("/partner/invitations").status_code == 403
    assert b.post(f"/partner/tenant-managers/{m.id}/revoke").status_code == 404


# -- All tickets, All rooms, Customer health ---------------------------------------------------------


@pytest.fixture
def fleet(world: World, app):  # type: ignore[no-untyped-def]
    """A partner with two customers: ``a`` delegates one of its rooms (and turned on the all
    tickets view), ``b`` delegates everything (and did not)."""
    p = world.tenant(name=f"Fabrikam {world.tag}")
    a, c2 = world.tenant(name=f"Alpha {world.tag}"), world.tenant(name=f"Beta {world.tag}")
    a_in, a_out = world.room(a, "DE"), world.room(a, "US")
    b_room = world.room(c2, "KR")
    expect(accept(world, p.admin, invite(world, a, p, scope={"rooms": [a_in["id"]]})["id"]), 201)
    expect(accept(world, p.admin, invite(world, c2, p)["id"]), 201)
    _settings(world, a, enable_all_tickets_view=True)
    seen, unseen = world.incident(a, a_in["id"]), world.incident(a, a_out["id"])
    b_ticket = world.incident(c2, b_room["id"])
    return p, a, c2, {"a_in": a_in, "a_out": a_out, "b": b_room}, (seen, unseen, b_ticket)


def test_all_tickets_across_customers(world, app, fleet):
    p, a, c2, rooms, (seen, unseen, b_ticket) = fleet
    b = signed_in(world, app, p.admin)
    page = b.get("/partner/tickets")
    assert page.status_code == 200
    assert seen["title"] in page.text and unseen["title"] not in page.text
    assert b_ticket["title"] not in page.text  # Beta did not turn on the all tickets view
    # ... and the page says so, by name, rather than looking as if Beta had no tickets
    note = page.text.split('aria-label="Customers not shown"', 1)[1].split("</div>", 1)[0]
    said = f"Not shown here: {html.escape(c2.name)} — this customer has turned the all tickets view off"
    assert said in note
    assert html.escape(a.name) not in note
    row = page.text.split(seen["title"], 1)[1].split("</tr>", 1)[0]
    assert a.name in row and rooms["a_in"]["name"] in row and "Open" in row
    assert f'href="/t/{a.id}/tickets/{seen["id"]}"' in page.text
    api = _api(world, p.admin, "/api/v1/partner/tickets")["items"]
    assert {t["id"] for t in api} == {seen["id"]}
    for label in ("Customer", "Status"):
        assert f'<label for="f-{label.lower()}">{label}</label>' in page.text
    assert seen["title"] not in b.get("/partner/tickets?status=closed").text
    assert seen["title"] in b.get(f"/partner/tickets?customer={a.id}&status=open").text
    assert seen["title"] not in b.get(f"/partner/tickets?customer={c2.id}").text
    assert 'aria-current="page">All tickets</a>' in page.text
    bad = b.get("/partner/tickets?status=sunny&customer=nope")
    assert bad.status_code == 422 and 'id="e-status"' in bad.text and 'id="e-customer"' in bad.text
    unknown = b.get(f"/partner/tickets?customer={world.tenant().id}")
    assert unknown.status_code == 404 and NOT_FOUND in unknown.text


def test_all_tickets_names_the_customers_it_cannot_show(world, app, fleet):
    """A customer that requires a second factor is left out of a sign-in without one, and
    named; with every view on and no rule, nothing is said."""
    p, _a, c2, _rooms, _ = fleet
    b = signed_in(world, app, p.admin)
    _settings(world, c2, enable_all_tickets_view=True, require_mfa_for_partners=True)
    page = b.get("/partner/tickets").text
    note = page.split('aria-label="Customers not shown"', 1)[1].split("</div>", 1)[0]
    assert f"Not shown to this sign-in: {html.escape(c2.name)} — this customer requires" in note
    assert "turned the all tickets view off" not in note
    _settings(world, c2, require_mfa_for_partners=False)
    assert 'aria-label="Customers not shown"' not in b.get("/partner/tickets").text


def test_all_rooms_shows_exactly_the_delegated_rooms(world, app, fleet):
    p, a, c2, rooms, _ = fleet
    b = signed_in(world, app, p.admin)
    page = b.get("/partner/rooms")
    assert page.status_code == 200
    assert rooms["a_in"]["name"] in page.text and rooms["b"]["name"] in page.text
    assert rooms["a_out"]["name"] not in page.text
    api = _api(world, p.admin, "/api/v1/partner/rooms")["items"]
    shown = re.findall(r'<td><a href="/t/[^/]+/rooms/([0-9a-f-]{36})">', page.text)
    assert sorted(shown) == sorted(r["id"] for r in api)
    row = page.text.split(rooms["a_in"]["name"] + "</a>", 1)[1].split("</tr>", 1)[0]
    assert a.name in row and "Unknown" in row
    only_b = b.get(f"/partner/rooms?customer={c2.id}")
    assert rooms["b"]["name"] in only_b.text and rooms["a_in"]["name"] not in only_b.text
    assert rooms["b"]["name"] not in b.get("/partner/rooms?health=healthy").text
    for label in ("Customer", "Health"):
        assert f'<label for="f-{label.lower()}">{label}</label>' in page.text
    assert 'aria-current="page">All rooms</a>' in page.text
    unknown = b.get(f"/partner/rooms?customer={world.tenant().id}")
    assert unknown.status_code == 404 and NOT_FOUND in unknown.text
    assert b.get("/partner/rooms?health=sunny").status_code == 422
    # the out-of-scope room answers as a missing one under the customer's own pages
    hidden = b.get(f"/t/{a.id}/rooms/{rooms['a_out']['id']}")
    assert hidden.status_code == 404 and NOT_FOUND in hidden.text


def test_customer_health_draws_svg_and_the_same_figures_as_the_api(world, app, fleet):
    p, a, c2, _rooms, _ = fleet
    b = signed_in(world, app, p.admin)
    page = b.get("/partner/health")
    assert page.status_code == 200
    assert '<svg class="chart" role="img"' in page.text and "<title id=" in page.text
    api = _api(world, p.admin, "/api/v1/partner/reports/health")
    for customer in api["customers"]:
        row = page.text.split(f">{customer['customer_name']}</a></td>", 1)[1].split("</tr>", 1)[0]
        cells = re.findall(r"<td>(\d+)</td>", row)
        states = ("healthy", "degraded", "unhealthy", "unknown")
        want = [customer["rooms_by_health"][s] for s in states] + [
            customer["total_rooms"],
            customer["open_tickets"],
        ]
        assert [int(x) for x in cells] == want
    assert {c["customer_name"] for c in api["customers"]} == {a.name, c2.name}
    chart_title = page.text.split('<title id="chart-customers-title">', 1)[1].split("</title>", 1)[0]
    assert f"{a.name} 1 (unknown 1)" in chart_title and f"{c2.name} 1 (unknown 1)" in chart_title
    assert 'aria-current="page">Customer health</a>' in page.text


def test_partner_navigation_and_pages_of_users_without_customers(world, app, fleet):
    p, a, _c2, rooms, _ = fleet
    admin = signed_in(world, app, p.admin)
    mine = {"Invitations", "Customers", "All tickets", "All rooms", "Customer health"}
    assert [x for x in _partner_nav(admin.get(f"/t/{p.id}/rooms").text) if x in mine] == [
        "Invitations",
        "Customers",
        "All tickets",
        "All rooms",
        "Customer health",
    ]
    loner = world.user(p)  # no role anywhere, not a reviewer
    lb = signed_in(world, app, loner)
    assert _partner_nav(lb.follow(f"/t/{p.id}").text) == []
    for path, empty in (
        ("/partner/customers", "manages no customer"),
        ("/partner/tickets", "no tickets you can see"),
        ("/partner/rooms", "no delegated rooms you can see"),
        ("/partner/health", "no customer whose rooms you may report on"),
    ):
        page = lb.get(path)
        assert page.status_code == 200 and empty in page.text, path
        assert a.name not in page.text.split("<main", 1)[1] and rooms["a_in"]["name"] not in page.text


def test_tickets_say_who_raised_them_and_for_which_partner(world, app, fleet):
    """The customer's Tickets: who raised each ticket and, for a partner's user, which
    partner; a Partner filter. A partner's user is told nothing of other partners."""
    p, a, _c2, rooms, (seen, _unseen, _b) = fleet
    by_partner = expect(
        world.client.post(
            f"/api/v1/tenants/{a.id}/incidents",
            json={"room_id": rooms["a_in"]["id"], "title": "Projector dim", "severity": "warning"},
            headers=p.admin.headers,
        ),
        201,
    )
    customer = signed_in(world, app, a.admin)
    page = customer.get(f"/t/{a.id}/tickets").text
    assert '<th scope="col">Raised by</th><th scope="col">Partner</th>' in page
    row = page.split("Projector dim", 1)[1].split("</tr>", 1)[0]
    name = expect(world.client.get("/api/v1/me", headers=p.admin.headers), 200)["user"]["display_name"]
    assert f"<td>{html.escape(name)}</td>" in row
    assert f"<td>{html.escape(p.name)}</td>" in row
    only = customer.get(f"/t/{a.id}/tickets?partner={p.id}").text
    assert "Projector dim" in only and seen["title"] not in only
    bad = customer.get(f"/t/{a.id}/tickets?partner={world.tenant().id}")
    assert bad.status_code == 422 and "Choose a partner from the list." in bad.text
    partner_view = signed_in(world, app, p.admin).get(f"/t/{a.id}/tickets").text
    assert "Raised by" not in partner_view and 'name="partner"' not in partner_view
    assert by_partner["title"] in partner_view
