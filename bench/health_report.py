"""The health report over many days (issue 19, part 8): read from the daily roll-up, its cost
must follow the rooms far more than the days.

A tenant of ``--rooms`` rooms (each with a device) and ``--days`` days of history: a roll-up
row per room and day (about one day in twelve unhealthy), a resolved monitoring ticket per room
every few days, and 2% of the rooms with an important ticket still open (counted up to now at
read time). Through the whole application, interleaved over ``--rounds`` rounds, the Global
admin's ``GET .../reports/health`` over the last 90 days and over the last 7.

Ratio of medians: 90 days / 7 days (target ≤ 3).

    .venv/bin/python -m bench.health_report [--database sqlite|postgresql] [--rooms 1000] [--quick]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert

from bench._common import (
    DEFAULT_PG,
    finish,
    machine_facts,
    median,
    ratio,
    scratch_database,
)
from bench.device_reports import _fleet, _timed
from roomwarden.app import create_app
from roomwarden.identity.tokens import issue_token
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import Database
from roomwarden.kit.ids import new_id
from roomwarden.kit.migrate import upgrade
from roomwarden.kit.time import utcnow
from roomwarden.reports.models import RoomHealthDay, TicketPeriod
from roomwarden.rooms.models import Ticket
from roomwarden.settings import DEMO_ENCRYPTION_KEY, Settings
from roomwarden.wiring import install


def _history(db: Database, fleet: dict[str, Any], days: int, seed: int = 19) -> dict[str, int]:
    """Roll-up rows and monitoring tickets as ``days`` days of monitoring leave them."""
    rng = random.Random(seed)
    tid, now = fleet["tenant_id"], utcnow()
    today = now.date()
    counts = {"room_days": 0, "tickets": 0, "open": 0}
    rooms = fleet["room_ids"]
    for start in range(0, len(rooms), 200):
        day_rows, tickets, periods = [], [], []
        for i, rid in enumerate(rooms[start : start + 200], start):
            for d in range(days):
                bad = rng.random() < 1 / 12
                day_rows.append(
                    {
                        "tenant_id": tid,
                        "room_id": rid,
                        "day": today - timedelta(days=d),
                        "unhealthy_seconds": rng.randint(1201, 20000) if bad else rng.choice((0, 0, 300)),
                    }
                )
            for d in range(days - 1, 0, -rng.randint(3, 6)):
                opened = now - timedelta(days=d, hours=rng.randint(0, 12))
                ended = opened + timedelta(minutes=rng.randint(5, 600))
                still_open = d < 3 and i % 50 == 0
                tid_ = new_id()
                tickets.append(
                    {
                        "id": tid_,
                        "tenant_id": tid,
                        "room_id": rid,
                        "kind": "incident",
                        "source": "monitoring",
                        "signal": "display",
                        "status": "open" if still_open else "resolved",
                        "severity": "important",
                        "title": "Display not working",
                        "description": "",
                        "resolved_at": None if still_open else ended,
                        "created_at": opened,
                        "updated_at": opened,
                    }
                )
                periods.append(
                    {
                        "id": new_id(),
                        "tenant_id": tid,
                        "room_id": rid,
                        "ticket_id": tid_,
                        "signal": "display",
                        "severity": "important",
                        "opened_at": opened,
                        "opens": True,
                        "started_at": opened,
                        "ended_at": None if still_open else ended,
                        "resolved": not still_open,
                        "resolve_seconds": None if still_open else int((ended - opened).total_seconds()),
                        "opened_day": opened.date(),
                        "ended_day": None if still_open else ended.date(),
                    }
                )
                counts["open"] += still_open
        with db.transaction() as session:
            session.execute(insert(RoomHealthDay), day_rows)
            session.execute(insert(Ticket), tickets)
            session.execute(insert(TicketPeriod), periods)
        counts["room_days"] += len(day_rows)
        counts["tickets"] += len(tickets)
    return counts


def _settle(db: Database) -> None:
    """Statistics and the visibility map as a running database has them (autovacuum would
    get there on its own after a bulk load; the benchmark does not wait for it)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if db.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")


def in_process(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(env="development", database_url=database_url, jobs_in_serve=False)
    db = Database(database_url)
    upgrade(db)
    install()
    print(f"building a {args.rooms}-room fleet with {args.days} days of history ...", flush=True)
    fleet = _fleet(db, SecretBox(DEMO_ENCRYPTION_KEY), "Reports", args.rooms, "R")
    history = _history(db, fleet, args.days)
    _settle(db)
    app = create_app(settings, db)
    token = issue_token(
        settings, user_id=fleet["admin_id"], tenant_id=fleet["tenant_id"], mfa=False, version=0
    )
    headers = {"Authorization": f"Bearer {token}"}
    today = utcnow().date()
    url = f"/api/v1/tenants/{fleet['tenant_id']}/reports/health"

    def over(days: int) -> Any:
        params = {"start": (today - timedelta(days=days - 1)).isoformat(), "end": today.isoformat()}
        return lambda: client.get(url, params=params, headers=headers)

    variants = {"days_90": over(90), "days_7": over(7)}
    samples: dict[str, list[float]] = {k: [] for k in variants}
    with TestClient(app) as client:
        checked = over(90)().json()
        assert len(checked["rooms"]) == args.rooms and checked["room_days"] > 0, checked.get("detail")
        for call in variants.values():
            for _ in range(3):
                _timed(call, 200)
        for _ in range(args.rounds):
            for name, call in variants.items():
                samples[name] += [_timed(call, 200) for _ in range(args.per_round)]
    db.dispose()
    medians = {k: round(median(v), 3) for k, v in samples.items()}
    return {
        "history": history,
        "median_ms": medians,
        "p90_ms": {k: round(sorted(v)[int(len(v) * 0.9)], 3) for k, v in samples.items()},
        "ratios": {"days_90_vs_7": ratio(medians["days_90"], medians["days_7"])},
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.health_report", description=__doc__.split("\n\n")[0])
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument(
        "--pg", default=DEFAULT_PG, help="PostgreSQL server URL (a database is created and dropped)"
    )
    p.add_argument("--rooms", type=int, default=1000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--per-round", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    p.add_argument("--output", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.rooms, args.rounds, args.per_round = 200, 3, 3
    started = time.monotonic()
    with scratch_database(args.database, args.pg) as (url, _):
        facts = machine_facts(url)
        result: dict[str, Any] = {"in_process": in_process(url, args)}
    result["summary"] = {**result["in_process"]["ratios"], "median_ms": result["in_process"]["median_ms"]}
    parameters = {k: getattr(args, k) for k in ("rooms", "days", "rounds", "per_round")}
    return finish("health_report", args, facts, parameters, started, result)


if __name__ == "__main__":
    sys.exit(main())
