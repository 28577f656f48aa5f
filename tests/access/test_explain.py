"""Effective access, ``GET /api/v1/tenants/{t}/access/explain``: exact reasons for each way a
permission reaches a room, who may ask, what answers like a missing id, and a differential
check that it agrees with the resolver for every user, room and permission of a world."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import update

from roomwarden.access.permissions import MSA, PARTNER_ADMIN, SITE_LEAD, SITE_TECH, Permission
from roomwarden.access.resolver import resolve_access
from roomwarden.identity.models import User
from roomwarden.identity.principal import Principal
from roomwarden.kit.errors import NotFound
from roomwarden.rooms.service import room_allows
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import in_customer, link

P = Permission


def explain(
    world: World, tenant: TenantH, asker: UserH, user: str, room: str, perm: str | None = None
) -> Any:
    url = f"/api/v1/tenants/{tenant.id}/access/explain?user_id={user}&room_id={room}"
    if perm:
        url += f"&permission={perm}"
    return world.client.get(url, headers=asker.headers)


def test_direct_group_and_all_rooms_paths_are_each_named(world: World) -> None:
    t = world.tenant()
    room = world.room(t)["id"]
    other = world.room(t)["id"]
    group = world.room_group(t, [room], name="Floor 3")["id"]
    alice = world.user(t, name="alice")
    desk = world.security_group(t, [alice])
    direct = world.assign(t, t.roles[SITE_TECH], users=[alice], scope={"rooms": [room]})
    via_group = world.assign(t, t.roles[SITE_LEAD], groups=[desk], scope={"room_groups": [group]})
    viewer = world.role(t, ["reports.view"], name="Viewer")
    everywhere = world.assign(t, viewer, users=[alice], scope={"all": True})

    body = expect(explain(world, t, t.admin, alice.id, room, "rooms.modify"), 200)
    assert body["allowed"] is True and body["permission"] == "rooms.modify"
    assert body["user"] == {
        "id": alice.id,
        "upn": alice.upn,
        "display_name": "alice",
        "tenant_id": t.id,
        "is_active": True,
        "is_global_admin": False,
    }
    assert body["link"] is None
    reasons = {r["assignment"]["id"]: r for r in body["reasons"]}
    assert set(reasons) == {direct["id"], via_group["id"]}  # the viewer role lacks rooms.modify
    assert reasons[direct["id"]] == {
        "role": {"id": t.roles[SITE_TECH], "name": SITE_TECH, "kind": "builtin"},
        "assignment": {"type": "assignment", "id": direct["id"], "name": direct["name"]},
        "scope": {"all": False, "room": True, "room_groups": []},
        "via": {"type": "user", "id": alice.id, "name": "alice"},
        "link_id": None,
        "permissions": ["rooms.modify"],
    }
    sg_name = expect(
        world.client.get(f"/api/v1/tenants/{t.id}/security-groups/{desk}", headers=t.admin.headers), 200
    )["name"]
    assert reasons[via_group["id"]]["scope"] == {
        "all": False,
        "room": False,
        "room_groups": [{"type": "room_group", "id": group, "name": "Floor 3"}],
    }
    assert reasons[via_group["id"]]["via"] == {"type": "group", "id": desk, "name": sg_name}

    every = expect(explain(world, t, t.admin, alice.id, room), 200)
    site_lead = sorted(
        {p for r in every["reasons"] for p in r["permissions"]}, key=[p.value for p in Permission].index
    )
    assert every["permissions"] == site_lead and every["allowed"] is True
    assert "reports.view" in every["permissions"] and "rooms.reset_key" not in every["permissions"]
    viewer_reason = next(r for r in every["reasons"] if r["assignment"]["id"] == everywhere["id"])
    assert viewer_reason["scope"] == {"all": True, "room": False, "room_groups": []}

    # The other room: only the all-rooms assignment reaches it.
    far = expect(explain(world, t, t.admin, alice.id, other), 200)
    assert far["permissions"] == ["reports.view"]
    assert expect(explain(world, t, t.admin, alice.id, other, "rooms.view"), 200) | {"reasons": []} == far | {
        "permission": "rooms.view",
        "allowed": False,
        "reasons": [],
    }

    # Group membership changes apply at once: the room leaves the group.
    expect(
        world.client.patch(
            f"/api/v1/tenants/{t.id}/room-groups/{group}", json={"room_ids": []}, headers=t.admin.headers
        ),
        200,
    )
    after = expect(explain(world, t, t.admin, alice.id, room, "rooms.modify"), 200)
    assert [r["assignment"]["id"] for r in after["reasons"]] == [direct["id"]]


def test_global_admin_and_deactivated_users(world: World) -> None:
    t = world.tenant()
    room = world.room(t)["id"]
    ga = world.user(t, ga=True, name="root")
    body = expect(explain(world, t, t.admin, ga.id, room, "partners.manage"), 200)
    assert body["allowed"] is True and body["user"]["is_global_admin"] is True
    assert body["reasons"] == [
        {
            "role": {"id": None, "name": "Global admin", "kind": "global_admin"},
            "assignment": None,
            "scope": {"all": True, "room": False, "room_groups": []},
            "via": {"type": "user", "id": ga.id, "name": "root"},
            "link_id": None,
            "permissions": ["partners.manage"],
        }
    ]
    tech = world.user(t)
    world.assign(t, t.roles[SITE_TECH], users=[tech], scope={"rooms": [room]})
    with world.transaction() as session:
        session.execute(update(User).where(User.id == uuid.UUID(tech.id)).values(is_active=False))
    off = expect(explain(world, t, t.admin, tech.id, room, "rooms.view"), 200)
    assert off["allowed"] is False and off["user"]["is_active"] is False
    assert len(off["reasons"]) == 1  # what it would hold, shown; never allowed while inactive


def test_who_may_ask_and_what_answers_like_a_missing_id(world: World) -> None:
    t, stranger = world.tenant(), world.tenant()
    seen, hidden = world.room(t)["id"], world.room(t)["id"]
    group = world.room_group(t, [seen])["id"]
    target = world.user(t)
    lead = world.user(t)
    world.assign(t, t.roles[SITE_LEAD], users=[lead], scope={"room_groups": [group]})
    scoped_msa = world.user(t)
    world.assign(t, t.roles[MSA], users=[scoped_msa], scope={"room_groups": [group]})
    roles_only = world.user(t)
    world.assign(t, world.role(t, ["roles.view"]), users=[roles_only], scope={"all": True})
    # roles.view over all rooms, rooms.view over one group only
    auditor = world.user(t)
    world.assign(t, world.role(t, ["roles.view"]), users=[auditor], scope={"all": True})
    world.assign(t, world.role(t, ["rooms.view"]), users=[auditor], scope={"room_groups": [group]})

    assert explain(world, t, lead, target.id, seen).status_code == 403
    assert explain(world, t, scoped_msa, target.id, seen).status_code == 403  # roles.view not over all rooms
    assert explain(world, stranger, t.admin, target.id, seen).status_code == 404
    assert (
        world.client.get(
            f"/api/v1/tenants/{t.id}/access/explain?user_id={target.id}&room_id={seen}"
        ).status_code
        == 401
    )
    expect(explain(world, t, auditor, target.id, seen), 200)

    missing = str(uuid.uuid4())

    def same_as_missing(asker: UserH, user: str, room: str, what: str) -> None:
        absent = explain(
            world, t, asker, user if what == "room" else missing, room if what == "user" else missing
        )
        got = explain(world, t, asker, user, room)
        assert (got.status_code, got.text) == (absent.status_code, absent.text) == (404, absent.text)

    same_as_missing(auditor, target.id, hidden, "room")  # a room the asker cannot view
    same_as_missing(roles_only, target.id, seen, "room")  # no rooms.view at all
    same_as_missing(t.admin, target.id, world.room(stranger)["id"], "room")  # another tenant's room
    same_as_missing(t.admin, stranger.admin.id, seen, "user")  # another tenant's user
    bad = explain(world, t, t.admin, target.id, seen, "rooms.fly")
    assert bad.status_code == 422


def test_partner_users_of_the_link_and_the_partners_own_view(world: World) -> None:
    c, p, unlinked = world.tenant(), world.tenant(), world.tenant()
    inside, outside = world.room(c)["id"], world.room(c)["id"]
    lk = link(world, c, p, scope={"rooms": [inside]})
    primary = expect(in_customer(world, c, c.admin, "GET", f"/partners/{lk['id']}"), 200)[
        "primary_admins_role_id"
    ]
    tech = world.user(p, name="tech")
    role = expect(
        in_customer(
            world,
            c,
            p.admin,
            "POST",
            "/roles",
            {"name": "Tech", "permissions": ["rooms.view", "tickets.view"]},
        ),
        201,
    )["id"]
    expect(
        in_customer(
            world,
            c,
            p.admin,
            "POST",
            f"/roles/{role}/assignments",
            {"name": "Techs", "members": [{"type": "user", "id": tech.id}], "scope": {"all": True}},
        ),
        201,
    )
    body = expect(explain(world, c, c.admin, p.admin.id, inside), 200)
    assert body["permissions"] == sorted(PARTNER_ADMIN, key=list(Permission).index)
    assert body["link"] == {
        "id": lk["id"],
        "partner_id": p.id,
        "partner_name": p.name,
        "room_in_scope": True,
        "requires_mfa": False,
    }
    [reason] = body["reasons"]
    assert reason["role"] == {"id": primary, "name": "Primary admins", "kind": "partner_builtin"}
    assert reason["link_id"] == lk["id"] and reason["via"]["id"] == p.admin.id
    assert body["user"]["is_global_admin"] is False  # Global admin of its own tenant only

    # A partner never holds a customer-only permission, whatever a role says.
    assert expect(explain(world, c, c.admin, p.admin.id, inside, "audit.export"), 200)["allowed"] is False
    out = expect(explain(world, c, c.admin, tech.id, outside), 200)
    assert out["allowed"] is False and out["reasons"] == [] and out["link"]["room_in_scope"] is False
    assert expect(explain(world, c, c.admin, tech.id, inside, "tickets.view"), 200)["allowed"] is True

    # The partner's Primary admin may ask about its own users, never about the customer's.
    assert expect(explain(world, c, p.admin, tech.id, inside, "rooms.view"), 200)["allowed"] is True
    assert explain(world, c, p.admin, c.admin.id, inside).status_code == 404
    assert explain(world, c, p.admin, tech.id, outside).status_code == 404  # outside its link
    assert explain(world, c, tech, tech.id, inside).status_code == 403  # no roles.view
    # A user of a tenant that is not (or no longer) a partner is as absent as a missing one.
    assert explain(world, c, c.admin, unlinked.admin.id, inside).status_code == 404
    expect(in_customer(world, c, c.admin, "DELETE", f"/partners/{lk['id']}?confirm=true"), 204)
    assert explain(world, c, c.admin, tech.id, inside).status_code == 404


# -- differential: explain agrees with the resolver -------------------------------------------


def _world(world: World) -> tuple[TenantH, list[UserH], list[str]]:
    """A customer with rooms in groups, users holding built-in, custom and partner roles
    directly and through security groups, over rooms, groups and all rooms."""
    c, p = world.tenant(), world.tenant()
    rooms = [world.room(c)["id"] for _ in range(4)]
    g1 = world.room_group(c, rooms[:2])["id"]
    g2 = world.room_group(c, rooms[1:3])["id"]
    users = [world.user(c) for _ in range(4)] + [world.user(c, ga=True)]
    sg = world.security_group(c, users[1:3])
    world.assign(c, c.roles[SITE_TECH], users=[users[0]], scope={"rooms": [rooms[3]]})
    world.assign(c, c.roles[SITE_LEAD], groups=[sg], scope={"room_groups": [g1]})
    custom = world.role(c, ["tickets.view", "reports.view", "roles.view"])
    world.assign(c, custom, users=[users[2]], scope={"room_groups": [g2], "rooms": [rooms[0]]})
    world.assign(c, c.roles[MSA], users=[users[3]], scope={"all": True})
    lk = link(world, c, p, scope={"room_groups": [g2]})
    psg = world.security_group(p, [])
    tech = world.user(p)
    expect(
        world.client.patch(
            f"/api/v1/tenants/{p.id}/security-groups/{psg}",
            json={"member_ids": [tech.id]},
            headers=p.admin.headers,
        ),
        200,
    )
    prole = expect(
        in_customer(
            world,
            c,
            p.admin,
            "POST",
            "/roles",
            {"name": "Desk", "permissions": ["rooms.view", "tickets.update"]},
        ),
        201,
    )["id"]
    expect(
        in_customer(
            world,
            c,
            p.admin,
            "POST",
            f"/roles/{prole}/assignments",
            {
                "name": "Desk",
                "members": [{"type": "group", "id": psg}],
                "scope": {"rooms": [rooms[1], rooms[2]]},
            },
        ),
        201,
    )
    assert lk["id"]
    return c, [*users, p.admin, tech], rooms


@pytest.mark.parametrize("narrow", [False, True], ids=["as built", "after narrowing"])
def test_explain_agrees_with_the_resolver_for_every_user_room_and_permission(
    world: World, narrow: bool
) -> None:
    c, users, rooms = _world(world)
    if narrow:  # change the world: a group loses a room, a link loses a group
        groups = expect(
            world.client.get(f"/api/v1/tenants/{c.id}/room-groups", headers=c.admin.headers), 200
        )["items"]
        for g in groups:
            expect(
                world.client.patch(
                    f"/api/v1/tenants/{c.id}/room-groups/{g['id']}",
                    json={"room_ids": rooms[2:3]},
                    headers=c.admin.headers,
                ),
                200,
            )
    checked = 0
    for user in users:
        for room in rooms:
            body = expect(explain(world, c, c.admin, user.id, room), 200)
            with world.session(write=False) as session:
                principal = _principal(session, user)
                try:
                    access = resolve_access(session, principal, uuid.UUID(c.id))
                except NotFound:
                    resolved: list[str] = []
                else:
                    resolved = [
                        p.value for p in Permission if room_allows(session, access.rooms(p), uuid.UUID(room))
                    ]
            assert body["permissions"] == resolved, (user.upn, room)
            assert body["allowed"] == bool(resolved)
            checked += len(resolved)
    assert checked > 0


def _principal(session: Any, user: UserH) -> Principal:
    row = session.get(User, uuid.UUID(user.id))
    return Principal(row.id, row.tenant_id, row.upn, row.display_name, row.is_global_admin, mfa=True)
