"""``roomwarden release ...``: the operator's release catalogue from a shell (SPEC §12). The
same rules as ``POST /api/v1/operator/releases``: dotted-number versions, one release per
component and version."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from roomwarden.cli.common import JsonOption, emit_json, guard, load_settings, open_database, out
from roomwarden.software import releases
from roomwarden.software.schemas import ReleaseCreate, ReleaseRead

release_app = typer.Typer(help="The software release catalogue (operator).", no_args_is_help=True)


@release_app.command("publish")
def release_publish(
    component: Annotated[str, typer.Argument(help="the component, e.g. agent")],
    version: Annotated[str, typer.Argument(help="dotted numbers, e.g. 1.4.2")],
    notes: Annotated[str, typer.Option(help="release notes")] = "",
    as_json: JsonOption = False,
) -> None:
    """Publish a release; update rings offer it to their rooms once their deferral has passed."""
    db = open_database(load_settings())
    with guard(), db.transaction() as session:
        data = ReleaseCreate(component=component, version=version, notes=notes)
        read = ReleaseRead.model_validate(releases.publish(session, data))
    if as_json:
        emit_json(read)
        return
    out.print(f"published [bold]{escape(read.component)} {escape(read.version)}[/] id={read.id}")


@release_app.command("list")
def release_list(as_json: JsonOption = False) -> None:
    """Every release, by component, newest version first."""
    db = open_database(load_settings())
    with guard(), db.transaction(write=False) as session:
        reads = [ReleaseRead.model_validate(r) for r in releases.catalogue(session)]
    if as_json:
        emit_json(reads)
        return
    table = Table(title=f"{len(reads)} release(s)")
    for column in ("component", "version", "published", "notes"):
        table.add_column(column)
    for r in reads:
        table.add_row(
            escape(r.component),
            escape(r.version),
            r.published_at.isoformat(timespec="seconds"),
            escape(r.notes.splitlines()[0] if r.notes else ""),
        )
    out.print(table)
