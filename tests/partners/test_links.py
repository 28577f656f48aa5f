"""Links from both sides: the customer's reads and delegation changes, the partner's view of
its customers (the delegated rooms only for role holders), off-boarding states, and the
one-step helper the demo uses."""

from __future__ import annotations

import uuid

import pytest

from roomwarden.access.resolver import resolve_access
from roomwarden.access.schemas import MemberRef, ScopeIn
from roomwarden.identity.principal import Principal
from roomwarden.partners.links import establish_link
from roomwarden.partners.schemas import ApprovalPolicy
from tests.factories import World, expect
from tests.partners.helpers import in_customer, invite, link

POLICY_EVENTS = {
    "room.update",
    "update_ring.change",
    "incident.create",
    "ticket.update",
    "partner_role.change",
}


def test_customer_reads_links_with_partner_scope_policy_and_status(world: World) -> None:
    c, p = world.tenant("Cust"), world.tenant("Part")
    room = world.room(c)
    lk = link(world, c, p, scope={"rooms": [room["id"]]})
    base = f"/api/v1/tenants/{c.id}/partners"
    items = expect(world.client.get(base, headers=c.admin.headers), 200)["items"]
    assert len(items) == 1
    item = items[0]
    assert (item["partner_id"], item["partner_name"], item["status"]) == (p.id, "Part", "active")
    assert item["scope"] == {"all": False, "rooms": [room["id"]], "room_groups": []}
    assert item["approval_policy"] == {**dict.fromkeys(POLICY_EVENTS, "auto"), "elevation.activate": "manual"}
    one = expect(world.client.get(f"{base}/{lk['id']}", headers=c.admin.headers), 200)
    assert one == item
    assert expect(world.client.get(f"{base}?status=ended", headers=c.admin.headers), 200)["items"] == []
    # Another customer's link is not there, whoever asks.
    other = world.tenant()
    assert (
        world.client.get(
            f"/api/v1/tenants/{other.id}/partners/{lk['id']}", headers=other.admin.headers
        ).status_code
        == 404
    )
    # Customer users without partners.manage over all rooms may not administer partners.
    lead = world.user(c)
    world.assign(c, c.roles["Site Lead"], users=[lead])
    assert world.client.get(base, headers=lead.headers).status_code == 403
    assert (
        world.client.patch(
            f"{base}/{lk['id']}", json={"scope": {"all": True}}, headers=lead.headers
        ).status_code
        == 403
    )


