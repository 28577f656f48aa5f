"""Room operations: deleting a room (its tickets' history kept in the audit log), re-enrolling
an unenrolled room, deleting an empty update ring; who may, and what is recorded."""

from __future__ import annotations

from typing import Any

from tests.devices.helpers import set_health
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import link
from tests.rooms.helpers import base, get, rings_by_name


def _audit(world: World, t: TenantH, **params: Any) -> list[dict[str, Any]]:
    return get(world, t, "/audit-logs", **{"limit": 200, **params})["items"]


def _scoped(world: World, t: TenantH, role: str, room_ids: list[str]) -> UserH:
    user = world.user(t)
    world.assign(t, t.roles[role], users=[user], scope={"rooms": room_ids})
    return user


def test_deleting_a_room_keeps_its_tickets_history_in_the_audit_log(world: World) -> None:
    t = world.tenant()
    group = world.room_group(t, [])
    room = world.room(t, room_group_ids=[group["id"]])
    other = world.room(t)
    ticket = world.incident(t, room["id"])
    expect(
        world.client.patch(
            f"{base(t)}/tickets/{ticket['id']}",
            json={"status": "in_progress", "comment": "technician on site"},
            headers=t.admin.headers,
        ),
        200,
    )
    second = world.incident(t, room["id"])
    kept = world.incident(t, other["id"])

    expect(world.client.delete(f"{base(t)}/rooms/{room['id']}", headers=t.admin.headers), 204)

    assert world.client.get(f"{base(t)}/rooms/{room['id']}", headers=t.admin.headers).status_code == 404
    for gone in (ticket, second):
        assert world.client.get(f"{base(t)}/tickets/{gone['id']}", headers=t.admin.headers).status_code == 404
    assert [x["id"] for x in get(world, t, "/tickets")["items"]] == [kept["id"]]
    assert get(world, t, f"/room-groups/{group['id']}")["room_ids"] == []
    assert world.client.delete(f"{base(t)}/rooms/{room['id']}", headers=t.admin.headers).status_code == 404

    [deleted] = _audit(world, t, category="Room", result_status="Successful", order="desc", limit=1)
    assert (deleted["operation"], deleted["object_id"], deleted["object_name"]) == (
        "Delete",
        room["id"],
        room["name"],
    )
    assert deleted["details"]["tickets_deleted"] == 2
    assert {x["id"] for x in deleted["details"]["tickets"]} == {ticket["id"], second["id"]}
    assert deleted["details"]["room_groups"] == [{"id": group["id"], "name": group["name"]}]
    assert deleted["allowed_by"] == "Global admin"
    records = {r["object_id"]: r for r in _audit(world, t, category="Ticket") if r["operation"] == "Delete"}
    assert set(records) == {ticket["id"], second["id"]}
    kept_ticket = records[ticket["id"]]["details"]
    assert kept_ticket["room"] == {"id": room["id"], "name": room["name"]}
    assert kept_ticket["ticket"]["title"] == ticket["title"]
    assert kept_ticket["ticket"]["status"] == "in_progress"
    history = kept_ticket["ticket"]["history"]
    assert [(h["status_from"], h["status_to"], h["comment"]) for h in history][-1] == (
        "open",
        "in_progress",
        "technician on site",
    )
    assert expect(world.client.get(f"{base(t)}/audit-logs/verify", headers=t.admin.headers), 200)["ok"]


