"""No one hands out more than they hold (issue 9, M6): a role created, changed or assigned by
anyone must hold only permissions of the caller, over scopes inside the caller's scope for
those permissions; only the Primary admins change who the Primary admins are."""

from __future__ import annotations

from typing import Any

from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import accept, in_customer, invite


def _role_manager(world: World, t: TenantH, scoped: list[str], scope: dict[str, Any]) -> UserH:
    """roles.view and roles.modify over all rooms, and ``scoped`` over ``scope``."""
    user = world.user(t)
    world.assign(t, world.role(t, ["roles.view", "roles.modify"]), users=[user])
    if scoped:
        world.assign(t, world.role(t, scoped), users=[user], scope=scope)
    return user


def _assign(world: World, t: TenantH, as_: UserH, role: str, scope: dict[str, Any], member: str) -> Any:
    body = {"name": "Grant", "members": [{"type": "user", "id": member}], "scope": scope}
    return world.post(t, f"/roles/{role}/assignments", body, as_=as_)


def test_roles_modify_alone_does_not_reach_the_msa_role(world: World) -> None:
    """The attack: roles.view + roles.modify, then the MSA role to itself, then the audit log
    and the enrollment keys."""
    t = world.tenant()
    room = world.room(t)
    manager = _role_manager(world, t, [], {})
    refused = _assign(world, t, manager, t.roles["Managed Service Administrator"], {"all": True}, manager.id)
    assert refused.status_code == 403 and "do not hold" in refused.json()["detail"]
    for perms in (["audit.export"], ["rooms.reset_key"], ["roles.view", "rooms.download_key"]):
        response = world.post(t, "/roles", {"name": f"Mine {perms}", "permissions": perms}, as_=manager)
        assert response.status_code == 403, perms
    own = expect(
        world.post(t, "/roles", {"name": "Role admins", "permissions": ["roles.view"]}, as_=manager), 201
    )
    expect(_assign(world, t, manager, own["id"], {"all": True}, world.user(t).id), 201)
    base = f"/api/v1/tenants/{t.id}"
    assert world.client.get(f"{base}/audit-logs", headers=manager.headers).status_code == 403
    key = world.client.get(f"{base}/rooms/{room['id']}/enrollment-key", headers=manager.headers)
    assert key.status_code == 404
    # The Global admin is bound by nothing here.
    expect(
        _assign(world, t, t.admin, t.roles["Managed Service Administrator"], {"all": True}, manager.id), 201
    )


def test_a_grant_stays_inside_the_grantors_scope(world: World) -> None:
    t = world.tenant()
    inside, outside = world.room(t), world.room(t)
    mine = world.room_group(t, [inside["id"]])
    same_rooms = world.room_group(t, [inside["id"]])  # holds only my rooms, but is not given to me
    manager = _role_manager(world, t, ["rooms.view", "tickets.view"], {"room_groups": [mine["id"]]})
    role = expect(
        world.post(
            t, "/roles", {"name": "Viewers", "permissions": ["rooms.view", "tickets.view"]}, as_=manager
        ),
        201,
    )["id"]
    member = world.user(t).id
    for scope, status in (
        ({"all": True}, 403),
        ({"rooms": [outside["id"]]}, 403),
        ({"room_groups": [same_rooms["id"]]}, 403),
        ({"rooms": [inside["id"], outside["id"]]}, 403),
        ({"rooms": [inside["id"]]}, 201),
        ({"room_groups": [mine["id"]]}, 201),
        ({"rooms": []}, 201),
    ):
        response = _assign(world, t, manager, role, scope, member)
        assert response.status_code == status, (scope, response.text)
    # Site Tech's permissions are not all the manager's: no scope makes that grant possible.
    assert (
        _assign(world, t, manager, t.roles["Site Tech"], {"rooms": [inside["id"]]}, member).status_code == 403
    )
    # A missing room is still a missing room (422), not a refusal.
    missing = _assign(world, t, manager, role, {"rooms": ["0190a0c0-0000-7000-8000-000000000000"]}, member)
    assert missing.status_code == 422


