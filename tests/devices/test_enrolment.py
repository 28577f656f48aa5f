"""Enrolment and device credentials (SPEC §11 "Enrol", "Device tokens"): a room's key enrols
one device, enrolling again replaces it, a reset key enrols nothing more while the device
keeps reporting, unenrolling or deleting the room ends it, and every refusal is the same 401.
Device tokens work on device paths only, people's tokens never there."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from roomwarden.app import create_app
from tests.devices.helpers import ENROLL, REPORTS, enroll, enroll_with, enrollment_key, report, send
from tests.factories import World, expect
from tests.rooms.helpers import base, get


def _audit(world: World, t: Any, **params: Any) -> list[dict[str, Any]]:
    return get(world, t, "/audit-logs", **{"limit": 200, **params})["items"]


def test_enrol_then_the_room_shows_its_device(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    body = expect(enroll_with(world, enrollment_key(world, t, room["id"]), "SN-A1"), 201)
    assert (body["room_id"], body["tenant_id"]) == (room["id"], t.id)
    assert body["device_token"].startswith("rwd_") and body["report_interval_seconds"] == 60
    read = get(world, t, f"/rooms/{room['id']}")
    assert read["device"]["id"] == body["device_id"] and read["device"]["serial_number"] == "SN-A1"
    assert read["device"]["last_report_at"] is None and read["health_state"] == "unknown"
    assert read["signals"] == [] and read["time_zone"] == "UTC"
    [rec] = _audit(world, t, category="Device")
    assert rec["operation"] == "Create" and rec["details"]["serial_number"] == "SN-A1"


def test_a_wrong_reset_or_unenrolled_key_is_the_same_401(world: World) -> None:
    t = world.tenant()
    room, other = world.room(t), world.room(t)
    old_key = enrollment_key(world, t, room["id"])
    device = enroll(world, t, room["id"])
    expect(world.client.post(f"{base(t)}/rooms/{room['id']}/reset-key", headers=t.admin.headers), 200)
    other_key = enrollment_key(world, t, other["id"])
    expect(world.client.post(f"{base(t)}/rooms/{other['id']}/unenroll", headers=t.admin.headers), 200)
    answers = [enroll_with(world, key) for key in ("rwk_" + "x" * 43, old_key, other_key, "")]
    assert [a.status_code for a in answers[:3]] == [401, 401, 401]
    assert len({a.json()["detail"] for a in answers[:3]}) == 1
    assert answers[3].status_code == 422
    report(world, device, {"display": "ok"})  # the reset key leaves the enrolled device alone
    new = expect(enroll_with(world, enrollment_key(world, t, room["id"])), 201)
    assert new["room_id"] == room["id"]


def test_enrolling_again_replaces_the_device_and_ends_the_old_token(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    first = enroll(world, t, room["id"])
    report(world, first, {"display": "failed"})
    second = enroll(world, t, room["id"])
    assert send(world, first, {"display": "ok"}).status_code == 401
    read = get(world, t, f"/rooms/{room['id']}")
    assert read["device"]["id"] == second.device_id and read["health_state"] == "unknown"
    # the replaced device's ticket is resolved, with the reason in its history
    [ticket] = get(world, t, "/tickets", room_id=room["id"])["items"]
    assert ticket["status"] == "resolved"
    report(world, second, {"display": "failed"})  # a relapse reopens the same ticket
    [again] = get(world, t, "/tickets", room_id=room["id"])["items"]
    assert again["id"] == ticket["id"] and again["status"] == "open"
    ops = sorted(r["operation"] for r in _audit(world, t, category="Device"))
    assert ops == ["Create", "Update"]


@pytest.mark.parametrize("end", ["unenroll", "delete"])
def test_unenrolling_or_deleting_the_room_ends_its_device(world: World, end: str) -> None:
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    report(world, device, {"camera": "failed"})
    url = f"{base(t)}/rooms/{room['id']}"
    if end == "unenroll":
        expect(world.client.post(f"{url}/unenroll", headers=t.admin.headers), 200)
        read = get(world, t, f"/rooms/{room['id']}")
        assert read["device"] is None and read["health_state"] == "unknown" and read["signals"] == []
    else:
        assert world.client.delete(url, headers=t.admin.headers).status_code == 204
    assert send(world, device).status_code == 401
    deleted = [r for r in _audit(world, t, category="Device") if r["operation"] == "Delete"]
    assert len(deleted) == 1 and deleted[0]["details"]["device_id"] == device.device_id


def test_token_rotation_ends_the_old_token(world: World) -> None:
    t = world.tenant()
    device = enroll(world, t, world.room(t)["id"])
    rotated = expect(world.client.post("/api/v1/device/token", headers=device.headers), 200)
    assert rotated["device_id"] == device.device_id and rotated["device_token"] != device.token
    assert send(world, device).status_code == 401
    device.token = rotated["device_token"]
    report(world, device)


def test_device_tokens_work_on_device_paths_only(world: World) -> None:
    """The device-path × token-kind matrix: device, person, operator, none, garbage."""
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    kinds = {
        "device": device.headers,
        "person": t.admin.headers,
        "operator": world.operator,
        "none": {},
        "garbage": {"Authorization": "Bearer rwd_not-a-token"},
    }
    device_paths = [("POST", REPORTS, {"sequence": 1, "signals": []}), ("POST", "/api/v1/device/token", None)]
    people_paths = [
        ("GET", "/api/v1/me", None),
        ("GET", f"{base(t)}/rooms/{room['id']}", None),
        ("GET", f"{base(t)}/tickets", None),
        ("PATCH", f"{base(t)}/rooms/{room['id']}", {"name": "x"}),
        ("GET", "/api/v1/partner/rooms", None),
    ]
    for kind, headers in kinds.items():
        for method, path, body in device_paths:
            code = world.client.request(method, path, json=body, headers=headers).status_code
            assert code == (200 if kind == "device" else 401), (kind, path)
        if kind == "device":
            for method, path, body in people_paths:
                code = world.client.request(method, path, json=body, headers=headers).status_code
                assert code == 401, (kind, path)
    # the cookie of a signed-in browser is no device credential either
    assert world.client.post(REPORTS, json={"sequence": 9, "signals": []}).status_code == 401


def test_enrolment_attempts_are_throttled_per_address(world: World) -> None:
    t = world.tenant()
    key = enrollment_key(world, t, world.room(t)["id"])
    settings = world.settings.model_copy(update={"enroll_max_failures_per_address": 3})
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    with TestClient(create_app(settings, world.db), client=(address, 50000)) as client:
        body = {"serial_number": "SN-T", "model": "M", "agent_version": "1"}
        codes = [
            client.post(ENROLL, json={**body, "enrollment_key": f"rwk_guess{i}"}).status_code
            for i in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        # while throttled, even the right key is not evaluated
        assert client.post(ENROLL, json={**body, "enrollment_key": key}).status_code == 429
    # another address enrols
    expect(enroll_with(world, key), 201)
