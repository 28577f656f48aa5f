"""``roomwarden db``: checks of the live database's schema (operator)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from roomwarden.cli.common import guard, load_settings, open_database, out
from roomwarden.kit import distribution

app = typer.Typer(help="Database checks (operator).", no_args_is_help=True)


@app.command("check")
def check(
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    require_rls: Annotated[
        bool,
        typer.Option("--require-rls", help="also fail a tenant-owned table without forced RLS"),
    ] = False,
) -> None:
    """Prove that the schema can be distributed by tenant: every tenant-owned table's primary
    key, unique constraints and foreign keys include tenant_id (docs/operations.md, "Towards
    Citus"); report row-level security on PostgreSQL. Reads the live database without
    migrating it. Exit code 0 when every table passes, 1 naming the tables that do not."""
    db = open_database(load_settings(), migrate=False)
    with guard(), db.engine.connect() as conn:
        report = distribution.check(conn, require_rls=require_rls)
    db.dispose()
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print(report)
    if not report.ok:
        typer.echo(f"offending tables: {', '.join(report.offending)}", err=True)
        raise typer.Exit(1)


def _print(report: distribution.Report) -> None:
    for table in report.tables:
        problems = report.offences(table)
        rls = ""
        if table.rls is not None:
            state = [w for w, on in (("enabled", table.rls.enabled), ("forced", table.rls.forced)) if on]
            rls = f"  RLS: {', '.join(state) or 'off'}, {table.rls.policies} policies"
        mark = "[red]FAIL[/]" if problems else "[green]ok[/]  "
        out.print(f"{mark} {table.name} ({table.kind}){rls}", highlight=False, soft_wrap=True)
        for problem in problems:
            out.print(f"       - {problem}", highlight=False, markup=False, soft_wrap=True)
    verdict = (
        "every tenant-owned table can be distributed by tenant_id"
        if report.ok
        else (f"{len(report.offending)} table(s) cannot be distributed by tenant_id as they are")
    )
    out.print(verdict)
