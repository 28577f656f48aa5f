"""What the benchmarks share: the machine's facts written into every result, throw-away
databases, fresh production secrets, servers run as in production and driven by ``wrk`` on
loopback, interleaved rounds and result files."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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


# -- HTTP: servers, wrk and interleaved rounds -----------------------------------------

LOOPBACK = "127.0.0.1"
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"bytes\\":%d,\\"status_errors\\":%d,"
    .. "\\"socket_errors\\":%d,\\"p50_us\\":%d,\\"p90_us\\":%d,\\"p99_us\\":%d,\\"max_us\\":%d,"
    .. "\\"mean_us\\":%.1f}\\n",
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""
NO_WRK = (
    "wrk is not installed: the HTTP benchmarks need it (a maintained HTTP load generator).\n"
    "Install it with `apt-get install wrk` (Debian/Ubuntu) or `brew install wrk`, then run again."
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@contextmanager
def server(
    cmd: list[str], env: dict[str, str], port: int, workers: int, log_dir: Path, ready: str = "/readyz"
) -> Iterator[str]:
    """Run a server in its own process group until the block ends; yields its base URL once
    every worker answers ``ready``."""
    env = {**env, "ROOMWARDEN_PUBLIC_URL": f"http://{LOOPBACK}:{port}"}
    log_path = log_dir / f"server-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
        )
    url = f"http://{LOOPBACK}:{port}"
    try:
        deadline, answers = time.monotonic() + 180, 0
        while answers < workers * 4:  # several answers: every worker is up, not only the first
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(cmd[:3])} did not start: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + ready, timeout=5) as r:
                    answers += r.status == 200
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        yield url
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def sign_in(url: str, upn: str, password: str) -> str:
    body = urllib.parse.urlencode({"username": upn, "password": password}).encode()
    with urllib.request.urlopen(f"{url}/api/v1/auth/token", data=body, timeout=60) as r:
        return json.loads(r.read())["access_token"]


def fetch(url: str, token: str | None) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wrk(
    url: str, token: str | None, duration: int, connections: int, threads: int, script: Path
) -> dict[str, Any]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(script)]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration + 60, check=False)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    r = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = r["duration_us"] / 1e6
    return {
        "requests": r["requests"],
        "rps": round(r["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": r["p50_us"] / 1000,
        "p90_ms": r["p90_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "status_errors": r["status_errors"],
        "socket_errors": r["socket_errors"],
    }


def interleaved(
    targets: dict[str, tuple[str, str | None, int]], rounds: int, duration: int, threads: int, script: Path
) -> dict[str, Any]:
    """``targets``: name -> (url, token, connections). Runs A B C, B C A, ... one round each;
    a short warm-up of each first."""
    for url, token, conns in targets.values():
        wrk(url, token, 1, conns, threads, script)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in targets}
    names = list(targets)
    for n in range(rounds):
        # each round starts one variant later, so that no variant always runs first or last
        for name in names[n % len(names) :] + names[: n % len(names)]:
            url, token, conns = targets[name]
            runs[name].append(wrk(url, token, duration, conns, threads, script))
        done = ", ".join(f"{k} {v[-1]['rps']:.0f}/s" for k, v in runs.items())
        print(f"  round {n + 1}/{rounds}: {done}", flush=True)
    out = {}
    for name, rs in runs.items():
        out[name] = {
            "connections": targets[name][2],
            "rps_median": round(median([r["rps"] for r in rs]), 1),
            "p50_ms_median": round(median([r["p50_ms"] for r in rs]), 3),
            "p99_ms_median": round(median([r["p99_ms"] for r in rs]), 3),
            "non_200": sum(r["status_errors"] for r in rs),
            "socket_errors": sum(r["socket_errors"] for r in rs),
            "rounds": rs,
        }
    return out


@contextmanager
def scratch_database(database: str, pg: str = DEFAULT_PG) -> Iterator[tuple[str, Path]]:
    """A throw-away database for one run (a new SQLite file, or a new PostgreSQL database on
    ``pg``, dropped afterwards) and a temporary directory for the run's files."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        if database == "postgresql":
            url = stack.enter_context(postgres_database(pg))
        else:
            url = f"sqlite:///{tmp}/bench-{uuid.uuid4().hex[:6]}.db"
        yield url, Path(tmp)
