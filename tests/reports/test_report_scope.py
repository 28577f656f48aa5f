"""The scope matrix for reports: a partner (per customer and in total) and a customer's scoped
user see figures of their rooms only — no room, ticket, meeting or room-day of a room outside
their scope moves a number — and a role without ``reports.view`` sees none."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from roomwarden.kit.time import utcnow
from tests.devices.helpers import REPORTS, enroll
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import link
from tests.reports.helpers import Stretch, at, drive
from tests.rooms.helpers import base

DAY = (utcnow() - timedelta(days=10)).date()
START, END = DAY - timedelta(days=1), DAY + timedelta(days=1)
RANGE = {"start": START.isoformat(), "end": END.isoformat()}


def _fill(world: World, t: TenantH, room_id: str, minutes: int, meetings: int) -> None:
    """An unhealthy day (``minutes`` of a failed display at noon) and ``meetings`` meetings."""
    drive(
        world,
        [
            Stretch(
                room_id,
                "display",
                "failed",
                at("UTC", DAY, 12),
                at("UTC", DAY, 12) + timedelta(minutes=minutes),
            )
        ],
    )
    device = enroll(world, t, room_id)
    starts = [at("UTC", DAY, 8) + timedelta(hours=i) for i in range(meetings)]
    body = {
        "sequence": 1,
        "meetings": [
            {
                "started_at": s.isoformat(),
                "ended_at": (s + timedelta(minutes=30)).isoformat(),
                "participants": 3,
            }
            for s in starts
        ],
    }
    expect(world.client.post(REPORTS, json=body, headers=device.headers), 200)


@pytest.fixture
def fleet(world: World) -> dict[str, Any]:
    c, c2, p = world.tenant(), world.tenant(), world.tenant()
    inside, outside, other = world.room(c), world.room(c), world.room(c2)
    _fill(world, c, inside["id"], 30, 2)
    _fill(world, c, outside["id"], 90, 5)
    _fill(world, c2, other["id"], 60, 1)
    link(world, c, p, scope={"rooms": [inside["id"]]})
    link(world, c2, p)
    lead, tech = world.user(c), world.user(c)
    world.assign(c, c.roles["Site Lead"], users=[lead], scope={"rooms": [inside["id"]]})
    world.assign(c, c.roles["Site Tech"], users=[tech], scope={"rooms": [inside["id"]]})
    return {
        "c": c,
        "c2": c2,
        "p": p,
        "in": inside["id"],
        "out": outside["id"],
        "other": other["id"],
        "lead": lead,
        "tech": tech,
    }


def _get(world: World, path: str, who: UserH, **params: Any) -> Any:
    return world.client.get(path, params={**RANGE, **params}, headers=who.headers)


def _today_only(body: dict[str, Any]) -> dict[str, Any]:
    """The figures of a report, without what today's state and time add."""
    keep = ("rooms", "days", "room_days", "unhealthy_room_days", "tickets_per_signal", "resolved_tickets")
    return {k: body[k] for k in keep}


def test_a_scoped_user_sees_its_rooms_figures_only(world: World, fleet: dict[str, Any]) -> None:
    c, lead, tech = fleet["c"], fleet["lead"], fleet["tech"]
    health = expect(_get(world, f"{base(c)}/reports/health", lead), 200)
    assert [r["room_id"] for r in health["rooms"]] == [fleet["in"]]
    assert health["unhealthy_room_days"] == 1 and health["room_days"] == 1
    assert health["tickets_per_signal"] == {"display": 1} and health["resolved_tickets"] == 1
    assert health["median_time_to_resolve_seconds"] == 30 * 60
    usage = expect(_get(world, f"{base(c)}/reports/usage", lead), 200)
    assert [(r["room_id"], r["meetings"]) for r in usage["rooms"]] == [(fleet["in"], 2)]
    assert usage["meetings"] == 2 and sum(d["meetings"] for d in usage["days"]) == 2
    csv_rows = _get(world, f"{base(c)}/reports/health", lead, format="csv").text.splitlines()
    assert len(csv_rows) == 2 and fleet["out"] not in "".join(csv_rows)
    # The admin sees both rooms.
    everything = expect(_get(world, f"{base(c)}/reports/health", c.admin), 200)
    assert everything["unhealthy_room_days"] == 2 and everything["tickets_per_signal"] == {"display": 2}
    assert everything["median_time_to_resolve_seconds"] == 60 * 60
    for kind in ("health", "usage"):
        assert _get(world, f"{base(c)}/reports/{kind}", tech).status_code == 403


def test_a_partner_sees_each_customers_scope_and_their_total(world: World, fleet: dict[str, Any]) -> None:
    p, c, c2 = fleet["p"], fleet["c"], fleet["c2"]
    health = expect(_get(world, "/api/v1/partner/reports/health", p.admin), 200)
    parts = {x["customer_id"]: x for x in health["customers"]}
    assert set(parts) == {c.id, c2.id}
    assert [r["room_id"] for r in parts[c.id]["rooms"]] == [fleet["in"]]
    assert [r["room_id"] for r in parts[c2.id]["rooms"]] == [fleet["other"]]
    assert parts[c.id]["unhealthy_room_days"] == 1 and parts[c2.id]["unhealthy_room_days"] == 1
    assert health["unhealthy_room_days"] == 2 and health["room_days"] == 2
    assert health["tickets_per_signal"] == {"display": 2}
    assert health["median_time_to_resolve_seconds"] == (30 * 60 + 60 * 60) / 2
    # Each customer's part is what that customer's own path gives the partner.
    own = expect(_get(world, f"{base(c)}/reports/health", p.admin), 200)
    assert _today_only(own) == _today_only(parts[c.id])
    usage = expect(_get(world, "/api/v1/partner/reports/usage", p.admin), 200)
    assert {x["customer_id"]: x["meetings"] for x in usage["customers"]} == {c.id: 2, c2.id: 1}
    assert usage["meetings"] == 3 and usage["total_rooms"] == 2
    rows = _get(world, "/api/v1/partner/reports/usage", p.admin, format="csv").text.splitlines()
    assert len(rows) == 3 and fleet["out"] not in "".join(rows)
    one = expect(_get(world, "/api/v1/partner/reports/usage", p.admin, customer_id=c2.id), 200)
    assert [x["customer_id"] for x in one["customers"]] == [c2.id] and one["meetings"] == 1
    # A customer the partner is not linked to answers like a missing one.
    stranger = world.tenant()
    assert _get(world, "/api/v1/partner/reports/health", p.admin, customer_id=stranger.id).status_code == 404
    assert _get(world, f"{base(stranger)}/reports/health", p.admin).status_code in (403, 404)


def test_dates_are_validated_for_partners_too(world: World, fleet: dict[str, Any]) -> None:
    p = fleet["p"]
    bad = world.client.get(
        "/api/v1/partner/reports/health",
        params={"start": "2026-05-02", "end": "2026-05-01"},
        headers=p.admin.headers,
    )
    assert bad.status_code == 422
    assert (
        date.fromisoformat(expect(_get(world, "/api/v1/partner/reports/usage", p.admin), 200)["end"]) == END
    )