def test_changing_a_role_or_its_assignments_is_bound_by_their_reach(world: World) -> None:
    t = world.tenant()
    inside, outside = world.room(t), world.room(t)
    manager = _role_manager(world, t, ["rooms.view", "tickets.view"], {"rooms": [inside["id"]]})
    member = world.user(t)
    wide = world.role(t, ["rooms.view"])
    beyond = world.assign(t, wide, users=[member], scope={"rooms": [outside["id"]]})
    base = f"/api/v1/tenants/{t.id}"

    def call(method: str, path: str, body: Any = None) -> int:
        return world.client.request(method, base + path, json=body, headers=manager.headers).status_code

    # The role is given beyond the manager's scope: adding a permission, renaming it,
    # changing or removing that assignment, deleting the role: all refused.
    assert call("PATCH", f"/roles/{wide}", {"permissions": ["rooms.view", "tickets.view"]}) == 403
    assert call("PATCH", f"/roles/{wide}", {"name": "Renamed"}) == 403
    assert (
        call("PATCH", f"/assignments/{beyond['id']}", {"members": [{"type": "user", "id": manager.id}]})
        == 403
    )
    assert call("PATCH", f"/assignments/{beyond['id']}", {"scope": {"rooms": [inside["id"]]}}) == 403
    assert call("DELETE", f"/assignments/{beyond['id']}") == 403
    assert call("DELETE", f"/roles/{wide}") == 403
    # Its own grant inside its scope it may move, but not outward.
    own = expect(_assign(world, t, manager, wide, {"rooms": [inside["id"]]}, member.id), 201)
    assert call("PATCH", f"/assignments/{own['id']}", {"scope": {"rooms": [outside["id"]]}}) == 403
    assert call("PATCH", f"/assignments/{own['id']}", {"scope": {"all": True}}) == 403
    assert call("PATCH", f"/assignments/{own['id']}", {"description": "Mine"}) == 200
    assert call("DELETE", f"/assignments/{own['id']}") == 204
    # A role without assignments holding only its own permissions it may shape freely.
    fresh = world.role(t, ["rooms.view"])
    assert call("PATCH", f"/roles/{fresh}", {"permissions": ["rooms.view", "tickets.view"]}) == 200
    assert call("PATCH", f"/roles/{fresh}", {"permissions": ["rooms.view", "rooms.modify"]}) == 403
    assert call("DELETE", f"/roles/{fresh}") == 204


def _partner_setup(world: World) -> tuple[TenantH, TenantH, dict[str, Any], UserH]:
    """A link over one room; the partner's admin is its Primary admin; ``desk`` holds a custom
    partner role with roles.* over the whole link."""
    c, p = world.tenant(), world.tenant()
    room = world.room(c)
    lk = expect(accept(world, p.admin, invite(world, c, p, {"rooms": [room["id"]]})["id"]), 201)
    desk = world.user(p)
    perms = {"name": "Role desk", "permissions": ["roles.view", "roles.modify", "rooms.view"]}
    role = expect(in_customer(world, c, p.admin, "POST", "/roles", perms), 201)
    body = {"name": "Desk", "members": [{"type": "user", "id": desk.id}], "scope": {"all": True}}
    expect(in_customer(world, c, p.admin, "POST", f"/roles/{role['id']}/assignments", body), 201)
    return c, p, lk, desk


def test_a_partner_role_with_roles_star_cannot_take_over_the_link(world: World) -> None:
    c, p, lk, desk = _partner_setup(world)
    primary = expect(
        in_customer(world, c, p.admin, "GET", f"/roles/{lk['primary_admins_role_id']}/assignments"), 200
    )
    url = f"/assignments/{primary['items'][0]['id']}"
    takeover = in_customer(world, c, desk, "PATCH", url, {"members": [{"type": "user", "id": desk.id}]})
    assert takeover.status_code == 403 and "Primary admins" in takeover.json()["detail"]
    # Nor may it mint itself the rest of the Partner admin column.
    bigger = {"name": "Bigger", "permissions": ["roles.view", "roles.modify", "rooms.view", "rooms.modify"]}
    assert in_customer(world, c, desk, "POST", "/roles", bigger).status_code == 403
    # The Primary admins themselves change their members; the partner's Global admin is
    # still one of them.
    both = {"members": [{"type": "user", "id": p.admin.id}, {"type": "user", "id": desk.id}]}
    expect(in_customer(world, c, p.admin, "PATCH", url, both), 200)
    expect(in_customer(world, c, desk, "PATCH", url, {"members": [{"type": "user", "id": p.admin.id}]}), 200)


def test_even_the_whole_partner_column_does_not_make_a_primary_admin(world: World) -> None:
    c, p, lk, _desk = _partner_setup(world)
    column = expect(in_customer(world, c, p.admin, "GET", f"/roles/{lk['primary_admins_role_id']}"), 200)
    clone = expect(
        in_customer(
            world, c, p.admin, "POST", "/roles", {"name": "Clone", "permissions": column["permissions"]}
        ),
        201,
    )
    twin = world.user(p)
    body = {"name": "Twin", "members": [{"type": "user", "id": twin.id}], "scope": {"all": True}}
    expect(in_customer(world, c, p.admin, "POST", f"/roles/{clone['id']}/assignments", body), 201)
    primary = expect(
        in_customer(world, c, twin, "GET", f"/roles/{lk['primary_admins_role_id']}/assignments"), 200
    )
    takeover = {"members": [{"type": "user", "id": twin.id}]}
    response = in_customer(world, c, twin, "PATCH", f"/assignments/{primary['items'][0]['id']}", takeover)
    assert response.status_code == 403
