"""The ``roomwarden`` command line: serve, migrate, demo, tenant and user administration."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.table import Table

from roomwarden.cli.access import app as access_app
from roomwarden.cli.approvals import app as approvals_app
from roomwarden.cli.audit import app as audit_app
from roomwarden.cli.common import err, fail, guard, load_settings, open_database, out, progress
from roomwarden.cli.db import app as db_app
from roomwarden.cli.fleet import fleet_app
from roomwarden.cli.notifications import mail_app
from roomwarden.cli.rooms import ring_app, room_app
from roomwarden.cli.software import release_app
from roomwarden.cli.tenants import tenant_app
from roomwarden.kit.crypto import SecretBox
from roomwarden.settings import Settings, get_settings, redact_url, url_host
from roomwarden.wiring import build_services
from roomwarden.wiring import install as install_domain

__all__ = ["app", "err", "fail", "out"]

app = typer.Typer(
    help="Roomwarden: meeting-room fleets with scoped partner delegation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(help="User administration (operator).", no_args_is_help=True)


@app.callback()
def _start() -> None:
    """Roomwarden: meeting-room fleets with scoped partner delegation."""
    install_domain()


app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
app.add_typer(room_app, name="room")
app.add_typer(ring_app, name="ring")
app.add_typer(release_app, name="release")
app.add_typer(mail_app, name="mail")
app.add_typer(access_app, name="access")
app.add_typer(approvals_app, name="approvals")
app.add_typer(audit_app, name="audit")
app.add_typer(fleet_app, name="fleet")
app.add_typer(db_app, name="db")

# Kept under their historical names for the sub-apps that import them from here.
_guard = guard
_settings = load_settings
_database = open_database


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from roomwarden.kit.migrate import current_revision

    settings = load_settings()
    err.print("migrating the database ...")
    db = open_database(settings)
    with guard():
        revision = current_revision(db)
    out.print(f"database at revision [bold]{revision}[/] ({redact_url(settings.database_url)})")


def _bind(host: str | None, port: int | None) -> Settings:
    """Apply --host/--port to this process's configuration. Unless ROOMWARDEN_PUBLIC_URL is
    set, the public URL (links in mail, the portal) follows them."""
    if host:
        os.environ["ROOMWARDEN_HOST"] = host
    if port:
        os.environ["ROOMWARDEN_PORT"] = str(port)
    get_settings.cache_clear()
    return load_settings()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to bind")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="TCP port")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate", help="apply migrations")] = True,
) -> None:
    """Run the HTTP service."""
    import uvicorn

    from roomwarden.kit import logs
    from roomwarden.kit.server import HTTP_PROTOCOL, WORKER_HEALTHCHECK_SECONDS, metrics_directory, run

    settings = _bind(host, port)
    with guard():
        settings.check_production_ready()
    if migrate_first:
        err.print("migrating the database ...")
        open_database(settings).dispose()
    out.print(
        f"Roomwarden listening on [bold]http://{url_host(settings.host)}:{settings.port}[/] "
        f"(portal {settings.public_url}/, API docs {settings.public_url}/api/v1/docs)"
    )
    # proxy_headers off: X-Forwarded-For is believed only from ROOMWARDEN_TRUSTED_PROXIES
    # (roomwarden/kit/proxy.py), never from any loopback peer as uvicorn would by default.
    config = uvicorn.Config(
        "roomwarden.asgi:app",
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        log_config=logs.config(settings.log_format),
        access_log=False,  # the service writes its own, with the request id (kit/observe.py)
        proxy_headers=False,
        http=HTTP_PROTOCOL,  # keeps TCP_NODELAY on every connection (roomwarden/kit/server.py)
        # A worker answers the supervisor's health check only once it has imported and
        # built the app; uvicorn's 5 s default kills and restarts workers forever on a
        # busy host.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    with guard(), metrics_directory(workers):
        run(config)  # with --workers N, one SO_REUSEPORT socket per worker (kit/server.py)


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="start the service afterwards")
    ] = True,
    rooms_per_site: Annotated[int, typer.Option(min=1, max=5000, help="rooms per demo site")] = 4,
    reset: Annotated[
        bool, typer.Option("--reset", help="delete the demo tenants (and all they hold) and build them again")
    ] = False,
    host: Annotated[str | None, typer.Option(help="interface to bind")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="TCP port")] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate/--no-simulate", help="play a device in every demo room while serving")
    ] = True,
) -> None:
    """Load the demo data set (once) and print how to sign in, then serve, with a simulated
    device reporting from every demo room (roomwarden fleet simulate)."""
    from roomwarden.demo import build_demo, reset_demo

    if os.environ.get("ROOMWARDEN_ENV", "").strip().lower() == "production":
        raise fail("the demo data set is not loaded in production mode")
    # The demo is a development instance by definition: it runs on the published demo
    # secrets, and so may the server it starts (in this process and its workers).
    os.environ["ROOMWARDEN_ENV"] = "development"
    settings = _bind(host, port)
    err.print(f"migrating the database ({redact_url(settings.database_url)}) ...")
    db = open_database(settings)
    if reset:
        with guard(), db.transaction() as session:
            removed = reset_demo(session)  # states the demo tenants it deletes
        err.print(f"reset: deleted {removed} demo tenant(s)")
    # Said in words too: the bar below is drawn only on a terminal, and a log shows nothing else
    # between the migration and the result.
    err.print(f"loading the demo data set ({rooms_per_site} rooms per site) ...")
    with progress("loading demo data") as bar:
        task = bar.add_task("rooms", total=None)
        with guard():
            result = build_demo(
                db,
                SecretBox(settings.encryption_key.get_secret_value()),
                rooms_per_site=rooms_per_site,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    db.dispose()
    url = settings.public_url.rstrip("/")
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
    out.print(f"Portal:         [bold]{url}/[/]")
    out.print(f"API docs:       {url}/api/v1/docs")
    out.print(
        f"Operator token: {settings.operator_token.get_secret_value()}  "
        "(Authorization: Bearer ... on /api/v1/operator)",
        soft_wrap=True,
    )
    out.print(
        "Get a token:    curl -s "
        f"-d 'username=admin@contoso.example&password={result.password}' {url}/api/v1/auth/token",
        soft_wrap=True,
    )
    if serve_after:
        if simulate:
            _simulate_demo_fleet(url, result.password, str(result.customer_id), result.rooms)
        serve(host=None, port=None, workers=1, migrate_first=False)


def _simulate_demo_fleet(url: str, password: str, tenant: str, rooms: int) -> None:
    """Once the server answers, enrol a simulated device in every demo room and keep reporting
    (a daemon thread: it ends with the server), so the first portal page shows live health."""
    import threading
    import time

    import httpx

    from roomwarden.devices.simulator import Fleet

    def run() -> None:
        for _ in range(600):
            try:
                httpx.get(f"{url}/healthz", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        try:
            form = {"username": "admin@contoso.example", "password": password}
            token = httpx.post(f"{url}/api/v1/auth/token", data=form, timeout=30).json()["access_token"]
            fleet = Fleet(url, token, tenant, rooms, failure_rate=0.02, interval=15, log=lambda _: None)
            fleet.enrol()
            err.print(f"simulating {len(fleet.devices)} room devices (roomwarden fleet simulate)")
            fleet.run(None)
        except (httpx.HTTPError, KeyError) as exc:
            err.print(f"the demo fleet stopped: {exc}")

    threading.Thread(target=run, name="demo-fleet", daemon=True).start()


@user_app.command("create")
def user_create(
    tenant: Annotated[str, typer.Option(help="tenant domain or id")],
    upn: Annotated[str, typer.Option(help="user principal name")],
    name: Annotated[str, typer.Option(help="display name")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    global_admin: Annotated[bool, typer.Option("--global-admin/--no-global-admin")] = False,
) -> None:
    """Create a local user in a tenant (recorded as an operator action)."""
    from roomwarden.access.operator import operator_access
    from roomwarden.identity.schemas import UserCreate
    from roomwarden.identity.service import create_user
    from roomwarden.tenants.operator import find_tenant

    db = open_database(load_settings())
    with guard(), db.transaction() as session:
        data = UserCreate(upn=upn, display_name=name, password=password, is_global_admin=global_admin)
        user = create_user(session, operator_access(find_tenant(session, tenant).id), data)
    out.print(f"created user [bold]{user.upn}[/] id={user.id}")


@user_app.command("unlock")
def user_unlock(
    upn: Annotated[str, typer.Option(help="user principal name of the locked account")],
    json_output: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Let an account locked by failed sign-ins sign in again (recorded as an operator action)."""
    from roomwarden.access.operator import operator_access
    from roomwarden.identity import account

    settings = _settings()
    db = _database(settings)
    with _guard(), db.transaction() as session:
        user = account.user_by_upn(session, upn, lock=True)
        cleared = account.unlock(session, settings, user, operator_access(user.tenant_id))
        result = {"user_id": str(user.id), "upn": user.upn, "failures_cleared": cleared}
    if json_output:
        typer.echo(json.dumps(result))
    else:
        out.print(f"unlocked [bold]{result['upn']}[/] ({cleared} failed sign-ins cleared)")


