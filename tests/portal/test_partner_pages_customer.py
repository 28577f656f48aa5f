"""The customer's Partners pages (SPEC §4, §9): what each shows, and every
change read back through the API; refused forms keep what was typed and say why next to the
field. Access per principal is the page matrix's (tests/portal/test_page_matrix.py)."""

from __future__ import annotations

import html
import re
import uuid

import pytest

from tests.factories import expect
from tests.partners.helpers import accept, invite, link
from tests.portal.helpers import error_of, signed_in, value_of


def api(world, t, path):  # type: ignore[no-untyped-def]
    return expect(world.client.get(f"/api/v1/tenants/{t.id}{path}", headers=t.admin.headers), 200)


# -- partners list and the wizard --------------------------------------------------------------------


@pytest.fixture
def customer(world, app):  # type: ignore[no-untyped-def]
    c, p = world.tenant(), world.tenant()
    rooms = [world.room(c, "US"), world.room(c, "DE")]
    group = world.room_group(c, [rooms[0]["id"]], name="US rooms")
    return c, p, rooms, group, signed_in(world, app, c.admin)


def _wizard_form(p, rooms, group, **extra):  # type: ignore[no-untyped-def]
    return {
        "partner_domain": p.domain,
        "expires_in_days": "10",
        "policy.room.update": "manual",
        "policy.ticket.update": "auto",
        "scope": "listed",
        "rooms": [rooms[1]["id"]],
        "room_groups": [group["id"]],
        "terms_accepted": "on",
        **extra,
    }


