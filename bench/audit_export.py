"""The audit export and verify at database speed: a tenant's log of ``--records`` records
(default 1,000,000) exported and verified, against PostgreSQL's own ``COPY`` of the same rows.

The log is filled in bulk with a valid keyed chain: each record's MAC is computed with the
service's chain code (``audit.chain.record_mac`` over ``chain.KEYED_FIELDS``) and the chain
head is signed as the service signs it; rows go in by ``COPY ... FROM STDIN`` on PostgreSQL
and batched ``INSERT`` on SQLite. Verify must pass on the result, so the figures are those of
a log the service would accept.

Measured, interleaved over ``--rounds`` rounds (A B C, A B C, ...):

- ``export``: ``audit.queries.export_csv`` — the function behind ``GET .../audit-logs/export``
  and ``roomwarden audit export`` — consumed into a counting sink (bytes and lines);
- ``copy`` (PostgreSQL only): a plain ``COPY (SELECT <the 12 columns> ... ORDER BY seq) TO
  STDOUT (FORMAT csv)`` of the same rows through psycopg, consumed alike: the floor;
- ``verify``: ``audit.verify.verify_chain`` over the whole chain, as the API and CLI run it.

Each reports rows/s, seconds, and the process's peak RSS above its RSS at the start of that
measurement (the peak is reset before each one through ``/proc/self/clear_refs``). Ratios of
medians: export/COPY throughput, verify/export time.

    .venv/bin/python -m bench.audit_export [--database sqlite|postgresql] [--records N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from bench._common import (
    DEFAULT_PG,
    finish,
    machine_facts,
    median,
    ratio,
    scratch_database,
)
from roomwarden.audit.chain import KEYED_FIELDS

#: The columns written by the bulk fill, in COPY order: the id and sequence, the fields the
#: record's MAC covers (``tenant_id`` first), the chain's link and the MAC.
FILL_COLUMNS = ("id", "tenant_id", "seq", *KEYED_FIELDS[1:], "prev_hash", "hash")
#: The plain COPY of the export's rows: the same 12 columns, no escaping, no formatting.
RAW_COPY = (
    "COPY (SELECT category, object_name, operation, result_status, tenant_id, creation_time, user_id,"
    " user_tenant_id, user_upn, user_display_name, partner_tenant_name, allowed_by FROM audit_records"
    " WHERE tenant_id = %(t)s AND creation_time >= %(lo)s AND creation_time <= %(hi)s ORDER BY seq)"
    " TO STDOUT WITH (FORMAT csv)"
)
CATEGORIES = ("Room", "Ticket", "Assignment", "RoomGroup", "Partner", "User")
OPERATIONS = ("Create", "Update", "Delete", "Read")


# -- filling a log -------------------------------------------------------------------------


def _records(
    tenant_id: uuid.UUID, first_seq: int, prev: str, count: int, keys: Any
) -> Iterator[tuple[Any, ...]]:
    """``count`` records after ``first_seq - 1``, chained from ``prev``: realistic text (some
    of it needing CSV quoting or a formula escape) and small details."""
    from roomwarden.audit import chain
    from roomwarden.audit.models import canonical_json
    from roomwarden.kit.ids import new_id
    from roomwarden.kit.time import utcnow

    kid = keys.current_id
    tid = str(tenant_id)
    start = utcnow() - timedelta(days=1)
    users = [(str(uuid.uuid4()), f"tech{i}@partner.example.com", f"Technician {i}") for i in range(50)]
    partner = str(uuid.uuid4())
    for i in range(count):
        seq = first_seq + i
        uid, upn, name = users[i % len(users)]
        category = CATEGORIES[i % len(CATEGORIES)]
        operation = OPERATIONS[i % len(OPERATIONS)]
        object_name = f"Room {i}"
        if i % 7 == 0:
            object_name += f', floor {i % 40} "east"'  # quoted in CSV
        elif i % 997 == 0:
            object_name = f"=cmd|' /C calc'!A{i}"  # escaped against formulas
        when = start + timedelta(microseconds=i * 50)
        details = {"changes": {"health_state": ["healthy", "warning"]}, "n": i}
        partner_name = "Partner Ltd" if i % 2 else None
        allowed = "Technician" if i % 2 else "Global admin"
        values = (
            tid, category, object_name, str(uuid.UUID(int=i)), operation, "Successful",
            chain.time_text(when), uid, partner if i % 2 else tid, upn, name, partner_name, allowed,
            canonical_json(details), kid,
        )  # fmt: skip
        digest = chain.record_mac(keys, kid, prev, seq, values)
        yield (
            new_id(), tenant_id, seq, category, object_name, values[3], operation, "Successful", when,
            uid, values[8], upn, name, partner_name, allowed, values[13], kid, prev, digest,
        )  # fmt: skip
        prev = digest


def fill(db: Any, tenant_id: uuid.UUID, count: int, keys: Any, batch: int = 10_000) -> int:
    """Append ``count`` records to the tenant's chain and sign the new head; returns the
    chain's length."""
    from sqlalchemy import Table, insert, select

    from roomwarden.audit.models import AuditChainHead, AuditRecord
    from roomwarden.audit.service import sign_head

    with db.transaction() as session:
        head = session.execute(
            select(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id).with_for_update()
        ).scalar_one()
        first, prev = head.last_seq + 1, head.last_hash
    rows = _records(tenant_id, first, prev, count, keys)
    last_seq, last_hash = first - 1, prev
    if db.url.startswith("postgresql"):
        with db.engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            with (
                raw.cursor() as cur,
                cur.copy(f"COPY audit_records ({', '.join(FILL_COLUMNS)}) FROM STDIN") as cp,
            ):
                for row in rows:
                    cp.write_row(row)
                    last_seq, last_hash = row[2], row[-1]
            raw.commit()
    else:
        table = cast(Table, AuditRecord.__table__)
        pending: list[dict[str, Any]] = []

        def flush() -> None:
            with db.transaction() as session:
                session.execute(insert(table), pending)
            pending.clear()

        for row in rows:
            item = dict(zip(FILL_COLUMNS, row, strict=True))
            item["details"] = json.loads(item["details"])  # the column type writes the canonical text
            pending.append(item)
            last_seq, last_hash = row[2], row[-1]
            if len(pending) == batch:
                flush()
        if pending:
            flush()
    with db.transaction() as session:
        head = session.execute(
            select(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id).with_for_update()
        ).scalar_one()
        head.last_seq, head.last_hash = last_seq, last_hash
        sign_head(head, keys)
    return last_seq


