"""``roomwarden audit``: export, verify, checkpoint and purge, for operators and schedulers.

Every command exits non-zero with one readable line on failure; ``--json`` prints a
machine-readable result on stdout; long work shows a progress bar on stderr.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from roomwarden.audit import queries
from roomwarden.audit.keys import AuditKeys
from roomwarden.audit.models import AuditRecord
from roomwarden.audit.retention import purge as purge_tenant
from roomwarden.audit.service import OPERATOR_ACTOR, Category, Operation, record
from roomwarden.audit.verify import Checkpoint, VerifyResult, make_checkpoint, verify_chain
from roomwarden.kit.db import Database
from roomwarden.kit.errors import AppError
from roomwarden.kit.time import utcnow
from roomwarden.settings import get_settings

app = typer.Typer(help="Audit log: export, verify, checkpoints, retention.", no_args_is_help=True)
err = Console(stderr=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="tenant id or domain")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


class CliError(Exception):
    """A failure to report as one line."""


@contextmanager
def _guard() -> Iterator[None]:
    try:
        yield
    except (CliError, AppError, ValueError, OSError) as exc:
        message = exc.detail if isinstance(exc, AppError) else str(exc)
        err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except ValidationError as exc:
        err.print(f"[bold red]error:[/] invalid configuration: {exc.errors()[0]['msg']}", soft_wrap=True)
        raise typer.Exit(2) from None
    except OperationalError as exc:
        err.print(f"[bold red]error:[/] database error: {exc.orig}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _database() -> Database:
    from roomwarden.kit.migrate import upgrade

    settings = get_settings()
    db = Database(settings.database_url, row_security=settings.database_row_security)
    upgrade(db)
    return db


def _keys() -> AuditKeys:
    return AuditKeys.from_settings(get_settings())


def _tenant_id(db: Database, ref: str) -> uuid.UUID:
    from roomwarden.identity.domains import tenant_by_domain
    from roomwarden.tenants.models import Tenant

    with db.transaction(write=False) as session:
        try:
            tenant = session.get(Tenant, uuid.UUID(ref))
        except ValueError:
            tenant = tenant_by_domain(session, ref.strip().lower())
        if tenant is None:
            raise CliError(f"no tenant with id or domain {ref!r}")
        return tenant.id


def _all_tenants(db: Database) -> list[uuid.UUID]:
    from roomwarden.tenants.models import Tenant

    with db.transaction(write=False) as session:
        return list(session.scalars(select(Tenant.id).order_by(Tenant.id)))


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _emit(data: Any, as_json: bool, text: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=str))
    else:
        typer.echo(text)


# -- export ------------------------------------------------------------------------------------


@app.command()
def export(
    tenant: TenantOpt,
    start: Annotated[str | None, typer.Option(help=queries.DATE_HELP)] = None,
    end: Annotated[str | None, typer.Option(help=queries.DATE_HELP)] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a tenant's audit records of a date range as CSV (the API's format). The export
    is itself recorded in the tenant's log, as an operator action."""
    with _guard():
        db = _database()
        tenant_id = _tenant_id(db, tenant)
        lo, hi = queries.parse_range(start, end)
        with db.transaction(tenants=[tenant_id]) as session:
            total = session.scalar(
                select(func.count()).where(
                    AuditRecord.tenant_id == tenant_id,
                    AuditRecord.creation_time >= lo,
                    AuditRecord.creation_time <= hi,
                )
            )
            record(
                session,
                tenant_id=tenant_id,
                actor=OPERATOR_ACTOR,
                category=Category.AUDIT_LOG,
                operation=Operation.READ,
                object_name="audit log export",
                details={"start": lo.isoformat(), "end": hi.isoformat(), "via": "cli"},
                keys=_keys(),
            )
        rows = _write_export(db, tenant_id, lo, hi, output, total or 0)
    if output is not None:
        _emit(
            {"tenant_id": tenant_id, "rows": rows, "file": str(output)},
            as_json,
            f"wrote {rows} records to {output}",
        )


def _write_export(
    db: Database, tenant_id: uuid.UUID, lo: Any, hi: Any, output: Path | None, total: int
) -> int:
    stream = open(output, "wb") if output is not None else sys.stdout.buffer  # noqa: SIM115
    rows = -1  # the header line
    try:
        with _progress() as bar:
            task = bar.add_task("exporting", total=total)
            for chunk in queries.export_csv(db, tenant_id, lo, hi):
                data = chunk if isinstance(chunk, bytes) else chunk.encode()
                stream.write(data)
                lines = data.count(b"\n")
                rows += lines
                bar.advance(task, lines)
    finally:
        if output is not None:
            stream.close()
        else:
            stream.flush()
    return max(rows, 0)


