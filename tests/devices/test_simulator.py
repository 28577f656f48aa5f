"""``roomwarden fleet simulate`` over real HTTP: it reads the rooms' keys with the token given,
enrols a device per room, reports, and fails and recovers signals, so rooms show devices,
health and monitoring tickets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from roomwarden.cli import app as cli
from roomwarden.devices.simulator import Fleet
from tests.concurrency.conftest import serve_in_thread
from tests.factories import World
from tests.rooms.helpers import get


@pytest.fixture(scope="module")
def live(app, served_url: str | None) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if served_url:
        yield served_url
        return
    yield from serve_in_thread(app)


def test_a_simulated_fleet_shows_health_and_tickets(world: World, live: str) -> None:
    t = world.tenant()
    rooms = [world.room(t) for _ in range(3)]
    token = t.admin.headers["Authorization"].removeprefix("Bearer ")
    fleet = Fleet(live, token, t.id, rooms=3, failure_rate=1.0, interval=0.2, seed=7, log=lambda _: None)
    assert len(fleet.enrol()) == 3
    # every device reports at least once: bounded in time, with room for a loaded machine
    assert fleet.run(3.0) >= 3
    for room in rooms:
        read = get(world, t, f"/rooms/{room['id']}")
        assert read["device"]["model"] == "Roomwarden Simulated Console"
        assert read["device"]["last_report_at"] is not None and read["health_state"] != "unknown"
    assert get(world, t, "/tickets", source="monitoring")["items"]


def test_the_command(world: World, live: str) -> None:
    t = world.tenant()
    room = world.room(t)
    token = t.admin.headers["Authorization"].removeprefix("Bearer ")
    args = ["fleet", "simulate", "--url", live, "--token", token, "--tenant", t.id, "--rooms", "5"]
    result = CliRunner().invoke(cli, [*args, "--duration", "1", "--interval", "0.3", "--failure-rate", "0"])
    assert result.exit_code == 0, result.output
    assert "1 device(s) sent" in result.output
    assert get(world, t, f"/rooms/{room['id']}")["health_state"] == "healthy"
    refused = CliRunner().invoke(cli, [*args[:5], "not-a-token", "--tenant", t.id, "--duration", "1"])
    assert refused.exit_code == 1 and "401" in refused.output


def test_simulated_devices_report_meetings_once(
    world: World, live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("roomwarden.devices.simulator.MEETING", 1.0)  # a meeting with every report
    t = world.tenant()
    room = world.room(t)
    token = t.admin.headers["Authorization"].removeprefix("Bearer ")
    fleet = Fleet(live, token, t.id, rooms=1, failure_rate=0.0, interval=0.3, seed=3, log=lambda _: None)
    fleet.enrol()
    sent = fleet.run(1.0)
    usage = get(world, t, "/reports/usage")
    [mine] = [r for r in usage["rooms"] if r["room_id"] == room["id"]]
    # one per report, except reports within the same second (one start, stored once)
    assert 1 <= mine["meetings"] <= sent and not fleet.devices[0].meetings
