"""Partner roles inside a link, the Primary admins rule, off-boarding from the partner side
and the aggregate ticket view."""

from __future__ import annotations

from tests.factories import World, expect
from tests.partners.helpers import in_customer, invite, link


def _setup(world: World):  # type: ignore[no-untyped-def]
    c, p = world.tenant("Customer"), world.tenant("Partner")
    inside, outside = world.room(c), world.room(c)
    group = world.room_group(c, [inside["id"]])
    lk = link(world, c, p, scope={"room_groups": [group["id"]]})
    return c, p, inside, outside, group, lk


def test_partner_custom_roles_stay_inside_the_link(world: World) -> None:
    c, p, _inside, outside, group, lk = _setup(world)
    pa = p.admin
    bad_perm = in_customer(
        world, c, pa, "POST", "/roles", {"name": "Keys", "permissions": ["rooms.download_key"]}
    )
    assert bad_perm.status_code == 422
    role = expect(
        in_customer(world, c, pa, "POST", "/roles", {"name": "Desk", "permissions": ["tickets.view"]}), 201
    )
    assert (role["kind"], role["partner_link_id"]) == ("partner_custom", lk["id"])
    helper, stranger = world.user(p), world.user(c)
    assign = f"/roles/{role['id']}/assignments"
    outside_scope = {
        "name": "A",
        "members": [{"type": "user", "id": helper.id}],
        "scope": {"rooms": [outside["id"]]},
    }
    assert in_customer(world, c, pa, "POST", assign, outside_scope).status_code == 422
    foreign = {"name": "A", "members": [{"type": "user", "id": stranger.id}], "scope": {"all": True}}
    assert in_customer(world, c, pa, "POST", assign, foreign).status_code == 422
    ok = {
        "name": "A",
        "members": [{"type": "user", "id": helper.id}],
        "scope": {"room_groups": [group["id"]]},
    }
    expect(in_customer(world, c, pa, "POST", assign, ok), 201)
    # The customer lists partner roles with their kind and link, and may delete them.
    roles = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/roles?kind=partner_custom", headers=c.admin.headers), 200
    )["items"]
    assert [(r["name"], r["partner_link_id"]) for r in roles] == [("Desk", lk["id"])]
    assert (
        world.client.patch(
            f"/api/v1/tenants/{c.id}/roles/{role['id']}", json={"name": "x"}, headers=c.admin.headers
        ).status_code
        == 403
    )
    expect(world.client.delete(f"/api/v1/tenants/{c.id}/roles/{role['id']}", headers=c.admin.headers), 204)
    assert in_customer(world, c, helper, "GET", "/tickets").status_code == 404
    primary = lk["primary_admins_role_id"]
    refused = world.client.delete(f"/api/v1/tenants/{c.id}/roles/{primary}", headers=c.admin.headers)
    assert refused.status_code == 409


def test_primary_admins_are_never_empty(world: World) -> None:
    c, p, *_ = _setup(world)
    second = world.user(p)
    primary_role = expect(in_customer(world, c, p.admin, "GET", "/roles?kind=partner_builtin"), 200)["items"][
        0
    ]
    assignments = expect(
        in_customer(world, c, p.admin, "GET", f"/roles/{primary_role['id']}/assignments"), 200
    )
    a = assignments["items"][0]
    url = f"/assignments/{a['id']}"
    assert in_customer(world, c, p.admin, "PATCH", url, {"members": []}).status_code == 422
    assert in_customer(world, c, p.admin, "DELETE", url).status_code == 409
    assert in_customer(world, c, p.admin, "PATCH", url, {"scope": {"all": True}}).status_code == 422
    expect(
        in_customer(world, c, p.admin, "PATCH", url, {"members": [{"type": "user", "id": second.id}]}), 200
    )
    # The last member cannot be deleted from the directory either.
    gone = world.client.delete(f"/api/v1/tenants/{p.id}/users/{second.id}", headers=p.admin.headers)
    assert gone.status_code == 409
    expect(
        in_customer(
            world,
            c,
            second,
            "PATCH",
            url,
            {"members": [{"type": "user", "id": second.id}, {"type": "user", "id": p.admin.id}]},
        ),
        200,
    )
    expect(world.client.delete(f"/api/v1/tenants/{p.id}/users/{second.id}", headers=p.admin.headers), 204)