def test_the_wizard_reviews_then_sends_the_invitation(world, customer):
    c, p, rooms, group, b = customer
    listing = b.get(f"/t/{c.id}/partners")
    assert listing.status_code == 200
    add = f'<form method="get" action="/t/{c.id}/partners/new"><button type="submit" class="primary">'
    assert add + "Add partner</button>" in listing.text
    wizard = b.get(f"/t/{c.id}/partners/new")
    for label in ("Partner domain", "Expires in (days)", "I agree to the terms"):
        assert f">{label}</label>" in wizard.text, label
    for event in (
        "room.update",
        "update_ring.change",
        "incident.create",
        "ticket.update",
        "partner_role.change",
    ):
        assert f'name="policy.{event}"' in wizard.text, event
    assert rooms[0]["name"] in wizard.text and "US rooms" in wizard.text
    assert ">Review</button>" in wizard.text and "Send invitation" not in wizard.text

    review = b.post(f"/t/{c.id}/partners/new/review", _wizard_form(p, rooms, group))
    assert review.status_code == 200, review.text[-2000:]
    assert ">Send invitation</button>" in review.text
    assert p.domain in review.text and rooms[1]["name"] in review.text and "US rooms" in review.text
    assert "Changes to a room (room.update): Manual approval" in review.text
    assert p.name not in review.text  # the partner is named only once the invitation exists
    assert api(world, c, "/partner-invitations")["items"] == []  # nothing sent yet

    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', review.text))
    sent = b.post(
        f"/t/{c.id}/partners/new",
        {**_wizard_form(p, rooms, group), "csrf_token": hidden["csrf_token"]},
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("/partners?done=invited")
    [inv] = api(world, c, "/partner-invitations")["items"]
    assert inv["status"] == "pending" and inv["partner_id"] == p.id
    assert inv["approval_policy"]["room.update"] == "manual"
    assert inv["approval_policy"]["incident.create"] == "auto"
    assert inv["scope"] == {"all": False, "rooms": [rooms[1]["id"]], "room_groups": [group["id"]]}
    listing = b.get(f"/t/{c.id}/partners?done=invited")
    assert (
        "The invitation was sent." in listing.text and p.name in listing.text and ">Pending<" in listing.text
    )


def test_change_the_invitation_returns_to_the_form_with_every_value(world, customer):
    c, p, rooms, group, b = customer
    back = b.post(f"/t/{c.id}/partners/new/review", {**_wizard_form(p, rooms, group), "change": "1"})
    assert back.status_code == 200 and ">Review</button>" in back.text
    assert value_of(back, "partner_domain") == p.domain and value_of(back, "expires_in_days") == "10"
    assert re.search(rf'value="{rooms[1]["id"]}" checked', back.text)
    assert re.search(rf'value="{group["id"]}" checked', back.text)
    assert not re.search(rf'value="{rooms[0]["id"]}" checked', back.text)
    assert '<option value="manual" selected>' in back.text


def test_a_refused_wizard_says_why_next_to_each_field_and_keeps_the_rest(world, customer):
    c, p, rooms, group, b = customer
    form = _wizard_form(p, rooms, group, expires_in_days="45", partner_domain="", terms_accepted="")
    page = b.post(f"/t/{c.id}/partners/new/review", form)
    assert page.status_code == 422
    assert "1 to 30" in error_of(page, "expires_in_days")
    assert "Agree to the terms" in error_of(page, "terms_accepted")
    assert "domain" in error_of(page, "partner_domain")
    assert value_of(page, "expires_in_days") == "45"
    assert re.search(rf'value="{rooms[1]["id"]}" checked', page.text)
    # sending to a domain no tenant owns: refused next to the field, recorded, nothing sent
    unknown = b.post(
        f"/t/{c.id}/partners/new", _wizard_form(p, rooms, group, partner_domain="nobody.example")
    )
    assert (
        unknown.status_code == 422
        and "no tenant with that domain" in error_of(unknown, "partner_domain").lower()
    )
    assert value_of(unknown, "partner_domain") == "nobody.example"
    # a second pending invitation to the same partner: a conflict next to the domain
    invite(world, c, p)
    again = b.post(f"/t/{c.id}/partners/new", _wizard_form(p, rooms, group))
    assert again.status_code == 409 and "already exists" in error_of(again, "partner_domain")
    failed = api(world, c, "/audit-logs?category=PartnerInvitation&result_status=Failed")["items"]
    assert len([r for r in failed if r["user_id"] == c.admin.id]) == 2


def test_a_pending_invitation_is_revoked_after_a_confirmation(world, customer):
    c, p, _, _, b = customer
    inv = invite(world, c, p)
    listing = b.get(f"/t/{c.id}/partners")
    href = f"/t/{c.id}/partner-invitations/{inv['id']}/revoke"
    assert f'href="{href}"' in listing.text
    confirm = b.get(href)
    assert confirm.status_code == 200 and ">Revoke invitation</button>" in confirm.text
    done = b.post(href)
    assert done.status_code == 303 and done.headers["location"].endswith("?done=revoked")
    assert api(world, c, f"/partner-invitations/{inv['id']}")["status"] == "revoked"
    assert f'href="{href}"' not in b.get(f"/t/{c.id}/partners").text
    assert b.post(href).status_code == 409  # a revoked invitation cannot be revoked again


def test_partners_pages_need_partners_manage_over_all_rooms(world, app, customer):
    c, p, rooms, _, _ = customer
    lead = world.user(c)
    world.assign(c, c.roles["Site Lead"], users=[lead], scope={"rooms": [rooms[0]["id"]]})
    b = signed_in(world, app, lead)
    for path in ("/partners", "/partners/new"):
        assert b.get(f"/t/{c.id}{path}").status_code == 403, path
    refused = b.post(f"/t/{c.id}/partners/new", _wizard_form(p, rooms, {"id": str(uuid.uuid4())}))
    assert refused.status_code == 403
    assert api(world, c, "/partner-invitations")["items"] == []


# -- a partner's page -------------------------------------------------------------------------------


@pytest.fixture
def linked(world, app, customer):  # type: ignore[no-untyped-def]
    c, p, rooms, group, b = customer
    lk = link(world, c, p, scope={"room_groups": [group["id"]]})
    helper = world.user(p, name="helper")
    role = expect(
        world.client.post(
            f"/api/v1/tenants/{c.id}/roles",
            json={"name": "Partner desk", "permissions": ["rooms.view", "tickets.view"]},
            headers=p.admin.headers,
        ),
        201,
    )
    expect(
        world.client.post(
            f"/api/v1/tenants/{c.id}/roles/{role['id']}/assignments",
            json={"name": "Desk", "members": [{"type": "user", "id": helper.id}], "scope": {"all": True}},
            headers=p.admin.headers,
        ),
        201,
    )
    return c, p, rooms, group, b, lk, helper


def test_a_partners_page_shows_state_policy_scope_roles_and_primary_admins(world, linked):
    c, p, _rooms, _group, b, lk, _ = linked
    page = b.get(f"/t/{c.id}/partners/{lk['id']}")
    assert page.status_code == 200
    assert f"<h1>{p.name}</h1>" in page.text and ">Active<" in page.text
    assert ">Remove partner</button>" in page.text
    assert "Room groups: US rooms." in page.text
    primary = page.text.split("<h2>Primary admins</h2>", 1)[1].split("<h2>", 1)[0]
    assert p.admin.upn in primary
    assert "Partner desk" in page.text and "Desk:" in page.text
    assert page.text.count('<option value="auto" selected>') == 5


def test_change_control_is_edited_through_the_link(world, linked):
    c, _, _, _, b, lk, _ = linked
    url = f"/t/{c.id}/partners/{lk['id']}/policy"
    done = b.post(url, {"policy.incident.create": "manual", "approval_expires_in_days": "3"})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=policy")
    read = api(world, c, f"/partners/{lk['id']}")
    assert read["approval_policy"]["incident.create"] == "manual"
    assert read["approval_policy"]["room.update"] == "auto" and read["approval_expires_in_days"] == 3
    refused = b.post(url, {"policy.room.update": "manual", "approval_expires_in_days": "200"})
    assert refused.status_code == 422 and "1 to 90" in error_of(refused, "approval_expires_in_days")
    assert value_of(refused, "approval_expires_in_days") == "200"
    assert api(world, c, f"/partners/{lk['id']}")["approval_policy"]["room.update"] == "auto"


def test_the_activation_of_eligible_roles_is_change_control_in_the_form(world, linked):
    """SPEC §4: elevation.activate is a change-control event, manual by default; the form
    shows and sets it, and a form that does not send it keeps it."""
    c, _, _, _, b, lk, _ = linked
    page = b.get(f"/t/{c.id}/partners/{lk['id']}").text
    row = page.split("Activating an eligible role (elevation.activate)", 1)[1].split("</select>", 1)[0]
    assert '<option value="manual" selected>' in row
    url = f"/t/{c.id}/partners/{lk['id']}/policy"
    sent = b.post(url, {"policy.elevation.activate": "auto", "approval_expires_in_days": "7"})
    assert sent.status_code == 303
    assert api(world, c, f"/partners/{lk['id']}")["approval_policy"]["elevation.activate"] == "auto"
    kept = b.post(url, {"policy.room.update": "manual", "approval_expires_in_days": "7"})
    assert kept.status_code == 303
    policy = api(world, c, f"/partners/{lk['id']}")["approval_policy"]
    assert policy["elevation.activate"] == "auto" and policy["room.update"] == "manual"


def test_the_delegation_is_replaced_and_applies_on_the_next_request(world, linked):
    c, _p, rooms, _group, b, lk, helper = linked
    room_url = f"/api/v1/tenants/{c.id}/rooms/{rooms[0]['id']}"
    assert world.client.get(room_url, headers=helper.headers).status_code == 200
    url = f"/t/{c.id}/partners/{lk['id']}/scope"
    done = b.post(url, {"scope": "listed", "rooms": [rooms[1]["id"]]})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=scope")
    assert api(world, c, f"/partners/{lk['id']}")["scope"] == {
        "all": False,
        "rooms": [rooms[1]["id"]],
        "room_groups": [],
    }
    assert world.client.get(room_url, headers=helper.headers).status_code == 404
    assert b.post(url, {"scope": "all"}).status_code == 303
    assert api(world, c, f"/partners/{lk['id']}")["scope"]["all"] is True
    assert world.client.get(room_url, headers=helper.headers).status_code == 200


def _version_field(page) -> list[str]:  # type: ignore[no-untyped-def]
    return re.findall(r'<input type="hidden" name="version" value="(\d+)">', page.text)


def test_a_scope_form_from_an_older_version_does_not_undo_another_change(world, app, linked):
    """Two admins on the same partner's page: the second save, drawn before the first one,
    would replace the scope with what it saw. It carries the link's version (If-Match), so it
    is refused in words and changes nothing; after a reload it saves."""
    c, _p, rooms, group, b, lk, _ = linked
    other = world.user(c, ga=True, name="other")
    page = b.get(f"/t/{c.id}/partners/{lk['id']}")
    version = api(world, c, f"/partners/{lk['id']}")["version"]
    assert _version_field(page) == [str(version), str(version)]  # change control, delegated rooms
    # meanwhile another admin adds the DE room (through the API, as a script would)
    expect(
        world.client.post(
            f"/api/v1/tenants/{c.id}/partners/{lk['id']}/scope/rooms",
            json={"room_ids": [rooms[1]["id"]]},
            headers=other.headers,
        ),
        200,
    )
    url = f"/t/{c.id}/partners/{lk['id']}/scope"
    stale = b.post(url, {"scope": "listed", "room_groups": [group["id"]], "version": str(version)})
    assert stale.status_code == 412
    assert "Someone else changed this partner's delegated rooms" in html.unescape(error_of(stale, "scope"))
    assert "Reload the page</a>" in stale.text
    assert _version_field(stale)[1] == str(version)  # still the old one: a second try is refused too
    assert api(world, c, f"/partners/{lk['id']}")["scope"] == {
        "all": False,
        "rooms": [rooms[1]["id"]],
        "room_groups": [group["id"]],
    }
    refused = api(world, c, "/audit-logs?category=Partner&result_status=Failed")["items"]
    assert [(r["operation"], r["details"]["status"]) for r in refused][:1] == [("Update", 412)]
    # the change control form is refused the same way
    policy = b.post(
        f"/t/{c.id}/partners/{lk['id']}/policy",
        {"policy.room.update": "manual", "approval_expires_in_days": "7", "version": str(version)},
    )
    assert policy.status_code == 412
    assert '<p class="field-error">Someone else changed this partner&#39;s change control' in policy.text
    assert api(world, c, f"/partners/{lk['id']}")["approval_policy"]["room.update"] == "auto"
    # reloaded, the page carries the new version and the save goes through
    fresh = b.get(f"/t/{c.id}/partners/{lk['id']}")
    (now,) = set(_version_field(fresh))
    assert int(now) > version
    done = b.post(url, {"scope": "listed", "room_groups": [group["id"]], "version": now})
    assert done.status_code == 303
    assert api(world, c, f"/partners/{lk['id']}")["scope"]["rooms"] == []
    # a form without the field (an older page) stays unconditional
    assert b.post(url, {"scope": "all", "version": "not a number"}).status_code == 303


def test_effective_access_names_the_role_assignment_scope_and_link(world, linked):
    c, p, rooms, _group, b, lk, helper = linked
    page = b.get(f"/t/{c.id}/partners/{lk['id']}?room={rooms[0]['id']}")
    assert page.status_code == 200
    panel = page.text.split('id="effective-access"', 1)[1]
    mine = panel.split(f'id="x-{helper.id}"', 1)[1].split("</section>", 1)[0]
    assert "View rooms, View tickets" in mine and "Partner desk" in mine and "Desk" in mine
    assert f"through the partner link with {p.name}" in mine and "All rooms" in mine
    admin = panel.split(f'id="x-{p.admin.id}"', 1)[1].split("</section>", 1)[0]
    assert "Primary admins" in admin
    # the API's answer is the same
    explained = api(world, c, f"/access/explain?user_id={helper.id}&room_id={rooms[0]['id']}")
    assert explained["permissions"] == ["rooms.view", "tickets.view"]
    # a room outside the delegation
    outside = b.get(f"/t/{c.id}/partners/{lk['id']}?room={rooms[1]['id']}")
    assert "is outside the rooms delegated to" in outside.text
    # a room that is not there reads as a choice to make again
    missing = b.get(f"/t/{c.id}/partners/{lk['id']}?room={uuid.uuid4()}")
    assert missing.status_code == 200 and "Choose a room from the list" in error_of(missing, "room")


def test_remove_partner_asks_for_confirmation_then_offboards(world, linked):
    c, _p, rooms, _, b, lk, helper = linked
    confirm = b.get(f"/t/{c.id}/partners/{lk['id']}/remove")
    assert (
        confirm.status_code == 200 and '<button type="submit" class="danger">Remove</button>' in confirm.text
    )
    assert api(world, c, f"/partners/{lk['id']}")["status"] == "active"  # the question changes nothing
    done = b.post(f"/t/{c.id}/partners/{lk['id']}/remove")
    assert done.status_code == 303 and done.headers["location"].endswith("/partners?done=removed")
    assert api(world, c, f"/partners/{lk['id']}")["status"] == "ended"
    room_url = f"/api/v1/tenants/{c.id}/rooms/{rooms[0]['id']}"
    assert world.client.get(room_url, headers=helper.headers).status_code == 404
    page = b.get(f"/t/{c.id}/partners/{lk['id']}")
    assert ">Removed<" in page.text and "Remove partner" not in page.text
    assert b.post(f"/t/{c.id}/partners/{lk['id']}/remove").status_code == 409
    log = api(world, c, "/audit-logs?category=Partner")["items"]
    assert any(r["operation"] == "Delete" and r["result_status"] == "Successful" for r in log)


def test_another_tenants_link_is_the_same_404(world, app, linked):
    c, p, _, _, b, _lk, _ = linked
    other = world.tenant()
    theirs = link(world, other, p)
    for path in (
        f"/partners/{theirs['id']}",
        f"/partners/{theirs['id']}/remove",
        f"/partners/{uuid.uuid4()}",
        "/partners/not-an-id",
    ):
        page = b.get(f"/t/{c.id}{path}")
        assert page.status_code == 404 and "There is nothing at this address that you can see." in page.text
    assert b.post(f"/t/{c.id}/partners/{theirs['id']}/remove").status_code == 404
    assert b.post(f"/t/{c.id}/partners/{theirs['id']}/scope", {"scope": "all"}).status_code == 404
    assert api(world, other, f"/partners/{theirs['id']}")["status"] == "active"
    inv = invite(world, other, world.tenant())
    assert b.get(f"/t/{c.id}/partner-invitations/{inv['id']}/revoke").status_code == 404
    assert b.post(f"/t/{c.id}/partner-invitations/{inv['id']}/revoke").status_code == 404


# -- the user page's panel --------------------------------------------------------------------------


def test_a_users_page_explains_its_access_on_a_room(world, app, customer):
    c, _, rooms, group, b = customer
    dana = world.user(c, name="dana")
    sg = world.security_group(c, [dana])
    role = world.role(c, ["rooms.view", "rooms.modify"], name="Movers")
    world.assign(c, role, groups=[sg], scope={"room_groups": [group["id"]]})
    page = b.get(f"/t/{c.id}/users/{dana.id}?room={rooms[0]['id']}")
    assert page.status_code == 200
    mine = page.text.split(f'id="x-{dana.id}"', 1)[1].split("</section>", 1)[0]
    assert "View rooms, Modify rooms" in mine and "Movers" in mine
    assert "the room group US rooms" in mine and "through the security group" in mine
    elsewhere = b.get(f"/t/{c.id}/users/{dana.id}?room={rooms[1]['id']}")
    assert "No permission on" in elsewhere.text
    # the Room field takes a room's name, as the partner page's does: no list of every room
    by_name = b.get(f"/t/{c.id}/users/{dana.id}", params={"room": rooms[0]["name"]})
    assert "View rooms, Modify rooms" in by_name.text.split(f'id="x-{dana.id}"', 1)[1]
    assert "<option" not in b.get(f"/t/{c.id}/users/{dana.id}").text.split('id="effective-access"', 1)[1]
    assert "There is no room with that name" in b.get(f"/t/{c.id}/users/{dana.id}?room=nonsense").text


def test_accepting_shows_the_link_on_the_list(world, customer):
    c, p, _, _, b = customer
    inv = invite(world, c, p)
    lk = expect(accept(world, p.admin, inv["id"]), 201)
    listing = b.get(f"/t/{c.id}/partners")
    assert f'href="/t/{c.id}/partners/{lk["id"]}"' in listing.text and ">Accepted<" in listing.text


def test_the_roles_page_names_the_partner_of_each_partner_role(world, app):  # type: ignore[no-untyped-def]
    """A customer with two partners sees two "Primary admins" roles; each row says whose."""
    c = world.tenant()
    partners = [world.tenant(), world.tenant()]
    for p in partners:
        link(world, c, p)
    b = signed_in(world, app, c.admin)
    page = b.get(f"/t/{c.id}/roles")
    assert page.status_code == 200
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, re.S)
    primary = [r for r in rows if ">Primary admins</a>" in r]
    assert len(primary) == 2
    for p in partners:
        assert sum(f"<td>{html.escape(p.name)}</td>" in r for r in primary) == 1, p.name
    role_id = re.search(r'href="/t/[^"]+/roles/([^"]+)"', primary[0]).group(1)  # type: ignore[union-attr]
    detail = b.get(f"/t/{c.id}/roles/{role_id}")
    assert any(f"of the partner {html.escape(p.name)}." in detail.text for p in partners)


