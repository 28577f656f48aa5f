"""The fixed cost of every request: the service's ``GET /healthz`` against a bare FastAPI
application with one synchronous route (``bench.http_app --bare``), and what an authorised
request costs on top.

Part 1, in process: the ASGI application called directly, no server and no socket, for
``GET /healthz``: ``bare``, ``service`` (``create_app``, dispatching through its route index,
kit/routeindex.py) and ``service_walk`` (the same application with FastAPI's plain dispatch,
every route tried in turn: what the index saves), interleaved in ``--rounds`` x 10 slices of
``--calls`` / 10 requests; microseconds per request (median of the slices).

Part 2, one keep-alive connection: the applications served as in production (``bench.http_app``,
``bench.http_app --bare`` and ``bench.http_app --plain-routing``: uvicorn with the arguments of
``roomwarden serve``, one worker each, ``TCP_NODELAY``), a Python client (``http.client``,
``TCP_NODELAY``) sending ``--requests`` requests one after another per round: the bare
``/healthz``, the service's ``/healthz`` with and without the route index, the Global admin's
and a partner's ``GET`` room, and ``GET /api/v1/me``; p50 and p99 latency.

Part 3, throughput: ``wrk`` keep-alive over ``--connections`` (16) connections, ``/healthz`` of
each server, in turn for ``--rounds`` rounds of ``--duration`` seconds.

Targets (same-run ratios): the service's ``/healthz`` at most 1.5x the bare one's latency (at
least 0.67x its throughput); an authorised ``GET`` room at most 3x the bare ``/healthz``.

    .venv/bin/python -m bench.fixed_cost [--database sqlite|postgresql] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench._common import (
    DEFAULT_PG,
    LOOPBACK,
    NO_WRK,
    WRK_SCRIPT,
    finish,
    free_port,
    fresh_secrets,
    interleaved,
    machine_facts,
    median,
    production_env,
    ratio,
    roomwarden_exe,
    scratch_database,
    server,
    sign_in,
)

HEALTHZ = "/healthz"


# -- part 1: in process ----------------------------------------------------------------------


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _calls(app: Any, calls: int) -> float:
    """Microseconds per ``GET /healthz``, the whole ASGI stack, answered 200."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(calls):
        await app(_scope(HEALTHZ), receive, send)
    seconds = time.perf_counter() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"GET /healthz answered {sorted(set(statuses))}")
    return seconds / calls * 1e6


def in_process(env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    from bench.http_app import bare
    from roomwarden.app import create_app
    from roomwarden.kit.routeindex import RouteIndex
    from roomwarden.settings import get_settings

    saved = dict(os.environ)
    os.environ.update({**env, "ROOMWARDEN_PUBLIC_URL": "http://127.0.0.1:8000"})
    get_settings.cache_clear()
    try:
        service = create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
    index = service.router.middleware_stack
    if not isinstance(index, RouteIndex):
        raise RuntimeError("create_app no longer dispatches through kit.routeindex")

    async def walk(scope: Any, receive: Any, send: Any) -> None:
        service.router.middleware_stack = index.walk
        try:
            await service(scope, receive, send)
        finally:
            service.router.middleware_stack = index

    variants: dict[str, Any] = {"bare": bare, "service": service, "service_walk": walk}
    runs: dict[str, list[float]] = {k: [] for k in variants}

    # short slices, many times over: the load of a shared machine changes within a second
    slice_calls, slices = max(args.calls // 10, 10), args.rounds * 10

    async def measure() -> None:
        for app in variants.values():
            await _calls(app, slice_calls)  # warm-up
        names = list(variants)
        for n in range(slices):
            for name in names[n % 3 :] + names[: n % 3]:
                runs[name].append(await _calls(variants[name], slice_calls))

    asyncio.run(measure())
    out: dict[str, Any] = {
        name: {"us_median": round(median(v), 1), "slices_us": [round(x, 1) for x in v]}
        for name, v in runs.items()
    }
    out["service_over_bare"] = ratio(out["service"]["us_median"], out["bare"]["us_median"])
    out["walk_over_bare"] = ratio(out["service_walk"]["us_median"], out["bare"]["us_median"])
    return out


# -- part 2: one keep-alive connection -------------------------------------------------------


def _latencies(url: str, path: str, token: str | None, requests: int) -> list[float]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.connect()
    assert conn.sock is not None
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = []
    try:
        for _ in range(requests):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            out.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}")
    finally:
        conn.close()
    return out


def _percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def keep_alive(targets: dict[str, tuple[str, str, str | None]], args: argparse.Namespace) -> dict[str, Any]:
    """``targets``: name -> (base URL, path, token); each round runs them in turn, one
    connection each, starting one later every round."""
    for url, path, token in targets.values():
        _latencies(url, path, token, 50)  # warm-up
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in targets}
    names = list(targets)
    for n in range(args.rounds):
        for name in names[n % len(names) :] + names[: n % len(names)]:
            ms = _latencies(*targets[name], args.requests)
            runs[name].append({"p50_ms": _percentile(ms, 0.5), "p99_ms": _percentile(ms, 0.99)})
        done = ", ".join(f"{k} {v[-1]['p50_ms']:.2f}" for k, v in runs.items())
        print(f"  round {n + 1}/{args.rounds} (p50 ms): {done}", flush=True)
    return {
        name: {
            "p50_ms_median": round(median([r["p50_ms"] for r in rs]), 3),
            "p99_ms_median": round(median([r["p99_ms"] for r in rs]), 3),
            "rounds": rs,
        }
        for name, rs in runs.items()
    }


