"""Rooms: create, read, filter, page, change, unenroll, and the enrollment key."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from roomwarden.kit.crypto import SecretBox
from tests.devices.helpers import set_health
from tests.factories import World, expect, owner_engine
from tests.rooms.helpers import all_pages, base, get, rings_by_name


def test_create_read_and_change_a_room(world: World) -> None:
    t = world.tenant()
    body = {
        "name": "  Board room  ",
        "resource_account": f"Board@{t.domain}",
        "country": "de",
        "city": "Berlin",
        "building": "HQ",
    }
    room = expect(world.post(t, "/rooms", body), 201)
    assert (room["name"], room["resource_account"], room["country"]) == (
        "Board room",
        f"board@{t.domain}",
        "DE",
    )
    assert (room["city"], room["building"], room["tenant_id"]) == ("Berlin", "HQ", t.id)
    assert room["update_ring_id"] == rings_by_name(world, t)["General"]["id"]
    assert "enrollment_key" not in room and "enrollment_key_sealed" not in room
    assert get(world, t, f"/rooms/{room['id']}") == room
    url = f"{base(t)}/rooms/{room['id']}"
    changed = expect(
        world.client.patch(
            url,
            json={"name": "Boardroom", "city": "Hamburg", "time_zone": "Europe/Berlin"},
            headers=t.admin.headers,
        ),
        200,
    )
    assert (changed["name"], changed["city"], changed["time_zone"], changed["building"]) == (
        "Boardroom",
        "Hamburg",
        "Europe/Berlin",
        "HQ",
    )
    refused = world.client.patch(url, json={"health_state": "degraded"}, headers=t.admin.headers)
    assert refused.status_code == 422 and "derived from the room's device" in refused.json()["detail"]
    assert get(world, t, f"/rooms/{room['id']}")["name"] == "Boardroom"


def test_resource_accounts_are_unique_in_a_tenant(world: World) -> None:
    t = world.tenant()
    a, b = world.room(t), world.room(t)
    dup = world.post(
        t, "/rooms", {"name": "x", "resource_account": a["resource_account"].upper(), "country": "US"}
    )
    assert dup.status_code == 409
    clash = world.client.patch(
        f"{base(t)}/rooms/{b['id']}",
        json={"resource_account": a["resource_account"]},
        headers=t.admin.headers,
    )
    assert clash.status_code == 409
    same = world.client.patch(
        f"{base(t)}/rooms/{a['id']}",
        json={"resource_account": a["resource_account"]},
        headers=t.admin.headers,
    )
    assert same.status_code == 200
    assert len(all_pages(world, t, "/rooms")) == 2


def test_rooms_of_another_tenant_are_not_found(world: World) -> None:
    t, other = world.tenant(), world.tenant()
    room = world.room(t)
    h = other.admin.headers
    for path in (f"/api/v1/tenants/{other.id}/rooms/{room['id']}", f"{base(t)}/rooms/{room['id']}"):
        assert world.client.get(path, headers=h).status_code == 404
        assert world.client.patch(path, json={"name": "x"}, headers=h).status_code == 404
        assert world.client.post(f"{path}/unenroll", headers=h).status_code == 404
        assert world.client.post(f"{path}/reset-key", headers=h).status_code == 404
        assert world.client.get(f"{path}/enrollment-key", headers=h).status_code == 404
    assert get(world, t, f"/rooms/{room['id']}")["name"] == room["name"]
    assert world.client.get(f"{base(t)}/rooms/{uuid.uuid4()}", headers=t.admin.headers).status_code == 404


def test_filters(world: World) -> None:
    t = world.tenant()
    validation = rings_by_name(world, t)["Validation"]["id"]
    us = [world.room(t, country="US", city="Seattle") for _ in range(3)]
    de = world.room(t, country="DE", update_ring_id=validation)
    kr = world.room(t, country="KR", name="Seoul Huddle")
    group = world.room_group(t, [us[0]["id"], kr["id"]])
    other_group = world.room_group(t, [])

    def ids(**params: str) -> list[str]:
        return [r["id"] for r in get(world, t, "/rooms", **params)["items"]]

    assert ids(country="us") == [r["id"] for r in us]
    assert ids(country="KR") == [kr["id"]]
    assert ids(ring_id=validation) == [de["id"]]
    assert ids(ring_id=rings_by_name(world, t)["General"]["id"]) == [r["id"] for r in (*us, kr)]
    assert ids(group_id=group["id"]) == [us[0]["id"], kr["id"]]
    assert ids(group_id=other_group["id"]) == []
    assert ids(group_id=str(uuid.uuid4())) == []
    assert ids(q="seoul") == [kr["id"]]
    assert ids(q=kr["resource_account"].split("@")[0].upper()) == [kr["id"]]
    assert ids(q="nothing-like-this") == []
    assert ids(group_id=group["id"], country="US") == [us[0]["id"]]
    assert ids(ring_id=validation, country="US") == []
    set_health(world, t, us[1]["id"], "unhealthy")
    assert ids(health_state="unhealthy") == [us[1]["id"]]


def test_a_filter_never_reaches_into_another_tenant(world: World) -> None:
    t, other = world.tenant(), world.tenant()
    theirs = world.room(other, country="FR")
    their_group = world.room_group(other, [theirs["id"]])
    mine = world.room(t, country="FR")
    assert [r["id"] for r in get(world, t, "/rooms", country="FR")["items"]] == [mine["id"]]
    assert get(world, t, "/rooms", group_id=their_group["id"])["items"] == []
    assert get(world, t, "/rooms", q=theirs["resource_account"])["items"] == []
    assert all(r["tenant_id"] == t.id for r in get(world, t, "/rooms", q="room")["items"])


@pytest.mark.parametrize("filtered", [False, True])
def test_pagination_walks_every_room_once(world: World, filtered: bool) -> None:
    t = world.tenant()
    rooms = [world.room(t, country="NO") for _ in range(7)]
    params = {"country": "NO"} if filtered else {}
    for limit in (1, 3, 7, 200):
        seen = [r["id"] for r in all_pages(world, t, "/rooms", limit=limit, **params)]
        assert seen == [r["id"] for r in rooms], limit
    page = get(world, t, "/rooms", limit=7, **params)
    assert len(page["items"]) == 7 and page["next_cursor"] is None
    assert get(world, t, "/rooms")["next_cursor"] is None  # the default page holds them all


def test_a_scoped_users_pages_hold_only_its_rooms(world: World) -> None:
    t = world.tenant()
    rooms = [world.room(t) for _ in range(9)]
    mine = rooms[1::2]
    group = world.room_group(t, [mine[0]["id"], mine[1]["id"]])
    tech = world.user(t)
    world.assign(t, t.roles["Site Tech"], users=[tech], scope={"rooms": [r["id"] for r in mine[2:]]})
    world.assign(t, t.roles["Site Tech"], users=[tech], scope={"room_groups": [group["id"]]})
    for limit in (1, 2, 3, 50):
        seen = [r["id"] for r in all_pages(world, t, "/rooms", who=tech, limit=limit)]
        assert seen == [r["id"] for r in mine], limit


@pytest.mark.parametrize(
    "query", [{"limit": 0}, {"limit": 201}, {"limit": -1}, {"cursor": "!!"}, {"cursor": "AAAA"}]
)
def test_bad_page_parameters_are_422(world: World, query: dict) -> None:  # type: ignore[type-arg]
    t = world.tenant()
    for path in ("/rooms", "/tickets", "/room-groups", "/update-rings", "/users", "/roles"):
        response = world.client.get(f"{base(t)}{path}", params=query, headers=t.admin.headers)
        assert response.status_code == 422, (path, query, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_a_cursor_from_an_exhausted_list_gives_an_empty_page(world: World) -> None:
    t = world.tenant()
    rooms = [world.room(t) for _ in range(3)]
    first = get(world, t, "/rooms", limit=2)
    rest = get(world, t, "/rooms", limit=2, cursor=first["next_cursor"])
    assert [r["id"] for r in first["items"] + rest["items"]] == [r["id"] for r in rooms]
    assert rest["next_cursor"] is None


def test_unenroll_once_and_the_room_stays(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    url = f"{base(t)}/rooms/{room['id']}"
    set_health(world, t, room["id"], "healthy")
    done = expect(world.client.post(f"{url}/unenroll", headers=t.admin.headers), 200)
    assert done["enrollment_state"] == "unenrolled" and done["health_state"] == "unknown"
    again = world.client.post(f"{url}/unenroll", headers=t.admin.headers)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert get(world, t, f"/rooms/{room['id']}")["enrollment_state"] == "unenrolled"
    assert (
        world.client.post(f"{base(t)}/rooms/{uuid.uuid4()}/unenroll", headers=t.admin.headers).status_code
        == 404
    )


def _sealed(world: World, room_id: str) -> str:
    rid = uuid.UUID(room_id)
    with owner_engine(world.db).connect() as conn:
        return conn.execute(
            text("SELECT enrollment_key_sealed FROM rooms WHERE id = :i"),
            {"i": rid.hex if world.db.is_sqlite else rid},
        ).scalar_one()


def test_enrollment_key_is_sealed_with_the_configured_key(world: World) -> None:
    t = world.tenant()
    a, b = world.room(t), world.room(t)
    keys = [
        expect(world.client.get(f"{base(t)}/rooms/{r['id']}/enrollment-key", headers=t.admin.headers), 200)
        for r in (a, b)
    ]
    assert keys[0]["room_id"] == a["id"] and keys[0]["enrollment_key"] != keys[1]["enrollment_key"]
    sealed = _sealed(world, a["id"])
    assert keys[0]["enrollment_key"] not in sealed
    assert keys[0]["enrollment_key"][4:] not in sealed  # not even the random part
    box = SecretBox(world.settings.encryption_key.get_secret_value())
    assert box.open(sealed) == keys[0]["enrollment_key"]


def test_reset_key_replaces_the_key_and_needs_its_own_permission(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    url = f"{base(t)}/rooms/{room['id']}"
    tech = world.user(t)
    world.assign(t, t.roles["Site Tech"], users=[tech], scope={"rooms": [room["id"]]})
    before = expect(world.client.get(f"{url}/enrollment-key", headers=tech.headers), 200)["enrollment_key"]
    sealed_before = _sealed(world, room["id"])
    assert world.client.post(f"{url}/reset-key", headers=tech.headers).status_code == 403
    assert _sealed(world, room["id"]) == sealed_before
    reset = expect(world.client.post(f"{url}/reset-key", headers=t.admin.headers), 200)
    assert reset["room_id"] == room["id"] and reset["reset_at"]
    after = expect(world.client.get(f"{url}/enrollment-key", headers=tech.headers), 200)["enrollment_key"]
    assert after != before and after.startswith("rwk_")
    assert _sealed(world, room["id"]) != sealed_before


def test_downloading_the_key_needs_download_key(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    viewer = world.user(t)
    world.assign(t, world.role(t, ["rooms.view", "rooms.modify"]), users=[viewer])
    url = f"{base(t)}/rooms/{room['id']}/enrollment-key"
    assert world.client.get(url, headers=viewer.headers).status_code == 403
    stranger = world.user(t)
    world.assign(t, world.role(t, ["rooms.download_key"]), users=[stranger])
    assert world.client.get(url, headers=stranger.headers).status_code == 404  # no rooms.view: not visible


def test_a_room_joins_the_ring_it_names_but_only_one_of_its_tenant(world: World) -> None:
    t, other = world.tenant(), world.tenant()
    their_ring = rings_by_name(world, other)["Validation"]["id"]
    body = {"name": "x", "resource_account": f"x@{t.domain}", "country": "US", "update_ring_id": their_ring}
    assert world.post(t, "/rooms", body).status_code == 422
    room = world.room(t)
    moved = world.client.patch(
        f"{base(t)}/rooms/{room['id']}", json={"update_ring_id": their_ring}, headers=t.admin.headers
    )
    assert moved.status_code == 422
    assert get(world, t, f"/rooms/{room['id']}")["update_ring_id"] == rings_by_name(world, t)["General"]["id"]