def test_the_role_form_groups_permissions_by_feature_with_their_names(world, app):  # type: ignore[no-untyped-def]
    """Permissions read as the seed's Table 1: grouped by feature, each by its name, with
    its id beside it."""
    c = world.tenant()
    b = signed_in(world, app, c.admin)
    form = b.get(f"/t/{c.id}/roles/new").text
    legends = re.findall(r"<legend>([^<]+)</legend>", form)
    assert legends[:4] == ["Permissions", "Rooms", "Group management", "Update ring management"]
    assert ">View rooms <code>rooms.view</code>" in form
    assert ">Create customer incidents <code>incidents.create</code>" in form
    roles = api(world, c, "/roles?limit=100")["items"]
    msa = next(r for r in roles if r["name"] == "Managed Service Administrator")
    detail = b.get(f"/t/{c.id}/roles/{msa['id']}").text
    assert "<li>Export the audit log <code>audit.export</code></li>" in detail


def test_the_wizard_sets_how_long_the_link_lasts(world, customer):  # type: ignore[no-untyped-def]
    c, p, rooms, group, b = customer
    b.get(f"/t/{c.id}/partners/new")
    refused = b.post(f"/t/{c.id}/partners/new/review", _wizard_form(p, rooms, group, link_duration_days="0"))
    assert refused.status_code == 422
    assert "1 to 730" in error_of(refused, "link_duration_days")
    review = b.post(f"/t/{c.id}/partners/new/review", _wizard_form(p, rooms, group, link_duration_days="90"))
    assert review.status_code == 200 and "90 days after it is accepted" in review.text
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', review.text))
    assert hidden["link_duration_days"] == "90"
    sent = b.post(f"/t/{c.id}/partners/new", {**_wizard_form(p, rooms, group, link_duration_days="90")})
    assert sent.status_code == 303, sent.text[-1500:]
    (invitation,) = api(world, c, "/partner-invitations")["items"]
    assert invitation["link_duration_days"] == 90
    assert invitation["approval_policy"]["elevation.activate"] == "manual"