# -- the benchmark ---------------------------------------------------------------------------


def run(database_url: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from bench.http_throughput import seed

    password = "Bench-" + secrets.token_urlsafe(18)
    env = production_env(database_url, fresh_secrets())
    subprocess.run([roomwarden_exe(), "migrate"], env=env, check=True, capture_output=True)
    report: dict[str, Any] = {}
    print("part 1: in process ...", flush=True)
    report["in_process"] = in_process(env, args)
    print("seeding ...", flush=True)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        world = seed(database_url, args.rooms, 25, args.rooms // 2, password)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    report["world"] = world
    room = f"/api/v1/tenants/{world['customer_id']}/rooms/{world['room_id']}"
    script = tmp / "report.lua"
    script.write_text(WRK_SCRIPT)
    app_cmd = [sys.executable, "-m", "bench.http_app", "--host", LOOPBACK]
    p_bare, p_service, p_plain = free_port(), free_port(), free_port()
    with ExitStack() as stack:
        bare = stack.enter_context(
            server([*app_cmd, "--bare", "--port", str(p_bare)], env, p_bare, 1, tmp, ready=HEALTHZ)
        )
        service = stack.enter_context(server([*app_cmd, "--port", str(p_service)], env, p_service, 1, tmp))
        plain = stack.enter_context(
            server([*app_cmd, "--plain-routing", "--port", str(p_plain)], env, p_plain, 1, tmp)
        )
        admin = sign_in(service, world["users"]["global_admin"], password)
        partner = sign_in(service, world["users"]["partner_small"], password)
        print("part 2: one keep-alive connection ...", flush=True)
        report["keep_alive"] = keep_alive(
            {
                "bare_healthz": (bare, HEALTHZ, None),
                "service_healthz": (service, HEALTHZ, None),
                "plain_routing_healthz": (plain, HEALTHZ, None),
                "global_admin_get_room": (service, room, admin),
                "partner_get_room": (service, room, partner),
                "me": (service, "/api/v1/me", partner),
            },
            args,
        )
        print("part 3: wrk throughput ...", flush=True)
        report["throughput"] = interleaved(
            {
                "bare_healthz": (bare + HEALTHZ, None, args.connections),
                "service_healthz": (service + HEALTHZ, None, args.connections),
                "plain_routing_healthz": (plain + HEALTHZ, None, args.connections),
            },
            args.rounds,
            args.duration,
            args.threads,
            script,
        )
    report["summary"] = summarise(report)
    return report


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    k, t, p = report["keep_alive"], report["throughput"], report["in_process"]

    def p50(name: str) -> float:
        return float(k[name]["p50_ms_median"])

    return {
        "in_process_healthz_over_bare": p["service_over_bare"],
        "in_process_healthz_walk_over_bare": p["walk_over_bare"],
        "in_process_healthz_us": p["service"]["us_median"],
        "in_process_bare_us": p["bare"]["us_median"],
        "keep_alive_healthz_over_bare": ratio(p50("service_healthz"), p50("bare_healthz")),
        "keep_alive_plain_routing_healthz_over_bare": ratio(
            p50("plain_routing_healthz"), p50("bare_healthz")
        ),
        "keep_alive_global_admin_get_room_over_bare_healthz": ratio(
            p50("global_admin_get_room"), p50("bare_healthz")
        ),
        "keep_alive_partner_get_room_over_bare_healthz": ratio(p50("partner_get_room"), p50("bare_healthz")),
        "keep_alive_me_ms": p50("me"),
        "keep_alive_bare_healthz_ms": p50("bare_healthz"),
        "throughput_healthz_over_bare": ratio(
            t["service_healthz"]["rps_median"], t["bare_healthz"]["rps_median"]
        ),
        "throughput_plain_routing_healthz_over_bare": ratio(
            t["plain_routing_healthz"]["rps_median"], t["bare_healthz"]["rps_median"]
        ),
        "all_answers_200": all(v["non_200"] == 0 and v["socket_errors"] == 0 for v in t.values()),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server (a database is created and dropped)")
    p.add_argument("--rooms", type=int, default=2000, help="the customer's rooms")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of every part")
    p.add_argument("--calls", type=int, default=2000, help="in-process requests per round")
    p.add_argument("--requests", type=int, default=300, help="keep-alive requests per round")
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=16, help="wrk keep-alive connections")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--quick", action="store_true", help="a smoke run: small world, short runs")
    p.add_argument("--output", default=None, help="default bench/results/fixed_cost_<database>.json")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.rooms, args.rounds, args.calls, args.requests, args.duration = 200, 2, 300, 200, 1
    if shutil.which("wrk") is None:
        print(NO_WRK, file=sys.stderr)
        return 2
    started = time.monotonic()
    with scratch_database(args.database, args.pg) as (url, tmp):
        facts = machine_facts(url)
        result = run(url, args, tmp)
    parameters = {k: v for k, v in vars(args).items() if k not in ("output", "pg")}
    return finish("fixed_cost", args, facts, parameters, started, result)


if __name__ == "__main__":
    # SIGTERM ends the run as Ctrl-C does: servers are stopped and databases dropped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
