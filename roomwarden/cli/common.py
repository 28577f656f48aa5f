"""Shared by every command-line sub-app: one readable error line with a non-zero exit code
instead of a traceback, settings and database opening, ``--json`` output and progress bars.

Exit codes: 1 a refused operation (not found, conflict, configuration), 2 invalid input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import click
import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from roomwarden.kit.db import Database, state_tenants_of
from roomwarden.kit.errors import AppError
from roomwarden.settings import Settings, get_settings

out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for scripts instead of a table")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line (never wrapped, never markup-interpreted) and return the exit
    to raise."""
    err.print(f"[bold red]error:[/] {_one_line(message)}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _one_line(message: str) -> str:
    from rich.markup import escape

    return escape(" ".join(str(message).split()))


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors())


@contextmanager
def guard() -> Iterator[None]:
    """Turn expected failures into one readable line and a non-zero exit code. Exits and
    aborts raised inside pass through untouched (``typer.Exit`` is a ``RuntimeError``)."""
    try:
        yield
    except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise
    except AppError as exc:
        raise fail(exc.detail, 2 if exc.status == 422 else 1) from None
    except ValidationError as exc:
        raise fail(f"invalid input: {_validation_message(exc)}", 2) from None
    except IntegrityError as exc:
        raise fail(f"the change conflicts with existing data ({exc.orig})") from None
    except OperationalError as exc:
        raise fail(f"database error: {exc.orig}") from None
    except DatabaseError as exc:
        raise fail(f"database error: {exc.orig}") from None
    except (ValueError, RuntimeError, OSError) as exc:
        raise fail(str(exc)) from None


def load_settings() -> Settings:
    """The configuration, checked as far as it can be without a database: a malformed
    encryption key is one error line here rather than a traceback later."""
    from roomwarden.kit.crypto import SecretBox

    with guard():
        try:
            settings = get_settings()
        except ValidationError as exc:
            raise fail(f"invalid configuration: {_validation_message(exc)}") from None
        SecretBox(settings.encryption_key.get_secret_value())
        return settings


def every_tenant(session: Session) -> Session:
    """State every tenant in the session (row-level security): for the operator's commands
    that work across the whole instance (the mail queue, the approval sweep)."""
    from roomwarden.tenants.models import EVERY_TENANT

    state_tenants_of(session, EVERY_TENANT)
    return session


def open_database(settings: Settings, migrate: bool = True) -> Database:
    from roomwarden.kit.migrate import upgrade

    db = Database(settings.database_url, pool=settings.pool(), row_security=settings.database_row_security)
    if migrate:
        with guard():
            upgrade(db)
    return db


def emit_json(value: Any) -> None:
    """Machine-readable output on stdout: models in their JSON form, one document."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()


def progress(label: str) -> Progress:
    """A progress bar on stderr for long work (stdout stays clean for ``--json``)."""
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
