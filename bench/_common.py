"""What the benchmarks share: the machine's facts written into every result, throw-away
PostgreSQL databases, fresh production secrets, interleaved rounds and result files."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
#: The PostgreSQL server the benchmarks create their databases on (no database name).
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def wrk_version() -> str | None:
    exe = shutil.which("wrk")
    if exe is None:
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else "wrk"


def machine_facts(database_url: str | None = None) -> dict[str, Any]:
    """Cores, load at the start and versions: what a reader needs to weigh the figures."""
    facts: dict[str, Any] = {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "versions": {
            d: _version(d)
            for d in ("roomwarden", "sqlalchemy", "psycopg", "fastapi", "starlette", "uvicorn", "pydantic")
        },
        "wrk": wrk_version(),
    }
    if database_url and database_url.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        engine = create_engine(database_url)
        try:
            with engine.connect() as conn:
                facts["postgresql"] = conn.execute(text("SHOW server_version")).scalar()
        finally:
            engine.dispose()
    return facts


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@contextmanager
def postgres_database(server: str = DEFAULT_PG, prefix: str = "roomwarden_bench") -> Iterator[str]:
    """A fresh, empty database on ``server`` for one run; dropped afterwards, whatever happens."""
    from sqlalchemy import create_engine, text

    server = server.rstrip("/")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield f"{server}/{name}"
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def roomwarden_exe() -> str:
    return str(Path(sys.executable).with_name("roomwarden"))


def fresh_secrets() -> dict[str, str]:
    """``roomwarden keygen``'s output, as a production operator sets it."""
    out = subprocess.run([roomwarden_exe(), "keygen"], capture_output=True, text=True, check=True).stdout
    pairs = (line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def production_env(database_url: str, secrets: dict[str, str]) -> dict[str, str]:
    """The environment of a production instance: this process's environment without any
    other ROOMWARDEN_ setting, fresh secrets, ``ROOMWARDEN_ENV=production``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMWARDEN_")}
    env.update(secrets)
    env["ROOMWARDEN_ENV"] = "production"
    env["ROOMWARDEN_DATABASE_URL"] = database_url
    # the bench modules are not installed: the servers import them from the checkout
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def results_dir(quick: bool) -> Path:
    """Where results go: quick (smoke) runs never overwrite a measurement."""
    return RESULTS / "quick" if quick else RESULTS


def write_result(
    name: str, report: dict[str, Any], output: str | None = None, *, quick: bool = False
) -> Path:
    path = Path(output) if output else results_dir(quick) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


def finish(
    benchmark: str,
    args: Any,
    facts: dict[str, Any],
    parameters: dict[str, Any],
    started: float,
    result: dict[str, Any],
) -> int:
    """Write one benchmark's report (``results/<benchmark>_<database>.json``) and print its
    summary; the exit code of a run that measured."""
    report = {
        "benchmark": benchmark,
        "database": args.database,
        "when": now_iso(),
        "quick": args.quick,
        "machine": facts,
        "parameters": parameters,
        "seconds": round(time.monotonic() - started, 1),
        **result,
    }
    path = write_result(f"{benchmark}_{args.database}", report, args.output, quick=args.quick)
    print(json.dumps(report["summary"], indent=2))
    print(f"written to {path} ({report['seconds']} s)")
    return 0
