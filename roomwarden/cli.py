"""The ``roomwarden`` command line: serve, migrate, demo, tenant and user administration."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import OperationalError

from roomwarden.kit.crypto import SecretBox, generate_encryption_key
from roomwarden.kit.db import Database
from roomwarden.kit.errors import AppError
from roomwarden.settings import Settings, get_settings

app = typer.Typer(
    help="Roomwarden: meeting-room fleets with scoped partner delegation.", no_args_is_help=True
)
tenant_app = typer.Typer(help="Tenant administration (operator).", no_args_is_help=True)
user_app = typer.Typer(help="User administration (operator).", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@contextmanager
def _guard() -> Iterator[None]:
    """Turn expected failures into one readable line and a non-zero exit code."""
    try:
        yield
    except AppError as exc:
        raise fail(exc.detail) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
        )
        raise fail(f"invalid input: {problems}", 2) from None
    except OperationalError as exc:
        raise fail(f"database error: {exc.orig}") from None
    except (ValueError, RuntimeError) as exc:
        raise fail(str(exc)) from None


def _settings() -> Settings:
    with _guard():
        try:
            return get_settings()
        except ValidationError as exc:
            raise fail(f"invalid configuration: {exc}") from None


def _database(settings: Settings, migrate: bool = True) -> Database:
    from roomwarden.kit.migrate import upgrade

    db = Database(settings.database_url)
    if migrate:
        with _guard():
            upgrade(db)
    return db


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from roomwarden.kit.migrate import current_revision

    settings = _settings()
    db = _database(settings)
    out.print(f"database at revision [bold]{current_revision(db)}[/] ({_redact(settings.database_url)})")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate", help="apply migrations")] = True,
) -> None:
    """Run the HTTP service."""
    import uvicorn

    settings = _settings()
    with _guard():
        settings.check_production_ready()
    if migrate_first:
        _database(settings).dispose()
    host, port = host or settings.host, port or settings.port
    out.print(f"Roomwarden listening on [bold]http://{host}:{port}[/] (API docs: /api/v1/docs)")
    uvicorn.run("roomwarden.asgi:app", host=host, port=port, workers=workers, log_level="info")


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="start the service afterwards")
    ] = True,
    rooms_per_site: Annotated[int, typer.Option(min=1, max=5000, help="rooms per demo site")] = 4,
) -> None:
    """Load the demo data set (once) and print how to sign in."""
    from roomwarden.demo import build_demo

    settings = _settings()
    if settings.env == "production":
        raise fail("the demo data set is not loaded in production mode")
    db = _database(settings)
    with Progress(
        TextColumn("[bold]creating demo rooms"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as bar:
        task = bar.add_task("rooms", total=None)
        with _guard():
            result = build_demo(
                db,
                SecretBox(settings.encryption_key),
                rooms_per_site=rooms_per_site,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    db.dispose()
    url = f"http://{settings.host}:{settings.port}"
    out.print(
        ("Created" if result.created else "Found") + f" the demo data set: {result.rooms} customer rooms."
    )
    table = Table(title=f"Sign-in details (password for every account: {result.password})")
    for column in ("user name", "role", "scope"):
        table.add_column(column)
    for acct in result.accounts:
        table.add_row(acct.upn, acct.role, acct.scope)
    out.print(table)
    out.print(f"Customer tenant id: {result.customer_id}\nPartner tenant id:  {result.partner_id}")
    out.print(f"Service URL: [bold]{url}[/]  (API docs {url}/api/v1/docs)")
    out.print(
        "Get a token: curl -s "
        f"-d 'username=admin@contoso.example&password={result.password}' {url}/api/v1/auth/token"
    )
    if serve_after:
        serve(host=None, port=None, workers=1, migrate_first=False)


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Option(help="display name")],
    domain: Annotated[list[str], typer.Option(help="a domain of the tenant; repeat for several")],
    admin_upn: Annotated[str, typer.Option(help="UPN of the first Global admin")],
    admin_name: Annotated[str, typer.Option(help="display name of the first Global admin")],
    admin_password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="its password")
    ],
) -> None:
    """Create a tenant with its domains and first Global admin."""
    from roomwarden.tenants.schemas import AdminCreate, TenantCreate
    from roomwarden.tenants.service import create_tenant

    db = _database(_settings())
    with _guard(), db.transaction() as session:
        data = TenantCreate(
            name=name,
            domains=domain,
            admin=AdminCreate(upn=admin_upn, display_name=admin_name, password=admin_password),
        )
        tenant, admin = create_tenant(session, data)
    out.print(f"created tenant [bold]{tenant.name}[/] id={tenant.id} admin={admin.upn} ({admin.id})")


@user_app.command("create")
def user_create(
    tenant: Annotated[str, typer.Option(help="tenant domain or id")],
    upn: Annotated[str, typer.Option(help="user principal name")],
    name: Annotated[str, typer.Option(help="display name")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    global_admin: Annotated[bool, typer.Option("--global-admin/--no-global-admin")] = False,
) -> None:
    """Create a local user in a tenant (recorded as an operator action)."""
    from roomwarden.identity.schemas import UserCreate
    from roomwarden.identity.service import create_user_as_operator

    db = _database(_settings())
    with _guard(), db.transaction() as session:
        data = UserCreate(upn=upn, display_name=name, password=password, is_global_admin=global_admin)
        user = create_user_as_operator(session, tenant, data)
    out.print(f"created user [bold]{user.upn}[/] id={user.id}")


@app.command()
def keygen() -> None:
    """Print fresh secrets for a production configuration."""
    # Plain lines, never wrapped: the output is meant for an environment file.
    typer.echo(f"ROOMWARDEN_SECRET_KEY={secrets.token_urlsafe(48)}")
    typer.echo(f"ROOMWARDEN_ENCRYPTION_KEY={generate_encryption_key()}")
    typer.echo(f"ROOMWARDEN_OPERATOR_TOKEN={secrets.token_urlsafe(32)}")


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