# -- measuring -----------------------------------------------------------------------------


def _rss_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measured(fn: Callable[[], int]) -> dict[str, Any]:
    """Run ``fn`` (returning the rows it handled): seconds, rows/s and peak RSS growth."""
    reset = _reset_peak()
    before = _rss_kib("VmRSS")
    t0 = time.perf_counter()
    rows = fn()
    seconds = time.perf_counter() - t0
    peak = _rss_kib("VmHWM")
    grew = (peak - before) / 1024 if reset and peak is not None and before is not None else None
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds) if seconds else 0,
        "peak_rss_growth_mb": round(grew, 1) if grew is not None else None,
    }


def export_rows(db: Any, tenant_id: uuid.UUID, lo: Any, hi: Any) -> int:
    from roomwarden.audit import queries

    lines = 0
    for chunk in queries.export_csv(db, tenant_id, lo, hi):
        data = chunk if isinstance(chunk, bytes) else chunk.encode()
        lines += data.count(b"\n")
    return lines - 1  # the header


def copy_rows(db: Any, tenant_id: uuid.UUID, lo: Any, hi: Any) -> int:
    lines = 0
    with db.engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(RAW_COPY, {"t": tenant_id, "lo": lo, "hi": hi}) as cp:
            for data in cp:
                lines += bytes(data).count(b"\n")
        conn.rollback()
    return lines


