"""``roomwarden access``: operator checks of the access model's stored state."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer

from roomwarden.access import materialise
from roomwarden.cli.common import every_tenant, fail, guard, load_settings, open_database, out
from roomwarden.kit.db import state_tenants

app = typer.Typer(help="Access-model maintenance (operator).", no_args_is_help=True)


@app.command("check-scopes")
def check_scopes(
    tenant: Annotated[str | None, typer.Option(help="check one tenant (id); default: every tenant")] = None,
    repair: Annotated[bool, typer.Option("--repair", help="rewrite rows that differ")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Compare every scope's materialised rooms with its definition (listed rooms plus the
    current members of listed groups). Exit code 0 when they agree (or were repaired), 1 when
    they differ."""

    try:
        tenant_id = uuid.UUID(tenant) if tenant else None
    except ValueError:
        raise fail(f"not a tenant id: {tenant}", 2) from None
    db = open_database(load_settings())
    with guard(), db.transaction(write=repair) as session:
        if tenant_id is None:
            every_tenant(session)
        else:
            state_tenants(session, [tenant_id])
        drift = materialise.check(session, tenant_id)
        if repair and not drift.ok:
            materialise.repair(session, drift)
    db.dispose()
    result = {
        "ok": drift.ok,
        "missing": len(drift.missing),
        "extra": len(drift.extra),
        "repaired": repair and not drift.ok,
    }
    if as_json:
        typer.echo(json.dumps(result))
    elif drift.ok:
        out.print("scope membership: every materialised scope agrees with its definition")
    else:
        verb = "repaired" if repair else "found"
        out.print(
            f"scope membership: {verb} {len(drift.missing)} missing and {len(drift.extra)} extra "
            "(scope, room) rows"
        )
    if not drift.ok and not repair:
        raise typer.Exit(1)
