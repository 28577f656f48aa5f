"""The report answer with a due release vs without (issue 19, part 8).

In one process through the whole application (middlewares, the request's transaction, the
device's authentication), variants interleaved over ``--rounds`` rounds so that machine load
weighs on each alike, in a fleet of ``--rooms`` rooms whose devices run ``--components``
components, against a catalogue of ``--releases`` releases:

- ``due``: an unchanged report of a device whose room is inside its night-time window, in a
  ring that is not paused and whose deferral has passed, running an older version: its answer
  offers the newest release of each component (``desired_software`` not empty);
- ``day``: the same report from a room whose local time is outside the window (nothing offered);
- ``current``: inside the window, but the device runs every newest release (nothing offered).

Ratios of medians: due / day (target ≤ 1.5), due / current.

    .venv/bin/python -m bench.software_offers [--database sqlite|postgresql] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from bench._common import (
    DEFAULT_PG,
    finish,
    machine_facts,
    median,
    ratio,
    scratch_database,
)
from bench.device_reports import OK_SNAPSHOT, REPORTS, _fleet, _timed
from roomwarden.app import create_app
from roomwarden.devices.models import Device
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import Database
from roomwarden.kit.ids import new_id
from roomwarden.kit.migrate import upgrade
from roomwarden.rooms.models import Room, UpdateRing
from roomwarden.settings import DEMO_ENCRYPTION_KEY, Settings
from roomwarden.software import versions
from roomwarden.software.models import DeviceSoftware, Release
from roomwarden.wiring import install


def zone_at(first_hour: int, last_hour: int) -> str:
    """A fixed-offset zone whose local time is now between ``first_hour`` and ``last_hour``."""
    now = datetime.now(UTC)
    for offset in range(-12, 15):
        name = "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
        if first_hour <= now.astimezone(ZoneInfo(name)).hour < last_hour:
            return name
    raise RuntimeError("no zone found")


def _catalogue(db: Database, components: list[str], per_component: int) -> dict[str, str]:
    """``per_component`` releases of each component, published a year ago; the newest of each."""
    rows, newest = [], {}
    published = datetime.now(UTC) - timedelta(days=365)
    for c in components:
        for i in range(per_component):
            version = f"1.{i}.0"
            rows.append(
                {
                    "id": new_id(),
                    "component": c,
                    "version": version,
                    "version_key": versions.key(version),
                    "notes": "",
                    "published_at": published + timedelta(minutes=i),
                }
            )
            newest[c] = version
    with db.transaction() as session:
        session.execute(insert(Release), rows)
    return newest


def _software(db: Database, fleet: dict[str, Any], components: list[str], version: str) -> None:
    """Every device of the fleet runs ``version`` of each component (as reported once)."""
    with db.transaction() as session:
        mine = Device.tenant_id == fleet["tenant_id"]
        devices = session.query(Device.id, Device.room_id).filter(mine).all()
        rows = [
            {
                "tenant_id": fleet["tenant_id"],
                "room_id": d.room_id,
                "component": c,
                "version": version,
                "version_key": versions.key(version),
            }
            for d in devices
            for c in components
        ]
        for start in range(0, len(rows), 5000):
            session.execute(insert(DeviceSoftware), rows[start : start + 5000])
        session.execute(
            update(UpdateRing).where(UpdateRing.tenant_id == fleet["tenant_id"]).values(deferral_days=0)
        )


def in_process(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(env="development", database_url=database_url, jobs_in_serve=False)
    db = Database(database_url)
    upgrade(db)
    install()
    box = SecretBox(DEMO_ENCRYPTION_KEY)
    components = [f"component-{i}" for i in range(args.components)]
    print(f"building a {args.rooms}-room fleet and {args.components * args.per_component} releases ...")
    fleet = _fleet(db, box, "Software", args.rooms, "W")
    newest = _catalogue(db, components, args.per_component)
    _software(db, fleet, components, "1.0.0")
    night, day = zone_at(1, 3), zone_at(10, 16)
    picks = {"due": args.rooms // 4, "day": args.rooms // 2, "current": 3 * args.rooms // 4}
    with db.transaction() as session:
        for name, index in picks.items():
            zone = day if name == "day" else night
            session.execute(update(Room).where(Room.id == fleet["room_ids"][index]).values(time_zone=zone))
    app = create_app(settings, db)
    sequences = dict.fromkeys(picks, 0)
    old = dict.fromkeys(components, "1.0.0")
    software = {"due": old, "day": old, "current": newest}
    expected_offers = {"due": len(components), "day": 0, "current": 0}

    def report(name: str) -> Callable[[], Any]:
        token = fleet["tokens"][picks[name]]

        def call() -> Any:
            sequences[name] += 1
            body = {"sequence": sequences[name], "signals": OK_SNAPSHOT, "software": software[name]}
            response = client.post(REPORTS, json=body, headers={"Authorization": f"Bearer {token}"})
            offers = response.json()["desired_software"]
            if len(offers) != expected_offers[name]:
                raise RuntimeError(f"{name}: offered {len(offers)}, expected {expected_offers[name]}")
            return response

        return call

    variants = {name: report(name) for name in picks}
    samples: dict[str, list[float]] = {k: [] for k in variants}
    with TestClient(app) as client:
        for call in variants.values():  # warm up every path (and record the current software)
            for _ in range(20):
                _timed(call, 200)
        for _ in range(args.rounds):
            for name, call in variants.items():
                samples[name] += [_timed(call, 200) for _ in range(args.per_round)]
    db.dispose()
    medians = {k: round(median(v), 3) for k, v in samples.items()}
    return {
        "median_ms": medians,
        "p90_ms": {k: round(sorted(v)[int(len(v) * 0.9)], 3) for k, v in samples.items()},
        "zones": {"night": night, "day": day},
        "ratios": {
            "due_vs_day": ratio(medians["due"], medians["day"]),
            "due_vs_current": ratio(medians["due"], medians["current"]),
        },
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.software_offers", description=__doc__.split("\n\n")[0])
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server (a database is created and dropped)")
    p.add_argument("--rooms", type=int, default=5000)
    p.add_argument("--components", type=int, default=5)
    p.add_argument("--per-component", type=int, default=40)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--per-round", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    p.add_argument("--output", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.rooms, args.rounds, args.per_round = 500, 3, 10
    started = time.monotonic()
    with scratch_database(args.database, args.pg) as (url, _):
        facts = machine_facts(url)
        result: dict[str, Any] = {"in_process": in_process(url, args)}
    result["summary"] = {**result["in_process"]["ratios"], "median_ms": result["in_process"]["median_ms"]}
    parameters = {
        k: getattr(args, k) for k in ("rooms", "components", "per_component", "rounds", "per_round")
    }
    return finish("software_offers", args, facts, parameters, started, result)


if __name__ == "__main__":
    sys.exit(main())
