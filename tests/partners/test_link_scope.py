"""Adding and removing rooms and room groups on a link's scope, and conditional updates
(ETag / If-Match) of links, roles and assignments."""

from __future__ import annotations

import uuid
from typing import Any

from tests.factories import TenantH, World, expect
from tests.partners.helpers import link


def _url(c: TenantH, link_id: str, tail: str = "") -> str:
    return f"/api/v1/tenants/{c.id}/partners/{link_id}{tail}"


def _link_records(world: World, c: TenantH, link_id: str) -> list[dict[str, Any]]:
    url = f"/api/v1/tenants/{c.id}/audit-logs?category=Partner&order=asc&limit=200"
    items = expect(world.client.get(url, headers=c.admin.headers), 200)["items"]
    return [r for r in items if r["object_id"] == link_id]


def test_add_and_remove_rooms_and_groups_on_a_link(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    first, second, third = world.room(c), world.room(c), world.room(c)
    group = world.room_group(c, [third["id"]])
    lk = link(world, c, p, {"rooms": [first["id"]]})
    room_url = f"/api/v1/tenants/{c.id}/rooms/{second['id']}"
    assert world.client.get(room_url, headers=p.admin.headers).status_code == 404

    added = world.client.post(
        _url(c, lk["id"], "/scope/rooms"), json={"room_ids": [second["id"]]}, headers=c.admin.headers
    )
    body = expect(added, 200)
    assert body["scope"]["rooms"] == sorted([first["id"], second["id"]])
    assert added.headers["etag"] == f'"v{body["version"]}"'
    assert world.client.get(room_url, headers=p.admin.headers).status_code == 200  # widened at once

    grown = expect(
        world.client.post(
            _url(c, lk["id"], "/scope/room-groups"),
            json={"room_group_ids": [group["id"]]},
            headers=c.admin.headers,
        ),
        200,
    )
    assert grown["scope"]["room_groups"] == [group["id"]]
    third_url = f"/api/v1/tenants/{c.id}/rooms/{third['id']}"
    assert world.client.get(third_url, headers=p.admin.headers).status_code == 200

    narrowed = expect(
        world.client.delete(_url(c, lk["id"], f"/scope/rooms/{second['id']}"), headers=c.admin.headers), 200
    )
    assert narrowed["scope"]["rooms"] == [first["id"]]
    assert world.client.get(room_url, headers=p.admin.headers).status_code == 404  # on the next request
    expect(
        world.client.delete(_url(c, lk["id"], f"/scope/room-groups/{group['id']}"), headers=c.admin.headers),
        200,
    )
    assert world.client.get(third_url, headers=p.admin.headers).status_code == 404

    records = _link_records(world, c, lk["id"])[-4:]
    assert [r["details"]["rooms_delegated"] for r in records] == [[second["id"]], [], [], []]
    assert [r["details"]["room_groups_delegated"] for r in records] == [[], [group["id"]], [], []]
    assert [r["details"]["rooms_withdrawn"] for r in records] == [[], [], [second["id"]], []]
    assert [r["details"]["room_groups_withdrawn"] for r in records] == [[], [], [], [group["id"]]]
    assert records[0]["details"]["scope"]["to"]["rooms"] == sorted([first["id"], second["id"]])
    assert all(r["result_status"] == "Successful" for r in records)


def test_scope_edits_are_validated_like_a_replacement(world: World) -> None:
    c, p, other = world.tenant(), world.tenant(), world.tenant()
    room, foreign = world.room(c), world.room(other)
    lk = link(world, c, p, {"rooms": [room["id"]]})
    rooms = _url(c, lk["id"], "/scope/rooms")
    for body in ({"room_ids": [foreign["id"]]}, {"room_ids": [str(uuid.uuid4())]}):
        bad = world.client.post(rooms, json=body, headers=c.admin.headers)
        assert bad.status_code == 422 and "no room with id" in bad.json()["detail"]
    assert world.client.post(rooms, json={"room_ids": []}, headers=c.admin.headers).status_code == 422
    assert world.client.post(rooms, json={"rooms": [room["id"]]}, headers=c.admin.headers).status_code == 422
    groups = _url(c, lk["id"], "/scope/room-groups")
    bad = world.client.post(groups, json={"room_group_ids": [str(uuid.uuid4())]}, headers=c.admin.headers)
    assert bad.status_code == 422 and "no room group with id" in bad.json()["detail"]
    absent = world.client.delete(f"{rooms}/{world.room(c)['id']}", headers=c.admin.headers)
    assert absent.status_code == 404 and absent.headers["content-type"] == "application/problem+json"
    everything = link(world, c, world.tenant(), {"all": True})
    refused = world.client.post(
        _url(c, everything["id"], "/scope/rooms"), json={"room_ids": [room["id"]]}, headers=c.admin.headers
    )
    assert refused.status_code == 409 and "every room" in refused.json()["detail"]
    assert get_scope(world, c, lk["id"]) == {"all": False, "rooms": [room["id"]], "room_groups": []}


def get_scope(world: World, c: TenantH, link_id: str) -> dict[str, Any]:
    return expect(world.client.get(_url(c, link_id), headers=c.admin.headers), 200)["scope"]


def test_partners_strangers_and_scoped_users_cannot_edit_a_scope(world: World) -> None:
    c, p, stranger = world.tenant(), world.tenant(), world.tenant()
    room, extra = world.room(c), world.room(c)
    lk = link(world, c, p, {"rooms": [room["id"]]})
    lead = world.user(c)
    world.assign(c, c.roles["Site Lead"], users=[lead], scope={"all": True})  # no partners.manage
    calls = [
        ("POST", "/scope/rooms", {"room_ids": [extra["id"]]}),
        ("DELETE", f"/scope/rooms/{room['id']}", None),
        ("POST", "/scope/room-groups", {"room_group_ids": [world.room_group(c, [extra["id"]])["id"]]}),
    ]
    for method, tail, body in calls:
        for who, status in ((p.admin, 404), (stranger.admin, 404), (lead, 403)):
            r = world.client.request(method, _url(c, lk["id"], tail), json=body, headers=who.headers)
            assert r.status_code == status, (method, tail, r.text)
            assert r.headers["content-type"] == "application/problem+json"
        assert world.client.request(method, _url(c, lk["id"], tail), json=body).status_code == 401
    assert get_scope(world, c, lk["id"])["rooms"] == [room["id"]]
    failed = [r for r in _link_records(world, c, lk["id"]) if r["result_status"] == "Failed"]
    assert len(failed) >= 3


# -- conditional updates ------------------------------------------------------------------------


def test_if_match_on_a_link(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    room = world.room(c)
    lk = link(world, c, p, {"rooms": [room["id"]]})
    read = world.client.get(_url(c, lk["id"]), headers=c.admin.headers)
    tag = read.headers["etag"]
    assert tag == f'"v{read.json()["version"]}"'
    stale = {**c.admin.headers, "If-Match": tag}
    changed = world.client.patch(_url(c, lk["id"]), json={"approval_expires_in_days": 9}, headers=stale)
    assert expect(changed, 200)["approval_expires_in_days"] == 9 and changed.headers["etag"] != tag
    refused = world.client.patch(_url(c, lk["id"]), json={"approval_expires_in_days": 3}, headers=stale)
    assert refused.status_code == 412 and refused.headers["content-type"] == "application/problem+json"
    assert "changed since it was read" in refused.json()["detail"]
    scoped = world.client.post(
        _url(c, lk["id"], "/scope/rooms"), json={"room_ids": [room["id"]]}, headers=stale
    )
    assert scoped.status_code == 412
    assert world.client.delete(_url(c, lk["id"]) + "?confirm=true", headers=stale).status_code == 412
    current = world.client.get(_url(c, lk["id"]), headers=c.admin.headers)
    assert current.json()["approval_expires_in_days"] == 9 and current.json()["status"] == "active"
    fresh = {**c.admin.headers, "If-Match": current.headers["etag"]}
    expect(world.client.patch(_url(c, lk["id"]), json={"approval_expires_in_days": 3}, headers=fresh), 200)
    star = {**c.admin.headers, "If-Match": "*"}
    expect(world.client.patch(_url(c, lk["id"]), json={"approval_expires_in_days": 4}, headers=star), 200)
    # Without If-Match a change is unconditional, as before.
    expect(
        world.client.patch(_url(c, lk["id"]), json={"approval_expires_in_days": 5}, headers=c.admin.headers),
        200,
    )
    failed = [r for r in _link_records(world, c, lk["id"]) if r["result_status"] == "Failed"]
    assert len(failed) == 3


def test_if_match_on_roles_and_assignments(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    role_id = world.role(t, ["rooms.view"])
    base = f"/api/v1/tenants/{t.id}"
    read = world.client.get(f"{base}/roles/{role_id}", headers=t.admin.headers)
    tag = read.headers["etag"]
    stale = {**t.admin.headers, "If-Match": tag}
    expect(world.client.patch(f"{base}/roles/{role_id}", json={"description": "one"}, headers=stale), 200)
    refused = world.client.patch(f"{base}/roles/{role_id}", json={"description": "two"}, headers=stale)
    assert refused.status_code == 412
    assert world.client.delete(f"{base}/roles/{role_id}", headers=stale).status_code == 412
    assert (
        expect(world.client.get(f"{base}/roles/{role_id}", headers=t.admin.headers), 200)["description"]
        == "one"
    )

    user = world.user(t)
    assignment = world.assign(t, role_id, users=[user], scope={"rooms": [room["id"]]})
    for path in (f"/assignments/{assignment['id']}", f"/roles/{role_id}/assignments/{assignment['id']}"):
        got = world.client.get(f"{base}{path}", headers=t.admin.headers)
        etag = got.headers["etag"]
        assert etag == f'"v{got.json()["version"]}"'
        headers = {**t.admin.headers, "If-Match": etag}
        ok = world.client.patch(f"{base}{path}", json={"description": path}, headers=headers)
        assert ok.status_code == 200 and ok.headers["etag"] != etag
        assert (
            world.client.patch(f"{base}{path}", json={"description": "lost"}, headers=headers).status_code
            == 412
        )
        assert world.client.delete(f"{base}{path}", headers=headers).status_code == 412
    malformed = world.client.patch(
        f"{base}/assignments/{assignment['id']}",
        json={"description": "x"},
        headers={**t.admin.headers, "If-Match": " "},
    )
    assert malformed.status_code == 422
    last = world.client.get(f"{base}/assignments/{assignment['id']}", headers=t.admin.headers)
    expect(
        world.client.delete(
            f"{base}/assignments/{assignment['id']}",
            headers={**t.admin.headers, "If-Match": last.headers["etag"]},
        ),
        204,
    )


def test_an_out_of_scope_object_answers_404_not_412(world: World) -> None:
    t, other = world.tenant(), world.tenant()
    role_id = world.role(other, ["rooms.view"])
    stale = {**t.admin.headers, "If-Match": '"v999"'}
    for method, path in (
        ("PATCH", f"/api/v1/tenants/{t.id}/roles/{role_id}"),
        ("PATCH", f"/api/v1/tenants/{other.id}/roles/{role_id}"),
        ("DELETE", f"/api/v1/tenants/{t.id}/roles/{role_id}"),
        ("PATCH", f"/api/v1/tenants/{t.id}/assignments/{uuid.uuid4()}"),
        ("PATCH", f"/api/v1/tenants/{t.id}/partners/{uuid.uuid4()}"),
    ):
        body = {"description": "x"} if "partners" not in path else {"approval_expires_in_days": 3}
        r = world.client.request(method, path, json=body if method == "PATCH" else None, headers=stale)
        assert r.status_code == 404, (method, path, r.text)
    # A user of the tenant without role management: 403, not 412.
    c, p = world.tenant(), world.tenant()
    lk = link(world, c, p, {"all": True})
    lead = world.user(c)
    world.assign(c, c.roles["Site Lead"], users=[lead], scope={"all": True})
    r = world.client.patch(
        _url(c, lk["id"]),
        json={"approval_expires_in_days": 3},
        headers={**lead.headers, "If-Match": '"v999"'},
    )
    assert r.status_code == 403
    # A partner addressing the link as a customer resource: 404.
    r = world.client.patch(
        _url(c, lk["id"]),
        json={"approval_expires_in_days": 3},
        headers={**p.admin.headers, "If-Match": '"v999"'},
    )
    assert r.status_code == 404


def test_a_malformed_if_match_answers_after_authentication_and_visibility(world: World) -> None:
    """The header is judged only once the caller is known and may change the object: without
    credentials 401, on an object it cannot see 404, and only then 422."""
    t, other = world.tenant(), world.tenant()
    role_id = world.role(t, ["rooms.view"])
    url = f"/api/v1/tenants/{t.id}/roles/{role_id}"
    empty = {"If-Match": ""}
    assert world.client.patch(url, json={"description": "x"}, headers=empty).status_code == 401
    assert world.client.delete(url, headers=empty).status_code == 401
    foreign = world.client.patch(url, json={"description": "x"}, headers={**other.admin.headers, **empty})
    assert foreign.status_code == 404
    own = world.client.patch(url, json={"description": "x"}, headers={**t.admin.headers, **empty})
    assert own.status_code == 422 and "If-Match" in own.json()["detail"]
