"""``roomwarden mail status|retry``: the outbox from a shell or a scheduler."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select

from roomwarden.cli.common import (
    JsonOption,
    emit_json,
    err,
    every_tenant,
    guard,
    load_settings,
    open_database,
    out,
    progress,
)
from roomwarden.notifications.models import OutgoingMail
from roomwarden.notifications.service import Mailer, mail_counts, retry_failed

mail_app = typer.Typer(help="Outgoing e-mail: queue status and retries.", no_args_is_help=True)


@mail_app.command("status")
def mail_status(
    failed: Annotated[int, typer.Option(min=0, max=1000, help="how many failed messages to list")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Messages per status, the oldest waiting one, and the latest failures with their error."""
    settings = load_settings()
    db = open_database(settings)
    with guard(), db.transaction(write=False) as session:
        counts = mail_counts(every_tenant(session))
        oldest = session.scalar(
            select(func.min(OutgoingMail.created_at)).where(OutgoingMail.status == "pending")
        )
        rows = session.scalars(
            select(OutgoingMail)
            .where(OutgoingMail.status == "failed")
            .order_by(OutgoingMail.created_at.desc())
            .limit(failed)
        ).all()
        failures: list[dict[str, Any]] = [
            {
                "id": str(m.id),
                "to": m.to_address,
                "subject": m.subject,
                "attempts": m.attempts,
                "created_at": m.created_at.isoformat(),
                "last_error": m.last_error,
            }
            for m in rows
        ]
    report = {
        "smtp_host": settings.smtp_host,
        "counts": counts,
        "oldest_pending": oldest.isoformat() if oldest else None,
        "failed": failures,
    }
    if as_json:
        emit_json(report)
        return
    if not settings.smtp_host:
        err.print("ROOMWARDEN_SMTP_HOST is not set: nothing is sent")
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    out.print(f"outbox: {summary}" + (f"; oldest pending since {report['oldest_pending']}" if oldest else ""))
    if failures:
        table = Table(title="failed messages (newest first)")
        for column in ("id", "to", "subject", "attempts", "last error"):
            table.add_column(column, overflow="fold")
        for f in failures:
            table.add_row(
                f["id"],
                escape(f["to"]),
                escape(f["subject"]),
                str(f["attempts"]),
                escape(f["last_error"] or ""),
            )
        out.print(table)


@mail_app.command("retry")
def mail_retry(
    ids: Annotated[
        list[uuid.UUID] | None, typer.Argument(help="failed messages to retry (default: every failed one)")
    ] = None,
    send: Annotated[bool, typer.Option("--send/--no-send", help="deliver what is due now")] = True,
    as_json: JsonOption = False,
) -> None:
    """Queue failed messages again and deliver every due message now."""
    settings = load_settings()
    db = open_database(settings)
    with guard(), db.transaction() as session:
        requeued = retry_failed(every_tenant(session), ids or None)
        due = session.scalar(
            select(func.count()).select_from(OutgoingMail).where(OutgoingMail.status == "pending")
        )
    if send and settings.smtp_host:
        mailer = Mailer(db, settings)
        with progress("sending mail") as bar, guard():
            task = bar.add_task("mail", total=due or 0)
            while mailer.deliver_next() is not None:
                bar.advance(task)
    elif send:
        err.print("ROOMWARDEN_SMTP_HOST is not set: messages stay queued")
    with guard(), db.transaction(write=False) as session:
        counts = mail_counts(every_tenant(session))
    db.dispose()
    if as_json:
        emit_json({"requeued": requeued, "counts": counts})
        return
    out.print(
        f"requeued {requeued} failed message(s); outbox now: "
        + ", ".join(f"{n} {s}" for s, n in counts.items())
    )
