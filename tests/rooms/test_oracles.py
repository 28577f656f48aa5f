"""No response reveals what the caller cannot see (issue M2, I2) and a search means what it
says (``q`` is a substring, never a pattern); an empty update is invalid (L5)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from roomwarden.audit.models import AuditRecord
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import in_customer, link


def _scoped(world: World, t: TenantH, role: str, scope: dict[str, Any]) -> UserH:
    user = world.user(t)
    world.assign(t, t.roles[role], users=[user], scope=scope)
    return user


def _patch(world: World, t: TenantH, user: UserH, path: str, body: Any) -> Any:
    return world.client.patch(f"/api/v1/tenants/{t.id}{path}", json=body, headers=user.headers)


def test_a_resource_account_clash_reveals_no_hidden_room(world: World) -> None:
    t = world.tenant()
    group = world.room_group(t, [])
    mine = world.room(t, room_group_ids=[group["id"]])
    hidden = world.room(t)
    lead = _scoped(world, t, "Site Lead", {"room_groups": [group["id"]]})
    taken = _patch(world, t, lead, f"/rooms/{mine['id']}", {"resource_account": hidden["resource_account"]})
    free = _patch(world, t, lead, f"/rooms/{mine['id']}", {"resource_account": f"free@{t.domain}"})
    assert (taken.status_code, taken.json()["detail"]) == (free.status_code, free.json()["detail"])
    assert taken.status_code == 403 and hidden["resource_account"] not in taken.text
    # Unchanged, it is no change of the account, and other fields still work.
    expect(
        _patch(world, t, lead, f"/rooms/{mine['id']}", {"resource_account": mine["resource_account"]}), 200
    )
    expect(_patch(world, t, lead, f"/rooms/{mine['id']}", {"city": "Lyon"}), 200)
    # Whoever sees every room may change it; a clash then never echoes the value.
    clash = _patch(
        world, t, t.admin, f"/rooms/{mine['id']}", {"resource_account": hidden["resource_account"]}
    )
    assert clash.status_code == 409 and hidden["resource_account"] not in clash.text
    msa = _scoped(world, t, "Managed Service Administrator", {"all": True})
    expect(_patch(world, t, msa, f"/rooms/{mine['id']}", {"resource_account": f"moved@{t.domain}"}), 200)


def test_a_partner_never_changes_a_resource_account(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    room, other = world.room(c), world.room(c)
    link(world, c, p, {"all": True})
    for account in (other["resource_account"], f"free@{c.domain}"):
        response = in_customer(
            world, c, p.admin, "PATCH", f"/rooms/{room['id']}", {"resource_account": account}
        )
        assert response.status_code == 403 and other["resource_account"] not in response.text
    expect(in_customer(world, c, p.admin, "PATCH", f"/rooms/{room['id']}", {"city": "Oslo"}), 200)


def test_a_group_name_clash_reveals_no_hidden_group(world: World) -> None:
    t = world.tenant()
    mine = world.room_group(t, [world.room(t)["id"]])
    hidden = world.room_group(t, [world.room(t)["id"]], name=f"Hidden {world.tag}")
    lead = _scoped(world, t, "Site Lead", {"room_groups": [mine["id"]]})
    taken = _patch(world, t, lead, f"/room-groups/{mine['id']}", {"name": hidden["name"]})
    free = _patch(world, t, lead, f"/room-groups/{mine['id']}", {"name": f"Free {world.tag}"})
    assert (
        (taken.status_code, taken.json()["detail"])
        == (free.status_code, free.json()["detail"])
        == (
            403,
            free.json()["detail"],
        )
    )
    assert hidden["name"] not in taken.text
    # Membership of its own group is still the scoped lead's to change.
    expect(_patch(world, t, lead, f"/room-groups/{mine['id']}", {"room_ids": []}), 200)
    # Creating a group names it too: that needs groups.view over all rooms as well.
    creator = world.user(t)
    world.assign(t, world.role(t, ["groups.create", "groups.view"]), users=[creator], scope={"rooms": []})
    refused = world.post(t, "/room-groups", {"name": hidden["name"], "room_ids": []}, as_=creator)
    assert refused.status_code == 403 and hidden["name"] not in refused.text
    clash = _patch(world, t, t.admin, f"/room-groups/{mine['id']}", {"name": hidden["name"]})
    assert clash.status_code == 409 and hidden["name"] not in clash.text


def test_a_ring_is_named_only_by_who_sees_the_rings(world: World) -> None:
    t = world.tenant()
    creator = world.user(t)
    world.assign(t, world.role(t, ["rings.create"]), users=[creator])
    refused = world.post(t, "/update-rings", {"name": "General", "deferral_days": 1}, as_=creator)
    assert refused.status_code == 403
    clash = world.post(t, "/update-rings", {"name": "General", "deferral_days": 1})
    assert clash.status_code == 409 and "General" not in clash.json()["detail"]


def test_a_group_filter_on_a_hidden_group_answers_like_a_missing_one(world: World) -> None:
    """I2: a room visible to the caller, in a group it cannot see: the filter must not tell
    which of its rooms belong to that group."""
    t = world.tenant()
    room = world.room(t)
    hidden = world.room_group(t, [room["id"]])
    tech = _scoped(world, t, "Site Tech", {"rooms": [room["id"]]})

    def items(group_id: str) -> Any:
        url = f"/api/v1/tenants/{t.id}/rooms?group_id={group_id}"
        return expect(world.client.get(url, headers=tech.headers), 200)

    assert items(hidden["id"]) == items(str(uuid.uuid4())) == {"items": [], "next_cursor": None}
    lead = _scoped(world, t, "Site Lead", {"rooms": [room["id"]]})  # holds a room of the group
    url = f"/api/v1/tenants/{t.id}/rooms?group_id={hidden['id']}"
    assert [r["id"] for r in expect(world.client.get(url, headers=lead.headers), 200)["items"]] == [
        room["id"]
    ]


@pytest.mark.parametrize("path", ["/rooms", "/room-groups"])
def test_search_treats_percent_and_underscore_as_characters(world: World, path: str) -> None:
    t = world.tenant()
    names = ["100% coverage", "Room_7", "Room 7", "RoomA7"]
    for name in names:
        if path == "/rooms":
            world.room(t, name=name)
        else:
            world.room_group(t, [], name=name)

    def found(q: str) -> list[str]:
        response = world.client.get(f"/api/v1/tenants/{t.id}{path}", params={"q": q}, headers=t.admin.headers)
        return sorted(x["name"] for x in expect(response, 200)["items"])

    assert found("%") == ["100% coverage"]
    assert found("_") == ["Room_7"]
    assert found("m_7") == ["Room_7"]
    assert found("/") == []  # the escape character is literal too
    assert found("ma7") == ["RoomA7"]


def test_user_search_treats_wildcards_as_characters(world: World) -> None:
    t = world.tenant()
    world.user(t, name="under_score")
    world.user(t, name="underXscore")
    response = world.client.get(f"/api/v1/tenants/{t.id}/users", params={"q": "r_s"}, headers=t.admin.headers)
    assert [u["display_name"] for u in expect(response, 200)["items"]] == ["under_score"]


# -- L5: empty updates ----------------------------------------------------------------------------


def _successes(world: World, t: TenantH) -> int:
    with world.transaction(write=False) as session:
        return len(
            session.scalars(
                select(AuditRecord.id).where(
                    AuditRecord.tenant_id == uuid.UUID(t.id), AuditRecord.result_status == "Successful"
                )
            ).all()
        )


def test_an_update_without_a_permitted_field_is_refused(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    viewer = world.user(t)
    world.assign(t, world.role(t, ["rooms.view"]), users=[viewer])
    before = _successes(world, t)
    empty = _patch(world, t, viewer, f"/rooms/{room['id']}", {})
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    assert _patch(world, t, viewer, f"/rooms/{room['id']}", {"name": room["name"]}).status_code == 403
    assert (
        _patch(
            world, t, viewer, f"/rooms/{room['id']}", {"update_ring_id": room["update_ring_id"]}
        ).status_code
        == 403
    )
    assert _successes(world, t) == before


def test_every_update_refuses_an_empty_body(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    room = world.room(c)
    group = world.room_group(c, [room["id"]])
    user = world.user(c)
    sg = world.security_group(c, [user])
    role = world.role(c, ["rooms.view"])
    assignment = world.assign(c, role, users=[user])
    lk = link(world, c, p)
    rings = expect(world.client.get(f"/api/v1/tenants/{c.id}/update-rings", headers=c.admin.headers), 200)
    before = _successes(world, c)
    for path in (
        f"/rooms/{room['id']}",
        f"/room-groups/{group['id']}",
        f"/update-rings/{rings['items'][0]['id']}",
        f"/users/{user.id}",
        f"/security-groups/{sg}",
        f"/roles/{role}",
        f"/assignments/{assignment['id']}",
        f"/roles/{role}/assignments/{assignment['id']}",
        "/settings",
        f"/partners/{lk['id']}",
    ):
        response = _patch(world, c, c.admin, path, {})
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert _successes(world, c) == before
