"""Room groups and update rings."""

from __future__ import annotations

import uuid

from tests.factories import World, expect
from tests.rooms.helpers import all_pages, base, get, rings_by_name


def test_room_group_lifecycle(world: World) -> None:
    t = world.tenant()
    a, b, c = world.room(t), world.room(t), world.room(t)
    h = t.admin.headers
    group = world.room_group(t, [b["id"], a["id"], a["id"]], name="All US rooms")
    assert group["room_ids"] == sorted([a["id"], b["id"]]) and group["room_count"] == 2
    assert world.post(t, "/room-groups", {"name": "All US rooms"}).status_code == 409
    url = f"{base(t)}/room-groups/{group['id']}"
    patched = expect(world.client.patch(url, json={"room_ids": [b["id"], c["id"]]}, headers=h), 200)
    assert patched["room_ids"] == sorted([b["id"], c["id"]]) and patched["name"] == "All US rooms"
    renamed = expect(world.client.patch(url, json={"name": "US"}, headers=h), 200)
    assert renamed["room_ids"] == patched["room_ids"]
    listed = get(world, t, "/room-groups")["items"]
    assert [(g["name"], g["room_count"]) for g in listed] == [("US", 2)]
    assert [r["id"] for r in get(world, t, "/rooms", group_id=group["id"])["items"]] == sorted(
        [b["id"], c["id"]]
    )
    expect(world.client.delete(url, headers=h), 204)
    assert world.client.get(url, headers=h).status_code == 404
    assert world.client.delete(url, headers=h).status_code == 404
    assert len(all_pages(world, t, "/rooms")) == 3  # the rooms outlive the group


def test_group_members_must_be_rooms_of_the_tenant(world: World) -> None:
    t, other = world.tenant(), world.tenant()
    mine, theirs = world.room(t), world.room(other)
    for ids in ([theirs["id"]], [str(uuid.uuid4())], [mine["id"], theirs["id"]]):
        assert world.post(t, "/room-groups", {"name": "G", "room_ids": ids}).status_code == 422
    assert get(world, t, "/room-groups")["items"] == []
    group = world.room_group(t, [mine["id"]])
    bad = world.client.patch(
        f"{base(t)}/room-groups/{group['id']}", json={"room_ids": [theirs["id"]]}, headers=t.admin.headers
    )
    assert bad.status_code == 422
    assert get(world, t, f"/room-groups/{group['id']}")["room_ids"] == [mine["id"]]
    their_group = world.room_group(other, [theirs["id"]])
    assert (
        world.client.get(f"{base(t)}/room-groups/{their_group['id']}", headers=t.admin.headers).status_code
        == 404
    )


def test_a_scoped_lead_sees_only_its_rooms_in_a_group_and_cannot_create_or_delete(world: World) -> None:
    t = world.tenant()
    inside, outside = world.room(t), world.room(t)
    group = world.room_group(t, [inside["id"], outside["id"]])
    lead = world.user(t)
    world.assign(t, t.roles["Site Lead"], users=[lead], scope={"rooms": [inside["id"]]})
    seen = get(world, t, f"/room-groups/{group['id']}", who=lead)
    assert seen["room_ids"] == [inside["id"]] and seen["room_count"] == 1
    assert [g["room_count"] for g in get(world, t, "/room-groups", who=lead)["items"]] == [1]
    assert (
        world.post(t, "/room-groups", {"name": "Mine", "room_ids": [inside["id"]]}, as_=lead).status_code
        == 403
    )
    url = f"{base(t)}/room-groups/{group['id']}"
    assert world.client.delete(url, headers=lead.headers).status_code == 403
    # Named only through a room, not by its scope: visible, not changeable.
    assert world.client.patch(url, json={"name": "x"}, headers=lead.headers).status_code == 403
    assert get(world, t, f"/room-groups/{group['id']}")["room_count"] == 2