# -- verify ------------------------------------------------------------------------------------


def _result_json(tenant_id: uuid.UUID, result: VerifyResult) -> dict[str, Any]:
    return {
        "tenant_id": str(tenant_id),
        "ok": result.ok,
        "records_checked": result.records_checked,
        "first_bad_seq": result.first_bad_seq,
        "problem": result.problem,
        "last_seq": result.last_seq,
    }


@app.command()
def verify(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="tenant id or domain (default: every tenant)")
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="a checkpoint file from `audit checkpoint`")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify audit chains (one tenant, or all); with --checkpoint, also that the log still
    holds what the checkpoint vouches for. Exits 1 when any chain does not verify."""
    with _guard():
        db = _database()
        cp = _read_checkpoint(checkpoint) if checkpoint else None
        keys = _keys()
        if cp is not None and tenant is None:
            tenant = cp.tenant_id
        tenants = [_tenant_id(db, tenant)] if tenant else _all_tenants(db)
        results = []
        with _progress() as bar:
            task = bar.add_task("verifying", total=len(tenants))
            for tid in tenants:
                with db.transaction(write=False, tenants=[tid]) as session:
                    results.append((tid, verify_chain(session, tid, checkpoint=cp, keys=keys)))
                bar.advance(task)
    bad = [(t, r) for t, r in results if not r.ok]
    if as_json:
        typer.echo(
            json.dumps([_result_json(t, r) for t, r in results] if not tenant else _result_json(*results[0]))
        )
    else:
        for t, r in results:
            if r.ok:
                typer.echo(f"{t}: ok, {r.records_checked} records" + (" (checkpoint holds)" if cp else ""))
            else:
                typer.echo(f"{t}: FAILED at record {r.first_bad_seq}: {r.problem}")
    if bad:
        raise typer.Exit(1)


def _read_checkpoint(path: Path) -> Checkpoint:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not JSON: {exc.msg}") from None
    return Checkpoint.from_json(data)


# -- checkpoint --------------------------------------------------------------------------------


@app.command()
def checkpoint(
    tenant: TenantOpt,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")
    ] = None,
) -> None:
    """Verify a tenant's chain and print a signed checkpoint (tenant, last sequence number,
    head hash, time) as JSON. Keep it outside the database; check it later with
    `audit verify --checkpoint FILE`."""
    with _guard():
        db = _database()
        tenant_id = _tenant_id(db, tenant)
        with db.transaction(write=False, tenants=[tenant_id]) as session:
            cp = make_checkpoint(session, tenant_id, _keys())
        text = json.dumps(cp.to_json(), indent=2)
        if output is not None:
            output.write_text(text + "\n")
            err.print(f"checkpoint of record {cp.seq} written to {output}")
        else:
            typer.echo(text)


# -- retention ---------------------------------------------------------------------------------


@app.command()
def purge(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="tenant id or domain (default: every tenant)")
    ] = None,
    older_than_days: Annotated[int, typer.Option(min=180, help="keep at least this many days")] = 180,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count only")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete audit records past the retention period (180 days), keeping every chain
    verifiable. Safe to run from a scheduler: a chain that does not verify is left alone
    and reported, and the command exits 1."""
    with _guard():
        db = _database()
        tenants = [_tenant_id(db, tenant)] if tenant else _all_tenants(db)
        before = utcnow() - timedelta(days=older_than_days)
        keys = _keys()
        done, failed = [], []
        with _progress() as bar:
            task = bar.add_task("purging", total=len(tenants))
            for tid in tenants:
                try:
                    with db.transaction(tenants=[tid]) as session:
                        done.append(purge_tenant(session, tid, before, dry_run=dry_run, keys=keys))
                except AppError as exc:
                    failed.append({"tenant_id": str(tid), "problem": exc.detail})
                bar.advance(task)
    purged = sum(r.purged for r in done)
    summary = {
        "before": before.isoformat(),
        "dry_run": dry_run,
        "purged": purged,
        "tenants": [
            {"tenant_id": str(r.tenant_id), "purged": r.purged, "through_seq": r.through_seq} for r in done
        ],
        "failed": failed,
    }
    verb = "would purge" if dry_run else "purged"
    _emit(summary, as_json, f"{verb} {purged} records older than {before:%Y-%m-%d} in {len(done)} tenants")
    for f in failed:
        err.print(f"[bold red]error:[/] {f['problem']}", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)
