"""``roomwarden approvals sweep``: change-control housekeeping a scheduler can run."""

from __future__ import annotations

from typing import Annotated

import typer

from roomwarden.cli.common import (
    JsonOption,
    emit_json,
    every_tenant,
    guard,
    load_settings,
    open_database,
    out,
)

app = typer.Typer(help="Change control: approval requests.", no_args_is_help=True)


@app.command("sweep")
def sweep_command(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="requests per transaction")] = 500,
    as_json: JsonOption = False,
) -> None:
    """Mark every pending approval request past its expiry as expired (and tell its requester).
    Safe to run from several schedulers at once: rows another run holds are skipped."""
    from roomwarden.approvals.service import sweep

    db = open_database(load_settings())
    total = 0
    with guard():
        while True:
            with db.transaction() as session:
                done = sweep(every_tenant(session), limit=batch)
            total += done
            if done < batch:
                break
    db.dispose()
    if as_json:
        emit_json({"expired": total})
    else:
        out.print(f"expired {total} approval request{'s' if total != 1 else ''}")