def test_a_group_scoped_lead_reorganises_its_group_but_pulls_nothing_in(world: World) -> None:
    t = world.tenant()
    inside, hidden = world.room(t), world.room(t)
    group = world.room_group(t, [inside["id"], hidden["id"]])
    lead = world.user(t)
    world.assign(t, t.roles["Site Lead"], users=[lead], scope={"room_groups": [group["id"]]})
    extra = world.room(t)
    # The whole group is in the lead's scope, so it sees and may reorganise all of it.
    patched = expect(
        world.client.patch(
            f"{base(t)}/room-groups/{group['id']}", json={"room_ids": [inside["id"]]}, headers=lead.headers
        ),
        200,
    )
    assert patched["room_ids"] == [inside["id"]]
    # ...but the room it just removed has left its scope, and an outside room cannot come in.
    assert world.client.get(f"{base(t)}/rooms/{hidden['id']}", headers=lead.headers).status_code == 404
    pulled = world.client.patch(
        f"{base(t)}/room-groups/{group['id']}",
        json={"room_ids": [inside["id"], extra["id"]]},
        headers=lead.headers,
    )
    assert pulled.status_code == 422


def test_each_new_tenant_gets_validation_and_general(world: World) -> None:
    t = world.tenant()
    rings = rings_by_name(world, t)
    assert {(n, r["deferral_days"], r["is_default"], r["room_count"]) for n, r in rings.items()} == {
        ("Validation", 0, False, 0),
        ("General", 7, True, 0),
    }
    other = rings_by_name(world, world.tenant())
    assert {r["id"] for r in rings.values()}.isdisjoint(r["id"] for r in other.values())


def test_ring_create_patch_and_conflicts(world: World) -> None:
    t = world.tenant()
    h = t.admin.headers
    pilot = expect(world.post(t, "/update-rings", {"name": "Pilot", "deferral_days": 2}), 201)
    assert (pilot["name"], pilot["deferral_days"], pilot["is_default"], pilot["room_count"]) == (
        "Pilot",
        2,
        False,
        0,
    )
    assert world.post(t, "/update-rings", {"name": "Pilot", "deferral_days": 5}).status_code == 409
    url = f"{base(t)}/update-rings/{pilot['id']}"
    assert world.client.patch(url, json={"name": "General"}, headers=h).status_code == 409
    changed = expect(world.client.patch(url, json={"name": "Early", "deferral_days": 1}, headers=h), 200)
    assert (changed["name"], changed["deferral_days"]) == ("Early", 1)
    assert get(world, t, f"/update-rings/{pilot['id']}")["name"] == "Early"
    for days in (-1, 366, "soon", None):
        assert world.post(t, "/update-rings", {"name": "X", "deferral_days": days}).status_code == 422
    assert set(rings_by_name(world, t)) == {"Validation", "General", "Early"}
    room = world.room(t, update_ring_id=pilot["id"])
    assert get(world, t, f"/update-rings/{pilot['id']}")["room_count"] == 1
    assert [r["id"] for r in get(world, t, "/rooms", ring_id=pilot["id"])["items"]] == [room["id"]]
    other = world.tenant()
    assert world.client.get(url, headers=other.admin.headers).status_code == 404
    assert world.client.patch(url, json={"deferral_days": 9}, headers=other.admin.headers).status_code == 404


def test_who_may_create_and_change_rings(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    lead_all, lead_scoped, msa = world.user(t), world.user(t), world.user(t)
    world.assign(t, t.roles["Site Lead"], users=[lead_all])
    world.assign(t, t.roles["Site Lead"], users=[lead_scoped], scope={"rooms": [room["id"]]})
    world.assign(t, t.roles["Managed Service Administrator"], users=[msa])
    general = rings_by_name(world, t)["General"]["id"]
    url = f"{base(t)}/update-rings/{general}"
    # rings.create belongs to the MSA only; changing a ring's own settings is tenant-wide.
    assert world.post(t, "/update-rings", {"name": "A", "deferral_days": 1}, as_=lead_all).status_code == 403
    assert (
        world.post(t, "/update-rings", {"name": "B", "deferral_days": 1}, as_=lead_scoped).status_code == 403
    )
    expect(world.post(t, "/update-rings", {"name": "C", "deferral_days": 1}, as_=msa), 201)
    assert world.client.patch(url, json={"deferral_days": 3}, headers=lead_scoped.headers).status_code == 403
    assert (
        expect(world.client.patch(url, json={"deferral_days": 3}, headers=lead_all.headers), 200)[
            "deferral_days"
        ]
        == 3
    )
    # A scoped user sees every ring, counting only its own rooms.
    world.room(t)
    counts = {r["name"]: r["room_count"] for r in get(world, t, "/update-rings", who=lead_scoped)["items"]}
    assert counts == {"Validation": 0, "General": 1, "C": 0}
    assert get(world, t, "/update-rings")["items"][1]["room_count"] == 2
