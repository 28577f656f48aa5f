"""The partner-scope matrix extended to devices, signals and monitoring tickets: a partner (and
a customer's scoped user) sees a delegated room's device, signals and monitoring tickets;
outside the scope every path answers 404 like a missing room, and lists, filters and counts
leak nothing of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from roomwarden.kit.time import utcnow
from tests.devices.helpers import enroll, report
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import link
from tests.rooms.helpers import base


def _get(world: World, t: TenantH, who: UserH, path: str, **params: Any) -> Any:
    return world.client.get(f"{base(t)}{path}", params=params, headers=who.headers)


@pytest.fixture
def fleet(world: World) -> dict[str, Any]:
    c, p = world.tenant(), world.tenant()
    inside, outside = world.room(c), world.room(c)
    for room in (inside, outside):
        device = enroll(world, c, room["id"])
        report(world, device, {"display": "failed", "calendar": "warning"})
    link(world, c, p, scope={"rooms": [inside["id"]]})
    expect(
        world.client.patch(
            f"{base(c)}/settings", json={"enable_all_tickets_view": True}, headers=c.admin.headers
        ),
        200,
    )
    scoped = world.user(c)
    world.assign(c, c.roles["Site Tech"], users=[scoped], scope={"rooms": [inside["id"]]})
    return {"c": c, "p": p, "in": inside["id"], "out": outside["id"], "scoped": scoped}


@pytest.mark.parametrize("who", ["partner", "scoped"])
def test_devices_signals_and_monitoring_tickets_stay_in_scope(
    world: World, fleet: dict[str, Any], who: str
) -> None:
    c: TenantH = fleet["c"]
    user: UserH = fleet["p"].admin if who == "partner" else fleet["scoped"]
    inside, outside = fleet["in"], fleet["out"]
    seen = expect(_get(world, c, user, f"/rooms/{inside}"), 200)
    assert seen["device"] is not None and {s["signal"] for s in seen["signals"]} == {"display", "calendar"}
    assert _get(world, c, user, f"/rooms/{outside}").status_code == 404
    assert _get(world, c, user, f"/rooms/{outside}/suppressions").status_code == 404
    body = {"reason": "r", "until": (utcnow() + timedelta(days=1)).isoformat()}
    put = world.client.put(f"{base(c)}/rooms/{outside}/suppressions/display", json=body, headers=user.headers)
    assert put.status_code == 404
    rooms = expect(_get(world, c, user, "/rooms", health_state="unhealthy"), 200)["items"]
    assert [r["id"] for r in rooms] == [inside]
    tickets = expect(_get(world, c, user, "/tickets", source="monitoring"), 200)["items"]
    assert {t["room_id"] for t in tickets} == {inside} and len(tickets) == 2
    assert expect(_get(world, c, user, "/tickets", room_id=outside), 200)["items"] == []
    hidden = expect(_get(world, c, c.admin, "/tickets", room_id=outside), 200)["items"]
    for ticket in hidden:
        assert _get(world, c, user, f"/tickets/{ticket['id']}").status_code == 404
        patched = world.client.patch(
            f"{base(c)}/tickets/{ticket['id']}", json={"comment": "x"}, headers=user.headers
        )
        assert patched.status_code == 404
    if who == "partner":
        everywhere = expect(world.client.get("/api/v1/partner/rooms", headers=user.headers), 200)["items"]
        assert [r["id"] for r in everywhere] == [inside] and everywhere[0]["device"] is not None
        aggregate = expect(world.client.get("/api/v1/partner/tickets", headers=user.headers), 200)["items"]
        assert {t["room_id"] for t in aggregate} == {inside}
        assert {t["source"] for t in aggregate} == {"monitoring"}


def test_counts_leak_nothing(world: World, fleet: dict[str, Any]) -> None:
    c, p = fleet["c"], fleet["p"]
    report_ = expect(world.client.get("/api/v1/partner/reports/health", headers=p.admin.headers), 200)
    assert report_["total_rooms"] == 1 and report_["rooms_by_health"]["unhealthy"] == 1
    assert report_["open_tickets"] == 2
    own = expect(_get(world, c, c.admin, "/reports/health"), 200)
    assert own["total_rooms"] == 2 and own["open_tickets"] == 4
