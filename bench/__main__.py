"""Every benchmark of issue 11, on SQLite and PostgreSQL, then one table of every target.

    .venv/bin/python -m bench                 # the full measurement, on an idle machine (~30 min)
    .venv/bin/python -m bench --quick         # a smoke run: small sizes, short runs (~5 min)
    .venv/bin/python -m bench --summary       # only the table, from the results already written

Runs ``bench.decisions``, ``bench.access_scaling``, ``bench.http_throughput``,
``bench.audit_export``, ``bench.balance`` and ``bench.fixed_cost``, each in a process of its
own, on each database of ``--databases``.
PostgreSQL runs get a fresh database on ``--pg`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432``), created and dropped per benchmark. Results
go to ``bench/results/*.json`` (``bench/results/quick/`` for ``--quick``, so a smoke run never
overwrites a measurement), each with the machine's facts; the table goes to
``summary.json`` beside them.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench._common import DEFAULT_PG, ROOT, machine_facts, now_iso, postgres_database, results_dir

BENCHES = ("decisions", "access_scaling", "http_throughput", "audit_export", "balance", "fixed_cost")
DATABASES = ("sqlite", "postgresql")


def _file(name: str, database: str) -> str:
    """Result file names (the first two keep the names they had before this command)."""
    if name in ("decisions", "access_scaling"):
        return f"{name}.json" if database == "sqlite" else f"{name}_postgresql.json"
    return f"{name}_{database}.json"


def _command(name: str, database: str, quick: bool, url: str | None, out: Path, pg: str) -> list[str]:
    cmd = [sys.executable, "-m", f"bench.{name}"]
    if name == "decisions":
        cmd += ["--output", str(out)]
        if url:
            cmd += ["--database-url", url]
        if quick:
            cmd += ["--rooms", "1000,3000", "--repeat", "20", "--queries", "50"]
    elif name == "access_scaling":
        cmd += ["--output", str(out)]
        if url:
            cmd += ["--database-url", url]
        if quick:
            cmd += ["--sizes", "500,3000", "--other-tenants", "1,2", "--repeat", "10"]
    else:
        cmd += ["--database", database, "--pg", pg, "--output", str(out)]
        if quick:
            cmd += ["--quick"]
    return cmd


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    out_dir = results_dir(args.quick)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for database in args.databases:
        for name in args.only:
            out = out_dir / _file(name, database)
            started = time.monotonic()
            print(f"\n== {name} on {database} ==", flush=True)
            with ExitStack() as stack:
                url = None
                if database == "postgresql" and name in ("decisions", "access_scaling"):
                    url = stack.enter_context(postgres_database(args.pg))
                proc = subprocess.Popen(_command(name, database, args.quick, url, out, args.pg), cwd=ROOT)
                try:
                    code = proc.wait()
                finally:
                    if proc.poll() is None:  # interrupted: the benchmark stops its servers itself
                        proc.terminate()
                        proc.wait()
            seconds = round(time.monotonic() - started, 1)
            runs.append({"benchmark": name, "database": database, "exit_code": code, "seconds": seconds})
            print(f"== {name} on {database}: exit {code}, {seconds} s", flush=True)
    return runs


# -- the targets ---------------------------------------------------------------------------


def _get(data: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


AT_MOST, AT_LEAST = "<=", ">="
#: (target, threshold kind, threshold, benchmark, how to read the measured value)
Reader = Callable[[dict[str, Any] | None], Any]


def _in_world(world: str, key: str) -> Reader:
    return lambda d: _first_world(d, world, key)


def _targets() -> list[tuple[str, str, float, str, Reader]]:
    t: list[tuple[str, str, float, str, Reader]] = [
        ("partner GET room vs unauthenticated (125-room scope)", AT_LEAST, 0.8, "http_throughput",
         lambda d: _get(d, "summary", "partner_small_over_unauthenticated")),
        ("partner GET room vs unauthenticated (12,500-room scope)", AT_LEAST, 0.8, "http_throughput",
         lambda d: _get(d, "summary", "partner_large_over_unauthenticated")),
        ("Global admin GET room vs unauthenticated", AT_LEAST, 0.9, "http_throughput",
         lambda d: _get(d, "summary", "global_admin_over_unauthenticated")),
        ("HTTP GET room, 12,500 vs 125-room scope (time)", AT_MOST, 1.2, "http_throughput",
         lambda d: _get(d, "summary", "get_room_large_over_small_scope")),
        ("HTTP first list page, 12,500 vs 125-room scope (time)", AT_MOST, 1.2, "http_throughput",
         lambda d: _get(d, "summary", "list_page_large_over_small_scope")),
    ]  # fmt: skip
    for world in ("10000", "100000"):
        label = f"{int(world) // 1000}k rooms"
        t += [
            (f"decision, 12,500 vs 125-room scope ({label})", AT_MOST, 1.2, "decisions",
             _in_world(world, "decision_large_over_small_scope")),
            (f"first list page, 12,500 vs 125-room scope ({label})", AT_MOST, 1.2, "decisions",
             _in_world(world, "first_page_large_over_small_scope")),
        ]  # fmt: skip
    t += [
        ("partner decision, large vs small tenant (decisions)", AT_MOST, 1.2, "decisions",
         lambda d: _get(d, "summary", "tenant_growth", "decision_scope_125_large_over_small_tenant")),
        ("partner first page, large vs small tenant (decisions)", AT_MOST, 1.2, "decisions",
         lambda d: _get(d, "summary", "tenant_growth", "first_page_scope_125_large_over_small_tenant")),
        ("scoped decision, 100k vs 1k rooms", AT_MOST, 1.2, "access_scaling",
         lambda d: _get(d, "ratio_large_over_small", "decision_ms")),
        ("scoped first list page, 100k vs 1k rooms", AT_MOST, 1.2, "access_scaling",
         lambda d: _get(d, "ratio_large_over_small", "list_scoped_first_page_ms")),
        ("all-rooms first list page, 100k vs 1k rooms", AT_MOST, 1.2, "access_scaling",
         lambda d: _get(d, "ratio_large_over_small", "list_all_first_page_ms")),
        ("2 workers vs 1 worker (throughput)", AT_LEAST, 1.7, "http_throughput",
         lambda d: _get(d, "summary", "workers_2_over_1")),
        ("4 workers: requests per worker, max vs min (worst run)", AT_MOST, 1.5, "balance",
         lambda d: _get(d, "summary", "balance_max_over_min_worst")),
        ("2 workers vs 1 worker, GET /readyz (bench.balance)", AT_LEAST, 1.7, "balance",
         lambda d: _get(d, "summary", "workers_2_over_1")),
        ("export vs COPY (throughput)", AT_LEAST, 0.5, "audit_export",
         lambda d: _get(d, "summary", "export_over_copy_throughput")),
        ("verify vs export (time)", AT_MOST, 2.0, "audit_export",
         lambda d: _get(d, "summary", "verify_over_export_time")),
        ("list page p99 vs p50 (HTTP, one connection)", AT_MOST, 3.0, "http_throughput",
         lambda d: _get(d, "summary", "list_page_p99_over_p50")),
        ("/healthz vs a bare app's, latency (one keep-alive connection)", AT_MOST, 1.5, "fixed_cost",
         lambda d: _get(d, "summary", "keep_alive_healthz_over_bare")),
        ("/healthz vs a bare app's, throughput (wrk)", AT_LEAST, 0.67, "fixed_cost",
         lambda d: _get(d, "summary", "throughput_healthz_over_bare")),
        ("authorised GET room vs a bare app's /healthz, latency", AT_MOST, 3.0, "fixed_cost",
         lambda d: _get(d, "summary", "keep_alive_partner_get_room_over_bare_healthz")),
    ]  # fmt: skip
    return t


def _first_world(data: dict[str, Any] | None, world: str, key: str) -> Any:
    """The figure of the ``world``-room world, or of the only/first world a quick run built."""
    summary = _get(data, "summary") or {}
    if world in summary:
        return summary[world].get(key)
    worlds = [k for k in summary if k.isdigit()]
    if not worlds:
        return None
    pick = worlds[0] if world == "10000" else worlds[-1]
    return summary[pick].get(key)


def summarise(quick: bool, databases: tuple[str, ...]) -> list[dict[str, Any]]:
    folder = results_dir(quick)
    rows = []
    for database in databases:
        loaded: dict[str, Any] = {}
        for name in BENCHES:
            path = folder / _file(name, database)
            loaded[name] = json.loads(path.read_text()) if path.exists() else None
        for target, kind, threshold, bench, read in _targets():
            if bench == "audit_export" and "COPY" in target and database != "postgresql":
                continue
            value = read(loaded[bench])
            met = None
            if isinstance(value, int | float):
                met = value >= threshold if kind == AT_LEAST else value <= threshold
            rows.append(
                {
                    "database": database,
                    "target": f"{target} {kind} {threshold}",
                    "measured": value,
                    "met": met,
                    "source": _file(bench, database),
                }
            )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len(r["target"]) for r in rows) + 2
    print(f"\n{'database':11}{'target':{width}}{'measured':>10}  met")
    for r in rows:
        value = "not run" if r["measured"] is None else f"{r['measured']:.2f}"
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['database']:11}{r['target']:{width}}{value:>10}  {met}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--quick", action="store_true", help="smoke run: small sizes, short runs")
    p.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL, without a database name")
    p.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    p.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ",".join(BENCHES))
    p.add_argument("--summary", action="store_true", help="only print the table from existing results")
    args = p.parse_args(argv)
    args.databases = tuple(d for d in args.databases.split(",") if d)
    args.only = tuple(b for b in args.only.split(",") if b)
    if bad := [d for d in args.databases if d not in DATABASES] + [b for b in args.only if b not in BENCHES]:
        p.error(f"unknown: {', '.join(bad)}")
    started = time.monotonic()
    facts = machine_facts()
    runs = [] if args.summary else run_all(args)
    rows = summarise(args.quick, args.databases)
    print_table(rows)
    if args.quick:
        print(
            "\nquick run: the sizes are small (rooms 1,000/3,000 and 500/3,000, a 1,250-room scope over"
            " HTTP, 20,000 audit records) and the runs short; the labels name the full run's sizes."
            " A smoke test, not a measurement."
        )
    if not args.summary:
        path = results_dir(args.quick) / "summary.json"
        report = {
            "when": now_iso(),
            "quick": args.quick,
            "machine": facts,
            "runs": runs,
            "seconds": round(time.monotonic() - started, 1),
            "targets": rows,
        }
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"\nwritten to {path} ({report['seconds']} s)")
    return 1 if any(r["exit_code"] for r in runs) else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
