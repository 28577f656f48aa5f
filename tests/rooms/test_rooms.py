"""Rooms, enrollment keys, groups, rings, tickets, reports and settings: the rules."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.devices.helpers import set_health
from tests.factories import World, expect, owner_engine


def base(t) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/tenants/{t.id}"


def rings_by_name(world: World, t) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    items = expect(world.client.get(f"{base(t)}/update-rings", headers=t.admin.headers), 200)["items"]
    return {r["name"]: r for r in items}


def test_new_tenant_has_validation_and_general_and_rooms_join_general(world: World) -> None:
    t = world.tenant()
    rings = rings_by_name(world, t)
    assert set(rings) == {"Validation", "General"} and rings["General"]["is_default"]
    room = world.room(t)
    assert room["update_ring_id"] == rings["General"]["id"]
    assert room["enrollment_state"] == "enrolled" and room["health_state"] == "unknown"
    pilot = world.room(t, update_ring_id=rings["Validation"]["id"])
    assert pilot["update_ring_id"] == rings["Validation"]["id"]
    assert world.post(t, "/update-rings", {"name": "General", "deferral_days": 1}).status_code == 409
    assert (
        world.post(
            t,
            "/rooms",
            {
                "name": "x",
                "resource_account": f"x@{t.domain}",
                "country": "US",
                "update_ring_id": str(uuid.uuid4()),
            },
        ).status_code
        == 422
    )


def test_enrollment_key_is_encrypted_at_rest_and_reset_changes_it(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    url = f"{base(t)}/rooms/{room['id']}"
    key = expect(world.client.get(f"{url}/enrollment-key", headers=t.admin.headers), 200)["enrollment_key"]
    rid = uuid.UUID(room["id"])
    with owner_engine(world.db).connect() as conn:
        sealed = conn.execute(
            text("SELECT enrollment_key_sealed FROM rooms WHERE id = :i"),
            {"i": rid.hex if world.db.is_sqlite else rid},
        ).scalar_one()
    assert key not in sealed and len(sealed) > len(key)
    expect(world.client.post(f"{url}/reset-key", headers=t.admin.headers), 200)
    again = expect(world.client.get(f"{url}/enrollment-key", headers=t.admin.headers), 200)["enrollment_key"]
    assert again != key


def test_unenroll_once(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    url = f"{base(t)}/rooms/{room['id']}/unenroll"
    assert expect(world.client.post(url, headers=t.admin.headers), 200)["enrollment_state"] == "unenrolled"
    assert world.client.post(url, headers=t.admin.headers).status_code == 409


def test_filters_and_pagination(world: World) -> None:
    t = world.tenant()
    us = [world.room(t, country="US") for _ in range(5)]
    de = [world.room(t, country="DE", city="Berlin") for _ in range(2)]
    group = world.room_group(t, [us[0]["id"], de[0]["id"]])
    h = t.admin.headers

    def ids(query: str) -> list[str]:
        return [
            r["id"] for r in expect(world.client.get(f"{base(t)}/rooms?{query}", headers=h), 200)["items"]
        ]

    assert ids("country=de") == [r["id"] for r in de]
    assert ids(f"group_id={group['id']}") == [us[0]["id"], de[0]["id"]]
    assert ids(f"q={us[1]['name'].upper()}") == [us[1]["id"]]
    seen, cursor = [], None
    while True:
        page = expect(
            world.client.get(
                f"{base(t)}/rooms", params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=h
            ),
            200,
        )
        assert len(page["items"]) <= 3
        seen += [r["id"] for r in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [r["id"] for r in us + de]


def test_a_scoped_group_modifier_cannot_pull_a_room_into_its_scope(world: World) -> None:
    t = world.tenant()
    inside, outside = world.room(t), world.room(t)
    group = world.room_group(t, [inside["id"]])
    lead = world.user(t)
    world.assign(t, t.roles["Site Lead"], users=[lead], scope={"room_groups": [group["id"]]})
    url = f"{base(t)}/room-groups/{group['id']}"
    pulled = world.client.patch(url, json={"room_ids": [inside["id"], outside["id"]]}, headers=lead.headers)
    assert pulled.status_code == 422
    assert world.client.get(f"{base(t)}/rooms/{outside['id']}", headers=lead.headers).status_code == 404
    # The customer's admin may add it; membership is dynamic, so it enters the lead's scope at once.
    expect(
        world.client.patch(url, json={"room_ids": [inside["id"], outside["id"]]}, headers=t.admin.headers),
        200,
    )
    assert world.client.get(f"{base(t)}/rooms/{outside['id']}", headers=lead.headers).status_code == 200


def test_moving_a_room_between_rings_needs_rings_modify(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    tech = world.user(t)
    world.assign(t, t.roles["Site Tech"], users=[tech], scope={"rooms": [room["id"]]})
    validation = rings_by_name(world, t)["Validation"]["id"]
    url = f"{base(t)}/rooms/{room['id']}"
    assert (
        world.client.patch(url, json={"update_ring_id": validation}, headers=tech.headers).status_code == 403
    )
    assert world.client.patch(url, json={"city": "Oslo"}, headers=tech.headers).status_code == 200
    lead = world.user(t)
    world.assign(t, t.roles["Site Lead"], users=[lead], scope={"rooms": [room["id"]]})
    moved = expect(world.client.patch(url, json={"update_ring_id": validation}, headers=lead.headers), 200)
    assert moved["update_ring_id"] == validation
    counts = rings_by_name(world, t)
    assert counts["Validation"]["room_count"] == 1 and counts["General"]["room_count"] == 0


def test_ticket_history_and_transitions(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    ticket = world.incident(t, room["id"])
    assert ticket["status"] == "open" and ticket["kind"] == "incident" and ticket["updates"] == []
    url = f"{base(t)}/tickets/{ticket['id']}"
    h = t.admin.headers
    expect(world.client.patch(url, json={"status": "in_progress", "comment": "on it"}, headers=h), 200)
    expect(world.client.patch(url, json={"comment": "parts ordered"}, headers=h), 200)
    done = expect(world.client.patch(url, json={"status": "closed"}, headers=h), 200)
    assert [(u["status_from"], u["status_to"], u["comment"]) for u in done["updates"]] == [
        ("open", "in_progress", "on it"),
        (None, None, "parts ordered"),
        ("in_progress", "closed", ""),
    ]
    assert world.client.patch(url, json={"status": "open"}, headers=h).status_code == 409
    assert world.client.patch(url, json={}, headers=h).status_code == 422
    open_ids = [
        x["id"] for x in expect(world.client.get(f"{base(t)}/tickets?status=open", headers=h), 200)["items"]
    ]
    assert ticket["id"] not in open_ids
    assert (
        world.client.post(
            f"{base(t)}/incidents",
            json={"room_id": str(uuid.uuid4()), "title": "x", "severity": "warning"},
            headers=h,
        ).status_code
        == 404
    )


def test_health_report_counts(world: World) -> None:
    t = world.tenant()
    rooms = [world.room(t) for _ in range(3)]
    h = t.admin.headers
    set_health(world, t, rooms[0]["id"], "unhealthy")  # and its monitoring ticket
    world.incident(t, rooms[1]["id"])
    report = expect(world.client.get(f"{base(t)}/reports/health", headers=h), 200)
    assert report["total_rooms"] == 3 and report["open_tickets"] == 2
    assert report["rooms_by_health"] == {"healthy": 0, "degraded": 0, "unhealthy": 1, "unknown": 2}


def test_settings(world: World) -> None:
    t = world.tenant()
    url, h = f"{base(t)}/settings", t.admin.headers
    initial = expect(world.client.get(url, headers=h), 200)
    assert initial["enable_all_tickets_view"] is False and initial["require_mfa_for_partners"] is False
    changed = expect(
        world.client.patch(
            url, json={"notification_email": "ops@example.com", "enable_all_tickets_view": True}, headers=h
        ),
        200,
    )
    assert changed["notification_email"] == "ops@example.com" and changed["enable_all_tickets_view"]
    assert world.client.patch(url, json={"enable_all_tickets_view": None}, headers=h).status_code == 422
    assert world.client.patch(url, json={"notification_email": "nope"}, headers=h).status_code == 422
    cleared = expect(world.client.patch(url, json={"notification_email": None}, headers=h), 200)
    assert cleared["notification_email"] is None and cleared["enable_all_tickets_view"]


def test_builtin_roles_are_immutable_and_custom_roles_work(world: World) -> None:
    t = world.tenant()
    h = t.admin.headers
    msa = t.roles["Managed Service Administrator"]
    assert world.client.patch(f"{base(t)}/roles/{msa}", json={"name": "x"}, headers=h).status_code == 403
    assert world.client.delete(f"{base(t)}/roles/{msa}", headers=h).status_code == 403
    bad = world.post(t, "/roles", {"name": "Bad", "permissions": ["rooms.fly"]})
    assert bad.status_code == 422
    role = world.role(t, ["tickets.view", "tickets.update"], name="Help desk")
    assert world.post(t, "/roles", {"name": "Help desk", "permissions": ["rooms.view"]}).status_code == 409
    user = world.user(t)
    a = world.assign(t, role, users=[user], scope={"all": True})
    kinds = {
        r["name"]: r["kind"] for r in expect(world.client.get(f"{base(t)}/roles", headers=h), 200)["items"]
    }
    assert kinds["Help desk"] == "custom" and kinds["Site Lead"] == "builtin"
    expect(world.client.delete(f"{base(t)}/roles/{role}", headers=h), 204)
    assert world.client.get(f"{base(t)}/assignments/{a['id']}", headers=h).status_code == 404
