"""Primary admins always keep a live member: an active user or a security group of the partner
tenant. Every way a member could disappear is refused when it is the last one."""

from __future__ import annotations

from typing import Any

from tests.factories import TenantH, World, expect
from tests.partners.helpers import accept, in_customer, invite


def _primary_assignment(world: World, c: TenantH, lk: dict[str, Any]) -> dict[str, Any]:
    url = f"/api/v1/tenants/{c.id}/roles/{lk['primary_admins_role_id']}/assignments"
    return expect(world.client.get(url, headers=c.admin.headers), 200)["items"][0]


def test_the_last_primary_admin_cannot_be_deactivated(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    pa = world.user(p)
    lk = expect(accept(world, p.admin, invite(world, c, p)["id"], [{"type": "user", "id": pa.id}]), 201)
    user_url = f"/api/v1/tenants/{p.id}/users/{pa.id}"
    refused = world.client.patch(user_url, json={"is_active": False}, headers=p.admin.headers)
    assert refused.status_code == 409 and "Primary admin" in refused.json()["detail"]
    expect(world.client.patch(user_url, json={"display_name": "Still here"}, headers=p.admin.headers), 200)
    # With a second, active member the first may go.
    a = _primary_assignment(world, c, lk)
    both = {"members": [{"type": "user", "id": pa.id}, {"type": "user", "id": p.admin.id}]}
    expect(in_customer(world, c, pa, "PATCH", f"/assignments/{a['id']}", both), 200)
    expect(world.client.patch(user_url, json={"is_active": False}, headers=p.admin.headers), 200)
    # Now the admin is the last live member, even though two users are named.
    admin_url = f"/api/v1/tenants/{p.id}/users/{p.admin.id}"
    second_ga = world.user(p, ga=True)  # so that the Global-admin rule is not what refuses
    assert world.client.delete(admin_url, headers=second_ga.headers).status_code == 409
    assert (
        world.client.patch(admin_url, json={"is_active": False}, headers=second_ga.headers).status_code == 409
    )


def test_primary_admins_must_name_a_live_member(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    gone = world.user(p)
    expect(
        world.client.patch(
            f"/api/v1/tenants/{p.id}/users/{gone.id}", json={"is_active": False}, headers=p.admin.headers
        ),
        200,
    )
    inv = invite(world, c, p)
    response = accept(world, p.admin, inv["id"], [{"type": "user", "id": gone.id}])
    assert response.status_code == 422 and "active user" in response.json()["detail"]
    assert accept(world, p.admin, inv["id"], []).status_code == 201  # empty: the acceptor
    a = _primary_assignment(
        world,
        c,
        expect(world.client.get(f"/api/v1/tenants/{c.id}/partners", headers=c.admin.headers), 200)["items"][
            0
        ],
    )
    url = f"/assignments/{a['id']}"
    assert (
        in_customer(
            world, c, p.admin, "PATCH", url, {"members": [{"type": "user", "id": gone.id}]}
        ).status_code
        == 422
    )
    assert a["members"] == [
        {"type": "user", "id": p.admin.id, "upn": p.admin.upn, "display_name": "Admin", "name": None}
    ]


def test_a_security_group_as_primary_admins(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    ops1, ops2 = world.user(p), world.user(p)
    group = world.security_group(p, [ops1, ops2])
    room = world.room(c)
    lk = expect(accept(world, p.admin, invite(world, c, p)["id"], [{"type": "group", "id": group}]), 201)
    # Members of the group act as Primary admins; group membership changes apply at once.
    expect(in_customer(world, c, ops1, "GET", f"/rooms/{room['id']}"), 200)
    assert in_customer(world, c, p.admin, "GET", f"/rooms/{room['id']}").status_code == 404
    expect(
        world.client.patch(
            f"/api/v1/tenants/{p.id}/security-groups/{group}",
            json={"member_ids": [ops2.id]},
            headers=p.admin.headers,
        ),
        200,
    )
    assert in_customer(world, c, ops1, "GET", f"/rooms/{room['id']}").status_code == 404
    # The group is the last member: it cannot be deleted; its users can (the group stays).
    group_url = f"/api/v1/tenants/{p.id}/security-groups/{group}"
    assert world.client.delete(group_url, headers=p.admin.headers).status_code == 409
    expect(world.client.delete(f"/api/v1/tenants/{p.id}/users/{ops1.id}", headers=p.admin.headers), 204)
    a = _primary_assignment(world, c, lk)
    assert [(m["type"], m["id"], m["upn"]) for m in a["members"]] == [("group", group, None)]
    assert a["members"][0]["name"]
    # Name a user too, and the group may go.
    body = {"members": [{"type": "group", "id": group}, {"type": "user", "id": ops2.id}]}
    expect(in_customer(world, c, ops2, "PATCH", f"/assignments/{a['id']}", body), 200)
    expect(world.client.delete(group_url, headers=p.admin.headers), 204)
    members = _primary_assignment(world, c, lk)["members"]
    assert [(m["type"], m["id"], m["upn"]) for m in members] == [("user", ops2.id, ops2.upn)]


def test_customers_own_users_are_not_held_by_a_partners_primary_admins(world: World) -> None:
    """The guard counts members of the tenant whose directory changes, nothing else."""
    c, p = world.tenant(), world.tenant()
    expect(accept(world, p.admin, invite(world, c, p)["id"]), 201)
    someone = world.user(c)
    expect(world.client.delete(f"/api/v1/tenants/{c.id}/users/{someone.id}", headers=c.admin.headers), 204)
    # Another tenant's Global admin deleting the partner's Primary admin by id: not visible.
    assert (
        world.client.delete(f"/api/v1/tenants/{c.id}/users/{p.admin.id}", headers=c.admin.headers).status_code
        == 404
    )


def test_primary_admins_role_and_assignment_are_fixed(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    lk = expect(accept(world, p.admin, invite(world, c, p)["id"]), 201)
    role_id = lk["primary_admins_role_id"]
    role = expect(in_customer(world, c, p.admin, "GET", f"/roles/{role_id}"), 200)
    assert (role["name"], role["kind"], role["partner_link_id"]) == (
        "Primary admins",
        "partner_builtin",
        lk["id"],
    )
    assert set(role["permissions"]) == {
        "rooms.view", "rooms.modify", "groups.view", "rings.view", "rings.modify", "reports.view",
        "incidents.create", "tickets.view", "tickets.update", "roles.view", "roles.modify",
    }  # fmt: skip
    assert in_customer(world, c, p.admin, "PATCH", f"/roles/{role_id}", {"name": "Boss"}).status_code == 403
    assert in_customer(world, c, p.admin, "DELETE", f"/roles/{role_id}").status_code == 403
    # A second assignment of Primary admins would be a second, narrower Primary admins.
    helper = world.user(p)
    body = {"name": "x", "members": [{"type": "user", "id": helper.id}], "scope": {"all": True}}
    extra = in_customer(world, c, p.admin, "POST", f"/roles/{role_id}/assignments", body)
    assert extra.status_code == 409
    # A custom partner role may not take the built-in's name.
    dup = in_customer(
        world, c, p.admin, "POST", "/roles", {"name": "Primary admins", "permissions": ["rooms.view"]}
    )
    assert dup.status_code == 409
    # The customer cannot edit or delete it either: removing the partner is how it ends.
    assert (
        world.client.patch(
            f"/api/v1/tenants/{c.id}/roles/{role_id}", json={"name": "x"}, headers=c.admin.headers
        ).status_code
        == 403
    )
    assert (
        world.client.delete(f"/api/v1/tenants/{c.id}/roles/{role_id}", headers=c.admin.headers).status_code
        == 409
    )