def verify_rows(db: Any, tenant_id: uuid.UUID, keys: Any) -> int:
    from roomwarden.audit.verify import verify_chain

    with db.transaction(write=False) as session:
        result = verify_chain(session, tenant_id, keys=keys)
    if not result.ok:
        raise RuntimeError(f"the filled chain does not verify: {result.problem}")
    return result.records_checked


def run(database_url: str, records: int, rounds: int) -> dict[str, Any]:
    from bench.access_scaling import _tenant
    from roomwarden.audit import keys as audit_keys
    from roomwarden.audit import queries
    from roomwarden.kit.db import Database
    from roomwarden.kit.migrate import upgrade

    keys = audit_keys.AuditKeys(secrets.token_urlsafe(48))
    saved = audit_keys._installed
    audit_keys.install(keys)
    db = Database(database_url)
    try:
        upgrade(db)
        tenant_id, _ = _tenant(db, "audited")
        print(f"filling the log with {records} records ...", flush=True)
        t0 = time.perf_counter()
        length = fill(db, tenant_id, records, keys)
        filled = time.perf_counter() - t0
        if db.url.startswith("postgresql"):
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE audit_records")
                conn.commit()
        lo, hi = queries.parse_range(None, None)
        variants: dict[str, Callable[[], int]] = {"export": lambda: export_rows(db, tenant_id, lo, hi)}
        if db.url.startswith("postgresql"):
            variants["copy"] = lambda: copy_rows(db, tenant_id, lo, hi)
        variants["verify"] = lambda: verify_rows(db, tenant_id, keys)
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in variants}
        for n in range(rounds):
            for name, fn in variants.items():
                runs[name].append(measured(fn))
            done = ", ".join(f"{k} {v[-1]['seconds']:.2f} s" for k, v in runs.items())
            print(f"  round {n + 1}/{rounds}: {done}", flush=True)
        exported = {r["rows"] for r in runs["export"]}
        if exported != {length}:
            raise RuntimeError(f"the export wrote {exported} rows, the chain holds {length}")
    finally:
        db.dispose()
        audit_keys._installed = saved  # the caller's keys, when it is a test process
    figures: dict[str, dict[str, Any]] = {
        name: {
            "seconds_median": round(median([r["seconds"] for r in rs]), 3),
            "rows_per_s_median": round(median([r["rows_per_s"] for r in rs])),
            "peak_rss_growth_mb_max": max((r["peak_rss_growth_mb"] or 0) for r in rs),
            "rounds": rs,
        }
        for name, rs in runs.items()
    }
    summary: dict[str, Any] = {
        "records": length,
        "fill_seconds": round(filled, 1),
        "export_rows_per_s": figures["export"]["rows_per_s_median"],
        "export_seconds": figures["export"]["seconds_median"],
        "verify_seconds": figures["verify"]["seconds_median"],
        "verify_over_export_time": ratio(
            figures["verify"]["seconds_median"], figures["export"]["seconds_median"]
        ),
        "export_peak_rss_growth_mb": figures["export"]["peak_rss_growth_mb_max"],
        "verify_peak_rss_growth_mb": figures["verify"]["peak_rss_growth_mb_max"],
    }
    if "copy" in figures:
        summary["copy_rows_per_s"] = figures["copy"]["rows_per_s_median"]
        summary["export_over_copy_throughput"] = ratio(
            figures["export"]["rows_per_s_median"], figures["copy"]["rows_per_s_median"]
        )
    return {"measures": figures, "summary": summary}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    p.add_argument(
        "--pg", default=DEFAULT_PG, help="PostgreSQL server URL (a database is created and dropped)"
    )
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="a smoke run: 20,000 records, 2 rounds")
    p.add_argument("--output", default=None, help="default bench/results/audit_export_<database>.json")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.records, args.rounds = min(args.records, 20_000), 2
    started = time.monotonic()
    with scratch_database(args.database, args.pg) as (url, _):
        facts = machine_facts(url)
        result = run(url, args.records, args.rounds)
    parameters = {"records": args.records, "rounds": args.rounds}
    return finish("audit_export", args, facts, parameters, started, result)


if __name__ == "__main__":
    # SIGTERM ends the run as Ctrl-C does: servers are stopped and databases dropped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