@user_app.command("reset-password")
def user_reset_password(
    upn: Annotated[str, typer.Option(help="user principal name")],
    password: Annotated[
        str,
        typer.Option(
            prompt="New password", hide_input=True, confirmation_prompt=True, help="the new password"
        ),
    ],
) -> None:
    """Give an account a new password; its earlier tokens and portal sessions end."""
    from roomwarden.access.operator import operator_access
    from roomwarden.identity import account
    from roomwarden.identity.schemas import OperatorPasswordReset

    db = _database(_settings())
    with _guard(), db.transaction() as session:
        data = OperatorPasswordReset(upn=upn, new_password=password)
        user = account.user_by_upn(session, data.upn, lock=True)
        account.reset_password(session, user, data.new_password, operator_access(user.tenant_id))
    out.print(f"reset the password of [bold]{data.upn}[/]; its earlier sign-ins have ended")


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="run what is due now, then exit")] = False,
) -> None:
    """Run the background jobs (mail, approval sweep, device monitor) in this process. Any
    number of workers and `serve` processes may run them at once; set
    ROOMWARDEN_JOBS_IN_SERVE=false to leave them to workers only."""
    install_domain()
    settings = load_settings()
    db = open_database(settings)
    runner = build_services(settings, db).runner
    if once:
        with guard():
            ran = runner.run_until_idle()
        out.print(f"ran {len(ran)} job(s): {', '.join(ran) or 'none was due'}")
        db.dispose()
        return
    err.print(f"running jobs as {runner.owner}: {', '.join(runner.registry.names())}")
    try:
        runner.loop()
    except KeyboardInterrupt:
        err.print("stopped")
    finally:
        db.dispose()


@app.command()
def keygen() -> None:
    """Print fresh values for every secret the service needs (settings.SECRETS)."""
    from roomwarden.settings import SECRETS

    # Plain lines, never wrapped: the output is meant for an environment file.
    for secret in SECRETS:
        typer.echo(f"{secret.variable}={secret.generate()}")
