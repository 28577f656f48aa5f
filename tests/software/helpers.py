"""Software delivery for tests: publish releases as the operator (each test under component
names of its own, since the catalogue is the whole service's), place rooms in a time zone
where it is night (inside the 00:00-05:00 window) or day right now, and report software."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update

from roomwarden.software.models import Release
from tests.devices.helpers import REPORTS, DeviceH
from tests.factories import TenantH, World, expect
from tests.rooms.helpers import base

RELEASES = "/api/v1/operator/releases"


def component() -> str:
    return f"agent-{uuid.uuid4().hex[:12]}"


def publish(world: World, name: str, version: str, notes: str = "") -> dict[str, Any]:
    body = {"component": name, "version": version, "notes": notes}
    return expect(world.client.post(RELEASES, json=body, headers=world.operator), 201)


def backdate(world: World, release_id: str, days: float) -> None:
    """Move a release's publication into the past (deferral tests)."""
    with world.transaction() as session:
        session.execute(
            update(Release)
            .where(Release.id == uuid.UUID(release_id))
            .values(published_at=datetime.now(UTC) - timedelta(days=days))
        )


def zone_at(local_hours: tuple[int, int]) -> str:
    """A fixed-offset zone whose local hour is now in ``local_hours`` (``Etc/GMT-3`` is UTC+3),
    at least 30 minutes from either end so a test does not cross its edge."""
    now = datetime.now(UTC)
    for offset in range(-12, 15):
        name = "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
        local = now.astimezone(ZoneInfo(name))
        minutes = local.hour * 60 + local.minute
        if local_hours[0] * 60 + 30 <= minutes <= local_hours[1] * 60 - 30:
            return name
    raise AssertionError(f"no zone is at {local_hours} now")


NIGHT = (1, 4)
DAY = (9, 18)


def ring(world: World, t: TenantH, deferral_days: int = 0, **extra: Any) -> dict[str, Any]:
    body = {"name": f"Ring {uuid.uuid4().hex[:8]}", "deferral_days": deferral_days, **extra}
    return expect(world.post(t, "/update-rings", body), 201)


def patch_ring(world: World, t: TenantH, ring_id: str, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{base(t)}/update-rings/{ring_id}"
    return expect(world.client.patch(url, json=body, headers=t.admin.headers), 200)


def send_software(
    world: World,
    device: DeviceH,
    software: dict[str, str],
    results: list[dict[str, str]] | None = None,
    signals: dict[str, str] | None = None,
) -> Any:
    body = {
        "sequence": next(device.sequence),
        "signals": [{"signal": s, "state": st} for s, st in (signals or {}).items()],
        "software": software,
        "software_results": results or [],
    }
    return world.client.post(REPORTS, json=body, headers=device.headers)


def offered(world: World, device: DeviceH, software: dict[str, str], **kw: Any) -> list[dict[str, Any]]:
    return expect(send_software(world, device, software, **kw), 200)["desired_software"]