def test_policy_changes_are_validated_and_stored(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    lk = link(world, c, p)
    url = f"/api/v1/tenants/{c.id}/partners/{lk['id']}"
    for bad in ({"room.delete": "auto"}, {"room.update": "never"}, {"room_update": "manual"}):
        assert (
            world.client.patch(url, json={"approval_policy": bad}, headers=c.admin.headers).status_code == 422
        )
    assert world.client.patch(url, json={"colour": "red"}, headers=c.admin.headers).status_code == 422
    changed = expect(
        world.client.patch(url, json={"approval_policy": {"room.update": "manual"}}, headers=c.admin.headers),
        200,
    )
    assert changed["approval_policy"]["room.update"] == "manual"
    assert changed["approval_policy"]["ticket.update"] == "auto"
    assert changed["scope"] == {"all": True, "rooms": [], "room_groups": []}  # untouched
    # A scope naming another tenant's room is invalid input.
    foreign = world.room(world.tenant())
    bad_scope = {"scope": {"rooms": [foreign["id"]]}}
    assert world.client.patch(url, json=bad_scope, headers=c.admin.headers).status_code == 422


def test_widening_takes_effect_on_the_next_request(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    a, b = world.room(c), world.room(c)
    lk = link(world, c, p, scope={"rooms": [a["id"]]})
    assert in_customer(world, c, p.admin, "GET", f"/rooms/{b['id']}").status_code == 404
    url = f"/api/v1/tenants/{c.id}/partners/{lk['id']}"
    expect(
        world.client.patch(url, json={"scope": {"rooms": [a["id"], b["id"]]}}, headers=c.admin.headers), 200
    )
    expect(in_customer(world, c, p.admin, "GET", f"/rooms/{b['id']}"), 200)
    expect(world.client.patch(url, json={"scope": {"all": True}}, headers=c.admin.headers), 200)
    later = world.room(c)  # "all" means rooms created later too
    expect(in_customer(world, c, p.admin, "GET", f"/rooms/{later['id']}"), 200)


def test_ended_links_cannot_change_or_end_again(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    lk = link(world, c, p)
    url = f"/api/v1/tenants/{c.id}/partners/{lk['id']}"
    assert world.client.delete(f"{url}?confirm=false", headers=c.admin.headers).status_code == 422
    assert world.client.delete(f"{url}?confirm=maybe", headers=c.admin.headers).status_code == 422
    assert expect(world.client.get(url, headers=c.admin.headers), 200)["status"] == "active"
    expect(world.client.delete(f"{url}?confirm=true", headers=c.admin.headers), 204)
    assert world.client.delete(f"{url}?confirm=true", headers=c.admin.headers).status_code == 409
    assert world.client.patch(url, json={"scope": {"all": True}}, headers=c.admin.headers).status_code == 409
    ended = expect(world.client.get(url, headers=c.admin.headers), 200)
    assert ended["status"] == "ended" and ended["primary_admins_role_id"] is None
    # The partner roles went with the link.
    roles = expect(world.client.get(f"/api/v1/tenants/{c.id}/roles", headers=c.admin.headers), 200)["items"]
    assert not [r for r in roles if r["partner_link_id"] == lk["id"]]
    partner_side = f"/api/v1/partner/customers/{lk['id']}"
    assert world.client.delete(f"{partner_side}?confirm=true", headers=p.admin.headers).status_code == 404
    assert world.client.get(partner_side, headers=p.admin.headers).status_code == 404


def test_partner_sees_delegated_rooms_of_a_link_only_with_a_role_there(world: World) -> None:
    c, p = world.tenant("Visible Customer"), world.tenant()
    room = world.room(c)
    manager = world.user(p)
    expect(
        world.client.post(
            "/api/v1/partner/tenant-managers", json={"user_id": manager.id}, headers=p.admin.headers
        ),
        201,
    )
    inv = invite(world, c, p, scope={"rooms": [room["id"]]})
    accepted = expect(
        world.client.post(
            f"/api/v1/partner/invitations/{inv['id']}/accept",
            json={"primary_admins": [{"type": "user", "id": p.admin.id}]},
            headers=manager.headers,
        ),
        201,
    )
    # The accepting tenant manager holds no role: it learns the link, not the rooms.
    assert accepted["holds_role"] is False and accepted["scope"] is None
    assert accepted["scope_size"] == {"all": False, "rooms": 1, "room_groups": 0}
    as_manager = expect(world.client.get("/api/v1/partner/customers", headers=manager.headers), 200)["items"]
    assert [(x["customer_name"], x["scope"], x["holds_role"]) for x in as_manager] == [
        ("Visible Customer", None, False)
    ]
    as_admin = expect(world.client.get("/api/v1/partner/customers", headers=p.admin.headers), 200)["items"]
    assert as_admin[0]["scope"]["rooms"] == [room["id"]] and as_admin[0]["holds_role"] is True
    one = expect(
        world.client.get(f"/api/v1/partner/customers/{accepted['id']}", headers=p.admin.headers), 200
    )
    assert one == as_admin[0]
    # A plain partner user without a role sees no customers; the customer sees no partner side.
    plain = world.user(p)
    assert expect(world.client.get("/api/v1/partner/customers", headers=plain.headers), 200)["items"] == []
    assert (
        world.client.get(f"/api/v1/partner/customers/{accepted['id']}", headers=plain.headers).status_code
        == 404
    )
    assert (
        world.client.get(f"/api/v1/partner/customers/{accepted['id']}", headers=c.admin.headers).status_code
        == 404
    )


def test_partner_customers_list_pages(world: World) -> None:
    p = world.tenant()
    customers = [world.tenant() for _ in range(3)]
    ids = {link(world, c, p)["id"] for c in customers}
    seen, cursor = [], None
    while True:
        url = "/api/v1/partner/customers?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = expect(world.client.get(url, headers=p.admin.headers), 200)
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 3 and set(seen) == ids


def test_establish_link_invites_and_accepts_through_the_services(world: World) -> None:
    c, p = world.tenant("Demo Customer"), world.tenant("Demo Partner")
    room = world.room(c)
    helper = world.user(p)
    with world.transaction() as session:
        customer = resolve_access(
            session,
            Principal(uuid.UUID(c.admin.id), uuid.UUID(c.id), c.admin.upn, "Admin", True),
            uuid.UUID(c.id),
        )
        acceptor = Principal(uuid.UUID(p.admin.id), uuid.UUID(p.id), p.admin.upn, "Admin", True)
        created = establish_link(
            session,
            customer,
            acceptor,
            partner_domain=p.domain,
            scope=ScopeIn(rooms=[uuid.UUID(room["id"])]),
            primary_admins=[MemberRef(type="user", id=uuid.UUID(helper.id))],
            approval_policy=ApprovalPolicy.model_validate({"ticket.update": "manual"}),
        )
        link_id = str(created.id)
    listed = expect(world.client.get(f"/api/v1/tenants/{c.id}/partners", headers=c.admin.headers), 200)[
        "items"
    ]
    assert [(x["id"], x["approval_policy"]["ticket.update"]) for x in listed] == [(link_id, "manual")]
    expect(in_customer(world, c, helper, "GET", f"/rooms/{room['id']}"), 200)
    assert in_customer(world, c, p.admin, "GET", "/rooms").status_code == 404  # not a Primary admin
    log = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/audit-logs?limit=200&order=asc", headers=c.admin.headers),
        200,
    )
    ops = {(r["category"], r["operation"]) for r in log["items"]}
    assert {("PartnerInvitation", "Create"), ("PartnerInvitation", "Approve"), ("Partner", "Create")} <= ops


@pytest.mark.parametrize("who", ["site_lead", "partner_admin"])
def test_review_step_needs_partners_manage(world: World, who: str) -> None:
    c, p = world.tenant(), world.tenant()
    body = {"partner_domain": p.domain, "expires_in_days": 3, "scope": {"all": True}, "terms_accepted": True}
    if who == "site_lead":
        user = world.user(c)
        world.assign(c, c.roles["Site Lead"], users=[user])
        want = 403
    else:
        link(world, c, p)
        user, want = p.admin, 404  # partners never see the customer's partner administration
    response = world.client.post(
        f"/api/v1/tenants/{c.id}/partner-invitations/review", json=body, headers=user.headers
    )
    assert response.status_code == want
    assert (
        world.client.post(
            f"/api/v1/tenants/{c.id}/partner-invitations", json=body, headers=user.headers
        ).status_code
        == want
    )


def test_customer_adds_rooms_through_the_primary_admins_assignment(world: World) -> None:
    """The seed's way: Settings > Roles > partner roles > Primary admins > assignment > scope."""
    c, p = world.tenant(), world.tenant()
    a, b = world.room(c), world.room(c)
    lk = link(world, c, p, scope={"rooms": [a["id"]]})
    base = f"/api/v1/tenants/{c.id}"
    assignments = f"{base}/roles/{lk['primary_admins_role_id']}/assignments"
    primary = expect(world.client.get(assignments, headers=c.admin.headers), 200)["items"][0]
    assert primary["scope"] == {"all": False, "rooms": [a["id"]], "room_groups": []}  # the link's scope
    # The partner reads the same, and may not change it.
    as_partner = expect(in_customer(world, c, p.admin, "GET", f"/assignments/{primary['id']}"), 200)
    assert as_partner["scope"] == primary["scope"]
    wider = {"scope": {"rooms": [a["id"], b["id"]]}}
    assert in_customer(world, c, p.admin, "PATCH", f"/assignments/{primary['id']}", wider).status_code == 422
    assert in_customer(world, c, p.admin, "GET", f"/rooms/{b['id']}").status_code == 404
    # The customer's edit is a change of the delegation, effective on the next request.
    changed = expect(
        world.client.patch(f"{assignments}/{primary['id']}", json=wider, headers=c.admin.headers), 200
    )
    assert sorted(changed["scope"]["rooms"]) == sorted([a["id"], b["id"]])
    expect(in_customer(world, c, p.admin, "GET", f"/rooms/{b['id']}"), 200)
    got = expect(world.client.get(f"{base}/partners/{lk['id']}", headers=c.admin.headers), 200)
    assert got["scope"] == changed["scope"]
    records = expect(
        world.client.get(f"{base}/audit-logs?limit=200&order=asc", headers=c.admin.headers), 200
    )["items"]
    assert [
        r["details"].get("scope") for r in records if (r["category"], r["operation"]) == ("Partner", "Update")
    ] == [wider["scope"] | {"all": False, "room_groups": []}]
    # Members and names stay the partner's; the delegation needs partners.manage.
    members = {"members": [{"type": "user", "id": world.user(c).id}]}
    assert (
        world.client.patch(
            f"{assignments}/{primary['id']}", json=members, headers=c.admin.headers
        ).status_code
        == 403
    )
    both = {**wider, "name": "Mine"}
    assert (
        world.client.patch(f"{assignments}/{primary['id']}", json=both, headers=c.admin.headers).status_code
        == 403
    )
    role_admin = world.user(c)
    world.assign(c, world.role(c, ["roles.view", "roles.modify"]), users=[role_admin])
    narrow = {"scope": {"rooms": []}}
    url = f"{assignments}/{primary['id']}"
    assert world.client.patch(url, json=narrow, headers=role_admin.headers).status_code == 403
    assert (
        world.client.patch(
            url, json={"scope": {"rooms": [str(uuid.uuid4())]}}, headers=c.admin.headers
        ).status_code
        == 422
    )
    expect(in_customer(world, c, p.admin, "GET", f"/rooms/{b['id']}"), 200)
