"""Devices for tests: enrol a room's device over the API (with the key read through the
API, as a console would be given it), report snapshots, and put a room in a health state the
way the service now derives it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from tests.factories import TenantH, UserH, World, expect

ENROLL = "/api/v1/devices/enroll"
REPORTS = "/api/v1/device/reports"
#: A snapshot that derives each health state (unknown: no device at all).
SNAPSHOTS: dict[str, dict[str, str]] = {
    "healthy": {},
    "degraded": {"calendar": "failed"},
    "unhealthy": {"display": "failed"},
}
_serials = itertools.count(1)


@dataclass
class DeviceH:
    device_id: str
    room_id: str
    tenant_id: str
    token: str
    sequence: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def enrollment_key(world: World, tenant: TenantH, room_id: str, as_: UserH | None = None) -> str:
    who = as_ or tenant.admin
    url = f"/api/v1/tenants/{tenant.id}/rooms/{room_id}/enrollment-key"
    return expect(world.client.get(url, headers=who.headers), 200)["enrollment_key"]


def enroll_with(world: World, key: str, serial: str | None = None) -> Any:
    body = {
        "enrollment_key": key,
        "serial_number": serial or f"SN-{next(_serials):06d}",
        "model": "Console 7",
        "agent_version": "1.0.0",
    }
    return world.client.post(ENROLL, json=body)


def enroll(world: World, tenant: TenantH, room_id: str, serial: str | None = None) -> DeviceH:
    body = expect(enroll_with(world, enrollment_key(world, tenant, room_id), serial), 201)
    return DeviceH(body["device_id"], body["room_id"], body["tenant_id"], body["device_token"])


def send(
    world: World, device: DeviceH, signals: dict[str, str] | None = None, *, sequence: int | None = None
) -> Any:
    body = {
        "sequence": next(device.sequence) if sequence is None else sequence,
        "signals": [{"signal": s, "state": st, "detail": ""} for s, st in (signals or {}).items()],
    }
    return world.client.post(REPORTS, json=body, headers=device.headers)


def report(world: World, device: DeviceH, signals: dict[str, str] | None = None, **kw: Any) -> Any:
    return expect(send(world, device, signals, **kw), 200)


def set_health(world: World, tenant: TenantH, room_id: str, state: str) -> DeviceH | None:
    """Put the room in ``state`` through a device (enrolled once per room and kept)."""
    if state == "unknown":
        return None
    device = _devices.get(room_id) or enroll(world, tenant, room_id)
    _devices[room_id] = device
    report(world, device, {**dict.fromkeys(("display", "calendar"), "ok"), **SNAPSHOTS[state]})
    return device


_devices: dict[str, DeviceH] = {}
