"""``roomwarden tenant ...``: the operator's tenant administration from a shell. Each command
is one transaction, recorded in the tenant's audit log with the operator as actor."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from roomwarden.cli.common import JsonOption, emit_json, err, fail, guard, load_settings, open_database, out
from roomwarden.tenants import operator as ops
from roomwarden.tenants.schemas import OperatorTenantRead, OperatorTenantUpdate

tenant_app = typer.Typer(help="Tenant administration (operator).", no_args_is_help=True)
domain_app = typer.Typer(help="A tenant's domains.", no_args_is_help=True)
tenant_app.add_typer(domain_app, name="domain")

TenantRef = Annotated[str, typer.Argument(help="tenant id or one of its domains")]


def _show(tenant: OperatorTenantRead, as_json: bool) -> None:
    if as_json:
        emit_json(tenant)
        return
    table = Table(show_header=False, title=escape(tenant.name))
    for label, value in (
        ("id", tenant.id),
        ("domains", ", ".join(tenant.domains)),
        ("identity source", tenant.identity_source),
        ("created", tenant.created_at.isoformat(timespec="seconds")),
        ("users", tenant.users),
        ("rooms", tenant.rooms),
        ("partners", tenant.partners),
        ("customers", tenant.customers),
    ):
        table.add_row(label, escape(str(value)))
    out.print(table)


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Option(help="display name")],
    domain: Annotated[list[str], typer.Option(help="a domain of the tenant; repeat for several")],
    admin_upn: Annotated[str, typer.Option(help="UPN of the first Global admin")],
    admin_name: Annotated[str, typer.Option(help="display name of the first Global admin")],
    admin_password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="its password")
    ],
    as_json: JsonOption = False,
) -> None:
    """Create a tenant with its domains and first Global admin."""
    from roomwarden.tenants.schemas import AdminCreate, TenantCreate
    from roomwarden.tenants.service import create_tenant

    db = open_database(load_settings())
    with guard(), db.transaction() as session:
        data = TenantCreate(
            name=name,
            domains=domain,
            admin=AdminCreate(upn=admin_upn, display_name=admin_name, password=admin_password),
        )
        tenant, admin = create_tenant(session, data)
        read = ops.tenant_read(session, tenant)
    if as_json:
        emit_json({**read.model_dump(mode="json"), "admin_user_id": str(admin.id)})
        return
    out.print(f"created tenant [bold]{escape(tenant.name)}[/] id={tenant.id} admin={admin.upn} ({admin.id})")


@tenant_app.command("list")
def tenant_list(
    q: Annotated[str | None, typer.Option(help="part of a name or domain")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every tenant, oldest first, with its domains and size."""
    db = open_database(load_settings())
    with guard(), db.transaction(write=False) as session:
        stmt = ops.tenants_query(session, q).order_by(ops.Tenant.id)
        reads = ops.tenant_reads(session, list(session.scalars(stmt)))
    if as_json:
        emit_json(reads)
        return
    table = Table(title=f"{len(reads)} tenant(s)")
    table.add_column("id", no_wrap=True)
    for column in ("name", "domains", "users", "rooms", "partners", "customers"):
        table.add_column(column, overflow="fold")
    for t in reads:
        table.add_row(
            str(t.id),
            escape(t.name),
            ", ".join(t.domains),
            *(str(n) for n in (t.users, t.rooms, t.partners, t.customers)),
        )
    out.print(table)


@tenant_app.command("show")
def tenant_show(tenant: TenantRef, as_json: JsonOption = False) -> None:
    """One tenant: domains, identity source and size."""
    db = open_database(load_settings())
    with guard(), db.transaction(write=False) as session:
        read = ops.tenant_read(session, ops.find_tenant(session, tenant))
    _show(read, as_json)


def _update(tenant: str, change: OperatorTenantUpdate, as_json: bool) -> None:
    db = open_database(load_settings())
    with guard(), db.transaction() as session:
        read = ops.tenant_read(session, ops.update_tenant(session, tenant, change))
    _show(read, as_json)


@tenant_app.command("rename")
def tenant_rename(
    tenant: TenantRef,
    name: Annotated[str, typer.Argument(help="the new display name")],
    as_json: JsonOption = False,
) -> None:
    """Give a tenant a new display name."""
    with guard():
        change = OperatorTenantUpdate(name=name)
    _update(tenant, change, as_json)


@domain_app.command("add")
def domain_add(
    tenant: TenantRef,
    domain: Annotated[str, typer.Argument(help="a DNS domain not yet registered")],
    as_json: JsonOption = False,
) -> None:
    """Add a domain to a tenant (unique across the service)."""
    with guard():
        change = OperatorTenantUpdate(add_domains=[domain])
    _update(tenant, change, as_json)


@domain_app.command("remove")
def domain_remove(
    tenant: TenantRef,
    domain: Annotated[str, typer.Argument(help="one of the tenant's domains, used by no UPN")],
    as_json: JsonOption = False,
) -> None:
    """Remove a domain from a tenant; refused while a user signs in with it."""
    db = open_database(load_settings())
    with guard(), db.transaction() as session:
        found = ops.find_tenant(session, tenant)
        if domain.strip().lower() not in ops.tenant_read(session, found).domains:
            raise fail(f"the tenant has no domain {domain}")
        read = ops.tenant_read(
            session, ops.update_tenant(session, found.id, OperatorTenantUpdate(remove_domains=[domain]))
        )
    _show(read, as_json)


@tenant_app.command("delete")
def tenant_delete(
    tenant: TenantRef,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask; for scripts")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a tenant with its rooms, users and audit log. Its partner links end first and
    are recorded in the other tenants' logs. Asks to type the tenant's name unless --yes."""
    db = open_database(load_settings())
    with guard(), db.transaction(write=False) as session:
        read = ops.tenant_read(session, ops.find_tenant(session, tenant))
    if not yes:
        err.print(
            f"This deletes [bold]{escape(read.name)}[/] ({', '.join(read.domains)}): {read.users} user(s), "
            f"{read.rooms} room(s), its audit log, and ends {read.partners + read.customers} partner link(s)."
        )
        typed = typer.prompt("Type the tenant's name to confirm", err=True, default="", show_default=False)
        if typed.strip() != read.name:
            raise fail("not confirmed: nothing was deleted")
    with guard(), db.transaction() as session:
        ops.delete_tenant(session, read.id, confirm=True)
    if as_json:
        emit_json({"deleted": str(read.id), "name": read.name})
    else:
        out.print(f"deleted tenant [bold]{escape(read.name)}[/] ({read.id})")
