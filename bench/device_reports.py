"""Device reports at fleet scale (issue 18, part 10).

Part 1, in one process through the whole application (middlewares, the request's
transaction, the device's or the person's authentication), variants interleaved over
``--rounds`` rounds so that machine load weighs on each alike:

- ``unchanged_large``: an unchanged report of a device in a 20,000-room fleet (every room with
  a device and eight signal rows);
- ``unchanged_small``: the same in a 20-room fleet;
- ``get_room``: the Global admin's ``GET`` of that large-fleet room (with its device and signals);
- ``changing``: a report that opens or resolves a ticket (a signal flips each report).

Ratios of medians: large/small unchanged report (target ≤ 1.2), unchanged report / GET of the
room (≤ 1.2), changing / unchanged (≤ 3).

Part 2 (PostgreSQL; skipped with ``--no-server``): ``roomwarden serve --workers 1`` in
production mode and ``wrk`` posting unchanged reports of many devices (each thread its own
devices, sequences increasing) for ``--duration`` seconds: sustained reports per second, stated
as the rooms at one report a minute that one worker carries.

    .venv/bin/python -m bench.device_reports [--database sqlite|postgresql] [--rooms 20000] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert

from bench._common import (
    DEFAULT_PG,
    finish,
    free_port,
    fresh_secrets,
    machine_facts,
    median,
    production_env,
    ratio,
    roomwarden_exe,
    scratch_database,
    server,
)
from roomwarden.app import create_app
from roomwarden.devices.catalogue import REPORTED
from roomwarden.devices.models import Device, RoomSignal
from roomwarden.devices.tokens import token_hash
from roomwarden.identity.tokens import issue_token
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import Database
from roomwarden.kit.ids import new_id
from roomwarden.kit.migrate import upgrade
from roomwarden.kit.time import utcnow
from roomwarden.rooms.models import Room, UpdateRing
from roomwarden.rooms.service import key_hash
from roomwarden.settings import DEMO_ENCRYPTION_KEY, Settings
from roomwarden.tenants.schemas import AdminCreate, TenantCreate
from roomwarden.tenants.service import create_tenant
from roomwarden.wiring import install

REPORTS = "/api/v1/device/reports"
OK_SNAPSHOT = [{"signal": s, "state": "ok"} for s in REPORTED]
WRK_SCRIPT = """
local tokens = {%(tokens)s}
local threads = {}
local counter = 1
setup = function(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
init = function(args)
  n = 0
  base = os.time() * 1000000
end
request = function()
  n = n + 1
  local per = math.floor(#tokens / %(threads)d)
  local token = tokens[(id - 1) * per + (n %% per) + 1]
  local body = '{"sequence":' .. (base + n) .. ',"signals":%(signals)s}'
  return wrk.format("POST", "%(path)s",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"status_errors\\":%%d,\\"socket_errors\\":%%d,"
    .. "\\"p50_us\\":%%d,\\"p99_us\\":%%d}\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _fleet(db: Database, box: SecretBox, name: str, rooms: int, prefix: str) -> dict[str, Any]:
    """A tenant with ``rooms`` rooms, each with an enrolled device that reported all-ok once
    (eight signal rows): bulk rows, as a fleet that has run for a while looks."""
    with db.transaction() as session:
        domain = f"{name.lower()}-{uuid.uuid4().hex[:8]}.example.com"
        tenant, admin = create_tenant(
            session,
            TenantCreate(
                name=name,
                domains=[domain],
                admin=AdminCreate(
                    upn=f"admin@{domain}", display_name="Admin", password="Bench-password-2026"
                ),
            ),
        )
        ring = session.query(UpdateRing).filter_by(tenant_id=tenant.id, is_default=True).one()
        tenant_id, admin_id, ring_id = tenant.id, admin.id, ring.id
    sealed = box.seal("rwk_bench")
    now = utcnow()
    tokens: list[str] = []
    room_ids: list[uuid.UUID] = []
    for start in range(0, rooms, 2000):
        batch = range(start, min(rooms, start + 2000))
        room_rows, device_rows, signal_rows = [], [], []
        for i in batch:
            rid = new_id()
            room_ids.append(rid)
            token = f"rwd_{prefix}{i:06d}{uuid.uuid4().hex}"
            tokens.append(token)
            room_rows.append(
                {
                    "id": rid,
                    "tenant_id": tenant_id,
                    "name": f"Room {i}",
                    "resource_account": f"r{i}@{domain}",
                    "country": "US",
                    "city": "",
                    "building": "",
                    "update_ring_id": ring_id,
                    "enrollment_state": "enrolled",
                    "reported_health": "healthy",
                    "last_report_at": now,
                    "time_zone": "UTC",
                    "enrollment_key_sealed": sealed,
                    "enrollment_key_hash": key_hash(f"{prefix}-{i}-{uuid.uuid4().hex}"),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            device_rows.append(
                {
                    "id": new_id(),
                    "tenant_id": tenant_id,
                    "room_id": rid,
                    "serial_number": f"SN-{i}",
                    "model": "Bench console",
                    "agent_version": "1.0",
                    "token_hash": token_hash(token),
                    "enrolled_at": now,
                    "last_report_at": now,
                    "last_sequence": 0,
                }
            )
            signal_rows += [
                {
                    "tenant_id": tenant_id,
                    "room_id": rid,
                    "signal": s,
                    "state": "ok",
                    "detail": "",
                    "since": now,
                }
                for s in REPORTED
            ]
        with db.transaction() as session:
            session.execute(insert(Room), room_rows)
            session.execute(insert(Device), device_rows)
            session.execute(insert(RoomSignal), signal_rows)
    return {"tenant_id": tenant_id, "admin_id": admin_id, "tokens": tokens, "room_ids": room_ids}


def _timed(call: Callable[[], Any], expect: int) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    if response.status_code != expect:
        raise RuntimeError(f"answered {response.status_code}: {response.text[:300]}")
    return elapsed * 1000


def in_process(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(env="development", database_url=database_url, jobs_in_serve=False)
    db = Database(database_url)
    upgrade(db)
    install()
    box = SecretBox(DEMO_ENCRYPTION_KEY)
    print(f"building a {args.rooms}-room and a {args.small}-room fleet ...", flush=True)
    large = _fleet(db, box, "Large", args.rooms, "L")
    small = _fleet(db, box, "Small", args.small, "S")
    app = create_app(settings, db)
    admin_token = issue_token(
        settings, user_id=large["admin_id"], tenant_id=large["tenant_id"], mfa=False, version=0
    )
    room_url = f"/api/v1/tenants/{large['tenant_id']}/rooms/{large['room_ids'][args.rooms // 2]}"
    sequences = {"L": 0, "S": 0, "C": 0}

    def report(token: str, key: str, signals: list[dict[str, str]]) -> Callable[[], Any]:
        def call() -> Any:
            sequences[key] += 1
            body = {"sequence": sequences[key], "signals": signals}
            return client.post(REPORTS, json=body, headers={"Authorization": f"Bearer {token}"})

        return call

    flip = [0]

    def changing() -> Any:
        flip[0] += 1
        state = "failed" if flip[0] % 2 else "ok"  # opens (or reopens) then resolves a ticket
        signals = [{"signal": s, "state": state if s == "display" else "ok"} for s in REPORTED]
        return report(large["tokens"][args.rooms // 3], "C", signals)()

    variants: dict[str, tuple[Callable[[], Any], int]] = {
        "unchanged_large": (report(large["tokens"][args.rooms // 2], "L", OK_SNAPSHOT), 200),
        "unchanged_small": (report(small["tokens"][args.small // 2], "S", OK_SNAPSHOT), 200),
        "get_room": (lambda: client.get(room_url, headers={"Authorization": f"Bearer {admin_token}"}), 200),
        "changing": (changing, 200),
    }
    samples: dict[str, list[float]] = {k: [] for k in variants}
    with TestClient(app) as client:
        for call, code in variants.values():  # warm up every path
            for _ in range(20):
                _timed(call, code)
        for _ in range(args.rounds):
            for name, (call, code) in variants.items():
                samples[name] += [_timed(call, code) for _ in range(args.per_round)]
    db.dispose()
    medians = {k: round(median(v), 3) for k, v in samples.items()}
    return {
        "median_ms": medians,
        "p90_ms": {k: round(sorted(v)[int(len(v) * 0.9)], 3) for k, v in samples.items()},
        "ratios": {
            "unchanged_large_vs_small": ratio(medians["unchanged_large"], medians["unchanged_small"]),
            "unchanged_vs_get_room": ratio(medians["unchanged_large"], medians["get_room"]),
            "changing_vs_unchanged": ratio(medians["changing"], medians["unchanged_large"]),
        },
    }


def sustained(database_url: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """``roomwarden serve --workers 1`` (production mode) under wrk's unchanged reports."""
    secrets = fresh_secrets()
    env = production_env(database_url, secrets)
    env["ROOMWARDEN_JOBS_IN_SERVE"] = "false"
    db = Database(database_url)
    tokens: list[str] = []
    # the fleet of part 1 is there: give its devices new tokens the load generator knows
    with db.transaction() as session:
        devices = session.query(Device).order_by(Device.id).limit(args.load_devices).all()
        for d in devices:
            token = f"rwd_load{uuid.uuid4().hex}"
            d.token_hash = hashlib.sha256(token.encode()).hexdigest()
            d.last_sequence = 0
            tokens.append(token)
    db.dispose()
    threads = 2
    script = tmp / "reports.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "tokens": ",".join(json.dumps(t) for t in tokens),
            "threads": threads,
            "signals": json.dumps(OK_SNAPSHOT).replace("'", ""),
            "path": REPORTS,
        }
    )
    port = free_port()
    cmd = [roomwarden_exe(), "serve", "--no-migrate", "--host", "127.0.0.1"]
    with server([*cmd, "--port", str(port), "--workers", "1"], env, port, 1, tmp) as url:
        wrk = ["wrk", f"-t{threads}", f"-c{args.connections}", f"-d{args.duration}s", "--timeout", "10s"]
        out = subprocess.run([*wrk, "-s", str(script), url], capture_output=True, text=True, check=False)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    r = json.loads(line.removeprefix("BENCH_JSON "))
    rps = r["requests"] / (r["duration_us"] / 1e6)
    return {
        "devices": len(tokens),
        "connections": args.connections,
        "seconds": args.duration,
        "reports_per_second": round(rps, 1),
        "rooms_at_one_report_a_minute": int(rps * 60),
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "status_errors": r["status_errors"],
        "socket_errors": r["socket_errors"],
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.device_reports", description=__doc__.split("\n\n")[0])
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument(
        "--pg", default=DEFAULT_PG, help="PostgreSQL server URL (a database is created and dropped)"
    )
    p.add_argument("--rooms", type=int, default=20_000)
    p.add_argument("--small", type=int, default=20)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--per-round", type=int, default=20)
    p.add_argument("--duration", type=int, default=20, help="seconds of sustained load (PostgreSQL)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--load-devices", type=int, default=2000)
    p.add_argument("--no-server", action="store_true", help="skip the sustained load of part 2")
    p.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    p.add_argument("--output", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.rooms, args.rounds, args.per_round, args.duration, args.load_devices = 2000, 3, 10, 5, 200
    started = time.monotonic()
    with scratch_database(args.database, args.pg) as (url, tmp):
        facts = machine_facts(url)
        result: dict[str, Any] = {"in_process": in_process(url, args)}
        if args.database == "postgresql" and not args.no_server:
            print("sustained reports: roomwarden serve --workers 1 under wrk ...", flush=True)
            result["sustained"] = sustained(url, args, tmp)
    result["summary"] = {
        **result["in_process"]["ratios"],
        "median_ms": result["in_process"]["median_ms"],
        **(
            {
                "reports_per_second_one_worker": result["sustained"]["reports_per_second"],
                "rooms_at_one_report_a_minute_one_worker": result["sustained"][
                    "rooms_at_one_report_a_minute"
                ],
            }
            if "sustained" in result
            else {}
        ),
    }
    parameters = {
        k: getattr(args, k) for k in ("rooms", "small", "rounds", "per_round", "duration", "connections")
    }
    return finish("device_reports", args, facts, parameters, started, result)


if __name__ == "__main__":
    sys.exit(main())