def test_who_may_delete_a_room(world: World) -> None:
    t = world.tenant()
    inside, outside = world.room(t), world.room(t)
    tech = _scoped(world, t, "Site Tech", [inside["id"]])  # sees the room, may not create rooms
    lead = _scoped(world, t, "Site Lead", [inside["id"]])  # rooms.create on that room
    url = f"{base(t)}/rooms"
    refused = world.client.delete(f"{url}/{inside['id']}", headers=tech.headers)
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert "rooms.create" in refused.json()["detail"]
    hidden = world.client.delete(f"{url}/{outside['id']}", headers=lead.headers)
    missing = world.client.delete(f"{url}/{'0' * 8}-0000-7000-8000-{'0' * 12}", headers=lead.headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"]
    expect(world.client.delete(f"{url}/{inside['id']}", headers=lead.headers), 204)
    failed = _audit(world, t, category="Room", result_status="Failed")
    assert any(r["operation"] == "Delete" and r["user_id"] == tech.id for r in failed)
    [done] = [
        r
        for r in _audit(world, t, category="Room")
        if r["operation"] == "Delete" and r["result_status"] == "Successful"
    ]
    assert done["user_id"] == lead.id and done["allowed_by"] == "Site Lead"


def test_a_partner_never_deletes_a_room_and_the_link_records_a_deleted_room(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    delegated, group_room, hidden = world.room(c), world.room(c), world.room(c)
    group = world.room_group(c, [group_room["id"]])
    lk = link(world, c, p, {"rooms": [delegated["id"]], "room_groups": [group["id"]]})
    url = f"/api/v1/tenants/{c.id}/rooms"
    assert world.client.delete(f"{url}/{delegated['id']}", headers=p.admin.headers).status_code == 403
    assert world.client.delete(f"{url}/{hidden['id']}", headers=p.admin.headers).status_code == 404
    stranger = world.tenant()
    assert world.client.delete(f"{url}/{delegated['id']}", headers=stranger.admin.headers).status_code == 404
    for room in (delegated, group_room):
        expect(world.client.delete(f"{url}/{room['id']}", headers=c.admin.headers), 204)
    on_link = [r for r in _audit(world, c, category="Partner") if r["object_id"] == lk["id"]]
    withdrawn = [r["details"].get("rooms_withdrawn") for r in on_link]
    assert [delegated["id"]] in withdrawn and [group_room["id"]] in withdrawn
    assert any(r["details"].get("room_deleted", {}).get("id") == delegated["id"] for r in on_link)
    after = get(world, c, f"/partners/{lk['id']}")
    assert after["scope"]["rooms"] == [] and after["scope"]["room_groups"] == [group["id"]]
    assert after["version"] == lk["version"] + 1  # the scope's list changed: a new ETag


def test_re_enrolling_an_unenrolled_room(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    url = f"{base(t)}/rooms/{room['id']}"
    again = world.client.post(f"{url}/enroll", headers=t.admin.headers)
    assert again.status_code == 409 and "already enrolled" in again.json()["detail"]
    set_health(world, t, room["id"], "healthy")
    assert expect(world.client.post(f"{url}/unenroll", headers=t.admin.headers), 200)["enrollment_state"] == (
        "unenrolled"
    )
    tech = _scoped(world, t, "Site Tech", [room["id"]])
    viewer = world.user(t)
    world.assign(t, world.role(t, ["rooms.view"]), users=[viewer], scope={"rooms": [room["id"]]})
    assert world.client.post(f"{url}/enroll", headers=viewer.headers).status_code == 403
    enrolled = expect(world.client.post(f"{url}/enroll", headers=tech.headers), 200)
    assert (enrolled["enrollment_state"], enrolled["health_state"]) == ("enrolled", "unknown")
    [rec] = [r for r in _audit(world, t, category="Room", user_id=tech.id)]
    assert rec["details"] == {"enrollment_state": {"from": "unenrolled", "to": "enrolled"}}
    assert rec["allowed_by"] == "Site Tech"


def test_both_directions_of_enrollment_name_the_role_that_allowed_them(world: World) -> None:
    """Enrollment is governed by ``rooms.unenroll``: a role that holds it but not
    ``rooms.modify`` is the one named, for unenrolling as for re-enrolling."""
    t = world.tenant()
    room = world.room(t)
    url = f"{base(t)}/rooms/{room['id']}"
    keeper = world.user(t)
    role = world.role(t, ["rooms.view", "rooms.unenroll"], name="Enrollment keepers")
    world.assign(t, role, users=[keeper], scope={"rooms": [room["id"]]})
    expect(world.client.post(f"{url}/unenroll", headers=keeper.headers), 200)
    expect(world.client.post(f"{url}/enroll", headers=keeper.headers), 200)
    records = _audit(world, t, category="Room", user_id=keeper.id)
    assert [r["details"]["enrollment_state"]["to"] for r in records] == ["enrolled", "unenrolled"]
    assert {r["allowed_by"] for r in records} == {"Enrollment keepers"}


def test_deleting_update_rings(world: World) -> None:
    t = world.tenant()
    rings = rings_by_name(world, t)
    url = f"{base(t)}/update-rings"
    empty = expect(world.post(t, "/update-rings", {"name": "Pilot", "deferral_days": 2}), 201)
    busy = expect(world.post(t, "/update-rings", {"name": "Busy", "deferral_days": 2}), 201)
    room = world.room(t, update_ring_id=busy["id"])
    held = world.client.delete(f"{url}/{busy['id']}", headers=t.admin.headers)
    assert held.status_code == 409 and held.headers["content-type"] == "application/problem+json"
    assert held.json()["detail"] == (
        "the update ring 'Busy' still holds 1 room(s): move them to another ring before deleting it"
    )
    default = world.client.delete(f"{url}/{rings['General']['id']}", headers=t.admin.headers)
    assert default.status_code == 409 and "default update ring" in default.json()["detail"]
    lead = _scoped(world, t, "Site Lead", [room["id"]])  # rings.view and rings.modify, no rings.create
    assert world.client.delete(f"{url}/{empty['id']}", headers=lead.headers).status_code == 403
    expect(world.client.delete(f"{url}/{empty['id']}", headers=t.admin.headers), 204)
    assert world.client.get(f"{url}/{empty['id']}", headers=t.admin.headers).status_code == 404
    assert world.client.delete(f"{url}/{empty['id']}", headers=t.admin.headers).status_code == 404
    expect(
        world.client.patch(
            f"{base(t)}/rooms/{room['id']}",
            json={"update_ring_id": rings["General"]["id"]},
            headers=t.admin.headers,
        ),
        200,
    )
    expect(world.client.delete(f"{url}/{busy['id']}", headers=t.admin.headers), 204)
    deleted = [r for r in _audit(world, t, category="UpdateRing") if r["operation"] == "Delete"]
    outcomes = sorted((r["object_id"], r["result_status"]) for r in deleted)
    assert outcomes == sorted(
        [
            (empty["id"], "Successful"),
            (busy["id"], "Successful"),
            (busy["id"], "Failed"),  # still held a room
            (rings["General"]["id"], "Failed"),  # the default ring
            (empty["id"], "Failed"),  # the Site Lead
            (empty["id"], "Failed"),  # already gone
        ]
    )
    assert {r["object_name"] for r in deleted if r["result_status"] == "Successful"} == {"Pilot", "Busy"}


def test_a_partner_never_deletes_a_ring(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    ring = expect(world.post(c, "/update-rings", {"name": "Pilot", "deferral_days": 2}), 201)
    link(world, c, p, {"all": True})
    url = f"/api/v1/tenants/{c.id}/update-rings/{ring['id']}"
    assert world.client.delete(url, headers=p.admin.headers).status_code == 403
    assert world.client.get(url, headers=c.admin.headers).status_code == 200


def test_a_room_mailbox_may_not_be_in_another_organisations_domain(world: World) -> None:
    """Domains are unique across the service: a mailbox in another tenant's domain is that
    organisation's, never one of this tenant's rooms — on creation and on change, and the
    refusal names no room of the other tenant."""
    t, other = world.tenant(), world.tenant()
    theirs = world.room(other)
    body = {"name": "Borrowed", "resource_account": f"borrowed@{other.domain}", "country": "DE"}
    refused = world.post(t, "/rooms", body)
    assert refused.status_code == 422 and refused.json()["title"] == "Invalid input"
    assert other.domain not in refused.text and theirs["name"] not in refused.text
    assert world.post(t, "/rooms", {**body, "resource_account": f"borrowed@{t.domain}"}).status_code == 201
    # a domain nobody holds stays allowed (a tenant may use a mailbox domain it never registered)
    room = expect(world.post(t, "/rooms", {**body, "resource_account": "room@unclaimed.example"}), 201)
    url = f"{base(t)}/rooms/{room['id']}"
    elsewhere = {"resource_account": f"x@{other.domain.upper()}"}
    moved = world.client.patch(url, json=elsewhere, headers=t.admin.headers)
    assert moved.status_code == 422
    assert get(world, t, f"/rooms/{room['id']}")["resource_account"] == "room@unclaimed.example"