def test_partner_primary_admin_removes_the_customer(world: World) -> None:
    c, p, inside, *_ = _setup(world)
    lk_id = expect(world.client.get("/api/v1/partner/customers", headers=p.admin.headers), 200)["items"][0][
        "id"
    ]
    member = world.user(p)
    desk = expect(
        in_customer(world, c, p.admin, "POST", "/roles", {"name": "D", "permissions": ["rooms.view"]}), 201
    )
    expect(
        in_customer(
            world,
            c,
            p.admin,
            "POST",
            f"/roles/{desk['id']}/assignments",
            {"name": "A", "members": [{"type": "user", "id": member.id}], "scope": {"all": True}},
        ),
        201,
    )
    url = f"/api/v1/partner/customers/{lk_id}"
    assert world.client.delete(f"{url}?confirm=true", headers=member.headers).status_code == 403
    assert world.client.delete(url, headers=p.admin.headers).status_code == 422
    assert in_customer(world, c, member, "GET", f"/rooms/{inside['id']}").status_code == 200
    expect(world.client.delete(f"{url}?confirm=true", headers=p.admin.headers), 204)
    for user in (p.admin, member):
        assert in_customer(world, c, user, "GET", f"/rooms/{inside['id']}").status_code == 404
    links = expect(world.client.get(f"/api/v1/tenants/{c.id}/partners", headers=c.admin.headers), 200)[
        "items"
    ]
    assert links[0]["status"] == "ended" and links[0]["ended_at"]
    invite(world, c, p)  # a new relationship can start over


def test_aggregate_ticket_view_only_where_the_customer_enabled_it(world: World) -> None:
    p = world.tenant("Partner")
    a, b = world.tenant("Alpha"), world.tenant("Beta")
    tickets = {}
    for customer in (a, b):
        room = world.room(customer)
        tickets[customer.id] = world.incident(customer, room["id"])["id"]
        link(world, customer, p)
    view = "/api/v1/partner/tickets"
    assert expect(world.client.get(view, headers=p.admin.headers), 200)["items"] == []
    expect(
        world.client.patch(
            f"/api/v1/tenants/{a.id}/settings",
            json={"enable_all_tickets_view": True},
            headers=a.admin.headers,
        ),
        200,
    )
    items = expect(world.client.get(view, headers=p.admin.headers), 200)["items"]
    assert [(t["id"], t["customer_name"]) for t in items] == [(tickets[a.id], "Alpha")]
    expect(
        world.client.patch(
            f"/api/v1/tenants/{b.id}/settings",
            json={"enable_all_tickets_view": True},
            headers=b.admin.headers,
        ),
        200,
    )
    both = {t["id"] for t in expect(world.client.get(view, headers=p.admin.headers), 200)["items"]}
    assert both == set(tickets.values())
    only_b = expect(world.client.get(f"{view}?customer_id={b.id}", headers=p.admin.headers), 200)["items"]
    assert [t["id"] for t in only_b] == [tickets[b.id]]
    assert (
        world.client.get(f"{view}?customer_id={world.tenant().id}", headers=p.admin.headers).status_code
        == 404
    )


def test_require_mfa_for_partners(world: World) -> None:
    c, p, *_ = _setup(world)
    expect(
        world.client.patch(
            f"/api/v1/tenants/{c.id}/settings",
            json={"require_mfa_for_partners": True},
            headers=c.admin.headers,
        ),
        200,
    )
    assert in_customer(world, c, p.admin, "GET", "/rooms").status_code == 403
    with_mfa = world.headers(p.admin.id, p.id, mfa=True)
    assert world.client.get(f"/api/v1/tenants/{c.id}/rooms", headers=with_mfa).status_code == 200
