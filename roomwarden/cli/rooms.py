"""``roomwarden room ...`` and ``roomwarden ring ...``: the operator's room operations from a
shell — list, re-enrol and delete rooms, list and delete update rings. Each command is one
transaction through the same service functions as the API, recorded in the tenant's audit log
with the service operator as actor."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roomwarden.access.operator import operator_access
from roomwarden.cli.common import JsonOption, emit_json, err, fail, guard, load_settings, open_database, out
from roomwarden.kit.errors import NotFound
from roomwarden.rooms import rings, service
from roomwarden.rooms.models import Room, Ticket, UpdateRing
from roomwarden.rooms.schemas import RoomRead
from roomwarden.tenants.operator import find_tenant

room_app = typer.Typer(help="Rooms of a tenant (operator).", no_args_is_help=True)
ring_app = typer.Typer(help="Update rings of a tenant (operator).", no_args_is_help=True)

TenantRef = Annotated[str, typer.Argument(help="tenant id or one of its domains")]
RoomRef = Annotated[str, typer.Argument(help="room id or resource account")]
RingRef = Annotated[str, typer.Argument(help="update ring id or name")]


def _room(session: Session, tenant_id: uuid.UUID, ref: str) -> Room:
    try:
        stmt = select(Room).where(Room.tenant_id == tenant_id, Room.id == uuid.UUID(ref))
    except ValueError:
        stmt = select(Room).where(Room.tenant_id == tenant_id, Room.resource_account == ref.strip().lower())
    room = session.scalar(stmt)
    if room is None:
        raise NotFound(f"no room with id or resource account {ref} in this tenant")
    return room


def _ring(session: Session, tenant_id: uuid.UUID, ref: str) -> UpdateRing:
    try:
        stmt = select(UpdateRing).where(UpdateRing.tenant_id == tenant_id, UpdateRing.id == uuid.UUID(ref))
    except ValueError:
        stmt = select(UpdateRing).where(UpdateRing.tenant_id == tenant_id, UpdateRing.name == ref.strip())
    ring = session.scalar(stmt)
    if ring is None:
        raise NotFound(f"no update ring with id or name {ref} in this tenant")
    return ring


@room_app.command("list")
def room_list(
    tenant: TenantRef,
    q: Annotated[str | None, typer.Option(help="part of a name or resource account")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every room of the tenant, oldest first."""
    db = open_database(load_settings())
    with guard(), db.transaction(write=False) as session:
        access = operator_access(find_tenant(session, tenant).id)
        stmt = service.list_rooms_query(access, q=q).order_by(Room.id)
        reads = [RoomRead.model_validate(r) for r in session.scalars(stmt)]
    if as_json:
        emit_json(reads)
        return
    table = Table(title=f"{len(reads)} room(s)")
    table.add_column("id", no_wrap=True)
    for column in ("name", "resource account", "country", "enrollment", "health"):
        table.add_column(column, overflow="fold")
    for r in reads:
        table.add_row(
            str(r.id), escape(r.name), r.resource_account, r.country, r.enrollment_state, r.health_state
        )
    out.print(table)


@room_app.command("enroll")
def room_enroll(tenant: TenantRef, room: RoomRef, as_json: JsonOption = False) -> None:
    """Re-enrol an unenrolled room (its health is unknown until the device reports)."""
    db = open_database(load_settings())
    with guard(), db.transaction() as session:
        access = operator_access(find_tenant(session, tenant).id)
        read = RoomRead.model_validate(
            service.enroll_room(session, access, _room(session, access.tenant_id, room).id)
        )
    if as_json:
        emit_json(read)
    else:
        out.print(f"re-enrolled room [bold]{escape(read.name)}[/] ({read.id})")


@room_app.command("delete")
def room_delete(
    tenant: TenantRef,
    room: RoomRef,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask; for scripts")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a room and its tickets. The audit log keeps every ticket with its history. Asks
    for confirmation unless --yes."""
    db = open_database(load_settings())
    with guard(), db.transaction(write=False) as session:
        tenant_id = find_tenant(session, tenant).id
        found = _room(session, tenant_id, room)
        room_id, name = found.id, found.name
        tickets = (
            session.scalar(select(func.count()).select_from(Ticket).where(Ticket.room_id == room_id)) or 0
        )
    if not yes:
        err.print(
            f"This deletes the room [bold]{escape(name)}[/] ({room_id}) and its {tickets} ticket(s); "
            "the audit log keeps their history."
        )
        if not typer.confirm("Delete the room?", default=False, err=True):
            raise fail("not confirmed: nothing was deleted")
    with guard(), db.transaction() as session:
        service.delete_room(session, operator_access(tenant_id), room_id)
    if as_json:
        emit_json({"deleted": str(room_id), "name": name, "tickets_deleted": tickets})
    else:
        out.print(f"deleted room [bold]{escape(name)}[/] ({room_id}) and {tickets} ticket(s)")


@ring_app.command("list")
def ring_list(tenant: TenantRef, as_json: JsonOption = False) -> None:
    """Every update ring of the tenant with its room count."""
    db = open_database(load_settings())
    with guard(), db.transaction(write=False) as session:
        access = operator_access(find_tenant(session, tenant).id)
        items = list(session.scalars(rings.list_rings_query(access).order_by(UpdateRing.id)))
        counts = rings.room_counts(session, access, [r.id for r in items])
        reads: list[dict[str, Any]] = [
            {
                "id": str(r.id),
                "name": r.name,
                "deferral_days": r.deferral_days,
                "paused": r.paused,
                "is_default": r.is_default,
                "room_count": counts[r.id],
            }
            for r in items
        ]
    if as_json:
        emit_json(reads)
        return
    table = Table(title=f"{len(reads)} update ring(s)")
    table.add_column("id", no_wrap=True)
    for column in ("name", "deferral (days)", "paused", "default", "rooms"):
        table.add_column(column)
    for r in reads:
        table.add_row(
            r["id"],
            escape(str(r["name"])),
            str(r["deferral_days"]),
            "yes" if r["paused"] else "",
            "yes" if r["is_default"] else "",
            str(r["room_count"]),
        )
    out.print(table)


@ring_app.command("delete")
def ring_delete(tenant: TenantRef, ring: RingRef, as_json: JsonOption = False) -> None:
    """Delete an empty update ring (not the default ring; move its rooms away first)."""
    db = open_database(load_settings())
    with guard(), db.transaction() as session:
        access = operator_access(find_tenant(session, tenant).id)
        found = _ring(session, access.tenant_id, ring)
        ring_id, name = found.id, found.name
        rings.delete_ring(session, access, ring_id)
    if as_json:
        emit_json({"deleted": str(ring_id), "name": name})
    else:
        out.print(f"deleted update ring [bold]{escape(name)}[/] ({ring_id})")
