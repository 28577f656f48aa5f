"""How ``roomwarden serve --workers N`` shares a keep-alive load, counted by the server itself.

Part 1, balance: ``roomwarden serve --workers 4`` (the real command, a fresh database, the
production set-up of ``bench.http_throughput``), ``wrk`` keep-alive on ``GET /readyz`` (one
database round trip, no authentication) for ``--rounds`` runs, each opening its connections
anew. After each run the bench reads ``roomwarden_worker_requests{pid=...}`` from
``/metrics`` (the server's own count per worker process, kit/metrics.py) and reports the
requests each worker served in that run and max/min (target: ≤ 1.5).

Part 2, throughput: ``--workers 1`` and ``--workers 2`` side by side, alternating, the same
load. Beside requests/s it reports the CPU each side used, as cores busy during the run: the
workers' (from ``/proc/<pid>/stat``) and the load generator's own (wrk, from the kernel's
accounting of this process's children). On a 2-core machine a second worker can only add
what wrk and everything else running leave of the second core; the figures say how much
that was.

    .venv/bin/python -m bench.balance [--database sqlite|postgresql] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
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
    machine_facts,
    median,
    production_env,
    ratio,
    roomwarden_exe,
    scratch_database,
    server,
    wrk,
)

TOKEN = "bench-metrics-token-" + os.urandom(8).hex()
WORKER_SERIES = re.compile(r'^roomwarden_worker_requests\{pid="(\d+)"\} ([0-9.e+]+)$', re.M)
TICKS = os.sysconf("SC_CLK_TCK")


def per_worker(url: str) -> dict[int, float]:
    """Requests served so far by each worker process, as the server counts them."""
    req = urllib.request.Request(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
    return {int(pid): float(n) for pid, n in WORKER_SERIES.findall(text)}


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measured_wrk(url: str, pids: list[int], args: argparse.Namespace, script: Path) -> dict[str, Any]:
    """One wrk run, with the CPU the workers and wrk used during it (in cores)."""
    workers_before, wrk_before, started = cpu_seconds(pids), children_cpu(), time.monotonic()
    result = wrk(url, None, args.duration, args.connections, args.threads, script)
    wall = time.monotonic() - started
    result["workers_cores"] = round((cpu_seconds(pids) - workers_before) / wall, 2)
    result["wrk_cores"] = round((children_cpu() - wrk_before) / wall, 2)
    return result


def balance(url: str, args: argparse.Namespace, script: Path) -> dict[str, Any]:
    """Requests each worker served per run, and the CPU each had: on a shared machine a worker
    the scheduler runs less serves less on as many connections, so requests per CPU second
    tell the spread of the load from the spread of the machine."""
    # warm-up, until every worker has served: on a loaded machine the last workers can start
    # listening seconds after the first ones answer
    deadline = time.monotonic() + 120
    while True:
        wrk(f"{url}/readyz", None, 1, args.connections, args.threads, script)
        if len(per_worker(url)) >= args.workers or time.monotonic() > deadline:
            break
    runs = []
    for n in range(args.rounds):
        before = per_worker(url)
        cpu_before = {pid: cpu_seconds([pid]) for pid in before}
        result = wrk(f"{url}/readyz", None, args.duration, args.connections, args.threads, script)
        after = per_worker(url)
        workers = [
            (after[pid] - before.get(pid, 0), cpu_seconds([pid]) - cpu_before.get(pid, 0.0)) for pid in after
        ]
        workers.sort(reverse=True)
        served = [w[0] for w in workers]
        cpu: list[float] = [round(w[1], 2) for w in workers]
        least_cpu = min(cpu) if cpu else 0.0
        per_cpu = [round(w[0] / w[1]) if w[1] else None for w in workers]
        spread = ratio(served[0], served[-1]) if served and served[-1] else None
        known = [x for x in per_cpu if x]
        per_cpu_spread = ratio(max(known), min(known)) if len(known) == len(per_cpu) and known else None
        runs.append(
            {
                "served": served,
                "cpu_seconds": cpu,
                "served_per_cpu_second": per_cpu,
                "max_over_min": spread,
                "cpu_max_over_min": ratio(max(cpu), least_cpu) if least_cpu else None,
                "served_per_cpu_second_max_over_min": per_cpu_spread,
                "rps": result["rps"],
                "wrk": result,
            }
        )
        print(
            f"  round {n + 1}/{args.rounds}: per worker {served}, max/min {spread};"
            f" CPU s {cpu}; per CPU s {per_cpu}",
            flush=True,
        )
    spreads = [r["max_over_min"] for r in runs if r["max_over_min"] is not None]
    per_cpu_spreads = [
        r["served_per_cpu_second_max_over_min"] for r in runs if r["served_per_cpu_second_max_over_min"]
    ]
    return {
        "workers": args.workers,
        "connections": args.connections,
        "rounds": runs,
        "max_over_min_worst": max(spreads) if spreads else None,
        "max_over_min_median": round(median(spreads), 3) if spreads else None,
        "per_cpu_second_max_over_min_worst": max(per_cpu_spreads) if per_cpu_spreads else None,
        "all_workers_served": all(len(r["served"]) == args.workers and r["served"][-1] > 0 for r in runs),
    }


def throughput(
    urls: dict[str, tuple[str, list[int]]], args: argparse.Namespace, script: Path
) -> dict[str, Any]:
    for url, pids in urls.values():
        measured_wrk(f"{url}/readyz", pids, argparse.Namespace(**{**vars(args), "duration": 1}), script)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in urls}
    names = list(urls)
    for n in range(args.rounds):
        for name in names[n % 2 :] + names[: n % 2]:
            url, pids = urls[name]
            runs[name].append(measured_wrk(f"{url}/readyz", pids, args, script))
        done = ", ".join(
            f"{k} {v[-1]['rps']:.0f}/s (workers {v[-1]['workers_cores']}, wrk {v[-1]['wrk_cores']} cores)"
            for k, v in runs.items()
        )
        print(f"  round {n + 1}/{args.rounds}: {done}", flush=True)
    out: dict[str, Any] = {}
    for name, rs in runs.items():
        out[name] = {
            "rps_median": round(median([r["rps"] for r in rs]), 1),
            "p50_ms_median": round(median([r["p50_ms"] for r in rs]), 3),
            "workers_cores_median": round(median([r["workers_cores"] for r in rs]), 2),
            "wrk_cores_median": round(median([r["wrk_cores"] for r in rs]), 2),
            "non_200": sum(r["status_errors"] for r in rs),
            "socket_errors": sum(r["socket_errors"] for r in rs),
            "rounds": rs,
        }
    return out


def run(database_url: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    env = {**production_env(database_url, fresh_secrets()), "ROOMWARDEN_METRICS_TOKEN": TOKEN}
    subprocess.run([roomwarden_exe(), "migrate"], env=env, check=True, capture_output=True)
    script = tmp / "report.lua"
    script.write_text(WRK_SCRIPT)
    serve = [roomwarden_exe(), "serve", "--no-migrate", "--host", LOOPBACK]
    report: dict[str, Any] = {"cores": os.cpu_count(), "load_average_start": os.getloadavg()}
    print(f"part 1: balance over --workers {args.workers} ...", flush=True)
    port = free_port()
    with server(
        [*serve, "--port", str(port), "--workers", str(args.workers)], env, port, args.workers, tmp
    ) as url:
        report["balance"] = balance(url, args, script)
    if args.throughput:
        print("part 2: --workers 1 vs --workers 2 ...", flush=True)
        p1, p2 = free_port(), free_port()
        with ExitStack() as stack:
            one = stack.enter_context(server([*serve, "--port", str(p1), "--workers", "1"], env, p1, 1, tmp))
            two = stack.enter_context(server([*serve, "--port", str(p2), "--workers", "2"], env, p2, 2, tmp))
            urls = {"workers_1": (one, _listener_pids(p1)), "workers_2": (two, _listener_pids(p2))}
            report["throughput"] = throughput(urls, args, script)
    report["load_average_end"] = os.getloadavg()
    report["summary"] = summarise(report)
    return report


def _listener_pids(port: int) -> list[int]:
    """The processes listening on ``port`` (the workers: each holds its own socket)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True)
    return sorted({int(p) for p in re.findall(r"pid=(\d+)", out.stdout)})


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    b = report["balance"]
    s: dict[str, Any] = {
        "balance_max_over_min_worst": b["max_over_min_worst"],
        "balance_max_over_min_median": b["max_over_min_median"],
        "balance_served_per_cpu_second_max_over_min_worst": b["per_cpu_second_max_over_min_worst"],
        "balance_all_workers_served": b["all_workers_served"],
    }
    if "throughput" in report:
        t = report["throughput"]
        s["workers_2_over_1"] = ratio(t["workers_2"]["rps_median"], t["workers_1"]["rps_median"])
        for name in ("workers_1", "workers_2"):
            s[f"{name}_rps"] = t[name]["rps_median"]
            s[f"{name}_server_cores"] = t[name]["workers_cores_median"]
            s[f"{name}_wrk_cores"] = t[name]["wrk_cores_median"]
        s["all_answers_200"] = all(v["non_200"] == 0 and v["socket_errors"] == 0 for v in t.values())
    return s


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument(
        "--pg", default=DEFAULT_PG, help="PostgreSQL server URL (a database is created and dropped)"
    )
    p.add_argument("--workers", type=int, default=4, help="workers of the balance part")
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    p.add_argument(
        "--rounds", type=int, default=6, help="wrk runs (balance) and interleaved rounds (throughput)"
    )
    p.add_argument("--connections", type=int, default=64, help="wrk keep-alive connections")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--no-throughput", dest="throughput", action="store_false", help="skip 1 vs 2 workers")
    p.add_argument("--quick", action="store_true", help="a smoke run: short runs")
    p.add_argument("--output", default=None, help="default bench/results/balance_<database>.json")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.duration, args.rounds = 1, 2
    if shutil.which("wrk") is None:
        print(NO_WRK, file=sys.stderr)
        return 2
    started = time.monotonic()
    with scratch_database(args.database, args.pg) as (url, tmp):
        facts = machine_facts(url)
        result = run(url, args, tmp)
    parameters = {k: v for k, v in vars(args).items() if k not in ("output", "pg")}
    return finish("balance", args, facts, parameters, started, result)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
