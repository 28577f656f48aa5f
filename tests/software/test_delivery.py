"""Rings deliver releases (SPEC §12): what a device is offered at night and by day, in a
paused or deferred ring; what it reports of its installs; and the black-box path from
publishing to a failed install's ticket and back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.devices.helpers import enroll
from tests.factories import World, expect
from tests.rooms.helpers import base, get
from tests.software.helpers import (
    DAY,
    NIGHT,
    backdate,
    component,
    offered,
    patch_ring,
    publish,
    ring,
    send_software,
    zone_at,
)


def _room(world: World, t, deferral_days: int = 0, hours: tuple[int, int] = NIGHT, **ring_extra):  # type: ignore[no-untyped-def]
    r = ring(world, t, deferral_days, **ring_extra)
    room = world.room(t, update_ring_id=r["id"], time_zone=zone_at(hours))
    return r, room, enroll(world, t, room["id"])


def test_the_path_from_publish_to_a_failed_install_and_back(world: World) -> None:
    t = world.tenant()
    _, room, device = _room(world, t)
    name = component()
    assert offered(world, device, {name: "1.0.0"}) == []
    publish(world, name, "1.1.0")
    publish(world, name, "1.2.0")
    offers = offered(world, device, {name: "1.0.0"})
    assert [(o["component"], o["version"]) for o in offers] == [(name, "1.2.0")]
    before = datetime.fromisoformat(offers[0]["install_before"])
    assert before.tzinfo is not None and before.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert 0 < (before - datetime.now(UTC)).total_seconds() <= 5 * 3600

    # the device tries and fails: software_update fails, a monitoring ticket opens
    failed = [{"component": name, "version": "1.2.0", "status": "failed", "detail": "disk full"}]
    expect(send_software(world, device, {name: "1.0.0"}, failed), 200)
    read = get(world, t, f"/rooms/{room['id']}")
    signals = {s["signal"]: s for s in read["signals"]}
    assert signals["software_update"]["state"] == "failed"
    assert "disk full" in signals["software_update"]["detail"]
    assert read["health_state"] == "degraded"
    [entry] = read["software"]
    assert entry["component"] == name and entry["version"] == "1.0.0"
    assert entry["compliance"] == "outdated" and entry["newest"] == "1.2.0"
    assert entry["last_result"]["status"] == "failed" and entry["last_result"]["version"] == "1.2.0"
    tickets = get(world, t, "/tickets", room_id=room["id"], source="monitoring")["items"]
    assert [(x["signal"], x["status"], x["severity"]) for x in tickets] == [
        ("software_update", "open", "warning")
    ]

    # a report that says nothing of it keeps the failure (it is not the device's signal alone)
    assert offered(world, device, {name: "1.0.0"})[0]["version"] == "1.2.0"  # offered again
    assert {s["signal"]: s["state"] for s in get(world, t, f"/rooms/{room['id']}")["signals"]}[
        "software_update"
    ] == "failed"

    # a later success returns the signal to ok and monitoring resolves the ticket
    done = [{"component": name, "version": "1.2.0", "status": "installed", "detail": ""}]
    assert offered(world, device, {name: "1.2.0"}, results=done) == []
    read = get(world, t, f"/rooms/{room['id']}")
    assert {s["signal"]: s["state"] for s in read["signals"]}["software_update"] == "ok"
    assert read["health_state"] == "healthy"
    assert read["software"][0]["compliance"] == "current"
    ticket = get(world, t, f"/tickets/{tickets[0]['id']}")
    assert ticket["status"] == "resolved"


def test_nothing_is_offered_by_day(world: World) -> None:
    t = world.tenant()
    _, _, device = _room(world, t, hours=DAY)
    name = component()
    publish(world, name, "3.0")
    assert offered(world, device, {name: "1.0"}) == []


def test_a_paused_ring_offers_nothing_from_the_next_report(world: World) -> None:
    t = world.tenant()
    r, _, device = _room(world, t)
    name = component()
    publish(world, name, "2.0")
    assert [o["version"] for o in offered(world, device, {name: "1.0"})] == ["2.0"]
    assert patch_ring(world, t, r["id"], {"paused": True})["paused"] is True
    assert offered(world, device, {name: "1.0"}) == []
    assert patch_ring(world, t, r["id"], {"paused": False})["paused"] is False
    assert [o["version"] for o in offered(world, device, {name: "1.0"})] == ["2.0"]


def test_a_deferred_ring_offers_a_release_once_its_deferral_passed(world: World) -> None:
    t = world.tenant()
    r, _, device = _room(world, t, deferral_days=3)
    name = component()
    old = publish(world, name, "2.0")
    new = publish(world, name, "2.1")
    assert offered(world, device, {name: "1.0"}) == []
    backdate(world, old["id"], 3.01)
    assert [o["version"] for o in offered(world, device, {name: "1.0"})] == ["2.0"]  # 2.1 not yet due
    backdate(world, new["id"], 2.9)
    assert [o["version"] for o in offered(world, device, {name: "1.0"})] == ["2.0"]
    patch_ring(world, t, r["id"], {"deferral_days": 2})
    assert [o["version"] for o in offered(world, device, {name: "1.0"})] == ["2.1"]


def test_only_newer_releases_of_components_the_device_runs(world: World) -> None:
    t = world.tenant()
    _, room, device = _room(world, t)
    a, b, c = component(), component(), component()
    publish(world, a, "1.10")
    publish(world, a, "1.9")
    publish(world, b, "5.0")
    publish(world, c, "1.0")
    offers = offered(world, device, {a: "1.9", b: "5.0.0", "firmware": "7"})
    assert [(o["component"], o["version"]) for o in offers] == [(a, "1.10")]  # numbers, not text
    # a version that is not dotted numbers is older than every release
    assert [o["version"] for o in offered(world, device, {b: "5.0-custom"})] == ["5.0"]
    read = get(world, t, f"/rooms/{room['id']}")
    assert [(s["component"], s["version"], s["compliance"]) for s in read["software"]] == [
        (b, "5.0-custom", "outdated")
    ]


def test_compliance_current_previous_outdated(world: World) -> None:
    t = world.tenant()
    rooms = [world.room(t) for _ in range(4)]
    name = component()
    for v in ("1.0", "1.1", "1.2"):
        publish(world, name, v)
    for room, version in zip(rooms, ("1.2", "1.1", "1.0", "9.9"), strict=True):
        device = enroll(world, t, room["id"])
        expect(send_software(world, device, {name: version, "unpublished": "1.0"}), 200)
    standing = {}
    for room in rooms:
        software = {s["component"]: s for s in get(world, t, f"/rooms/{room['id']}")["software"]}
        assert software["unpublished"]["compliance"] is None
        standing[software[name]["version"]] = software[name]["compliance"]
    assert standing == {"1.2": "current", "1.1": "previous", "1.0": "outdated", "9.9": "current"}


def test_software_reports_are_validated(world: World) -> None:
    t = world.tenant()
    _, _, device = _room(world, t)
    bad = [
        {"component": "x", "version": "1", "status": "maybe"},
        {"component": "x", "status": "failed"},
        {"component": "x", "version": "1", "status": "failed", "unknown": 1},
    ]
    for result in bad:
        answer = send_software(world, device, {}, [result])
        assert answer.status_code == 422, answer.text
    assert send_software(world, device, {"x": ""}).status_code == 422


def test_deferral_days_are_0_to_60_and_pausing_is_audited(world: World) -> None:
    t = world.tenant()
    r = ring(world, t, 60)
    for bad in (-1, 61, 365):
        url = f"{base(t)}/update-rings/{r['id']}"
        answer = world.client.patch(url, json={"deferral_days": bad}, headers=t.admin.headers)
        assert answer.status_code == 422
        assert world.post(t, "/update-rings", {"name": f"R{bad}", "deferral_days": bad}).status_code == 422
    patch_ring(world, t, r["id"], {"paused": True})
    records = get(world, t, "/audit-logs", limit=200)["items"]
    changes = [x for x in records if x.get("object_id") == r["id"] and x["operation"] == "Update"]
    assert any(x["details"].get("paused") == {"from": False, "to": True} for x in changes)


def test_a_replaced_device_starts_with_no_software(world: World) -> None:
    t = world.tenant()
    _, room, device = _room(world, t)
    name = component()
    publish(world, name, "2.0")
    failed = [{"component": name, "version": "2.0", "status": "failed", "detail": "no space"}]
    expect(send_software(world, device, {name: "1.0"}, failed), 200)
    assert get(world, t, f"/rooms/{room['id']}")["software"][0]["last_result"]["status"] == "failed"
    replacement = enroll(world, t, room["id"])
    read = get(world, t, f"/rooms/{room['id']}")
    assert read["software"] == [] and read["signals"] == []
    assert [o["version"] for o in offered(world, replacement, {name: "1.5"})] == ["2.0"]
    assert {s["signal"]: s["state"] for s in get(world, t, f"/rooms/{room['id']}")["signals"]} == {}


def test_the_simulated_device_installs_what_it_is_offered() -> None:
    import random

    from roomwarden.devices.simulator import SimulatedDevice

    device = SimulatedDevice("room", "Room", "token", 60.0)
    assert device.body()["software"] == {"agent": "1.0.0"}
    offer = [{"component": "agent", "version": "1.1.0", "install_before": "2026-12-08T05:00:00Z"}]
    assert device.install(offer, random.Random(1), failure_rate=0.0) == ["agent 1.1.0 installed"]
    body = device.body()
    assert body["software"] == {"agent": "1.1.0"}
    assert body["software_results"] == [
        {"component": "agent", "version": "1.1.0", "status": "installed", "detail": ""}
    ]
    assert device.body()["software_results"] == []  # reported once
    assert device.install(offer, random.Random(1), failure_rate=1.0) == ["agent 1.1.0 failed"]
    assert device.body()["software_results"][0]["status"] == "failed"


def test_a_failed_install_is_announced_with_ids(world: World) -> None:
    """The ``software.install_failed`` event (SPEC §13) is recorded with the failing report:
    ids and versions, never the device's own words."""
    from sqlalchemy import select

    from roomwarden.events.models import EventRecord

    t = world.tenant()
    _, room, device = _room(world, t)
    name = component()
    failed = [{"component": name, "version": "2.0", "status": "failed", "detail": "private words"}]
    expect(send_software(world, device, {name: "1.0"}, failed), 200)
    with world.transaction() as session:
        [event] = session.scalars(
            select(EventRecord).where(
                EventRecord.tenant_id == uuid.UUID(t.id), EventRecord.type == "software.install_failed"
            )
        ).all()
    assert str(event.room_id) == room["id"]
    assert event.data == {"device_id": device.device_id, "component": name, "version": "2.0"}
    assert "private words" not in str(event.data)
