"""Tickets and customer incidents. A ticket follows its room: whoever may view (or update)
tickets on the room may view (or update) the ticket; anything else answers 404."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.audit.service import Category, Operation
from roomwarden.events import service as events
from roomwarden.kit.errors import Conflict, Forbidden, NotFound
from roomwarden.kit.time import utcnow
from roomwarden.rooms.events import MonitoringTicketChanged, monitoring_ticket_changed
from roomwarden.rooms.models import OPEN_STATUSES, Room, Ticket, TicketUpdate
from roomwarden.rooms.notices import notify_ticket
from roomwarden.rooms.schemas import IncidentCreate, TicketUpdateIn
from roomwarden.rooms.service import require_on_room, room_allows

#: Allowed status changes. A closed ticket is final: open a new incident instead.
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "resolved", "closed"}),
    "in_progress": frozenset({"open", "resolved", "closed"}),
    "resolved": frozenset({"open", "in_progress", "closed"}),
    "closed": frozenset(),
}


def check_transition(current: str, new: str) -> None:
    if new != current and new not in TRANSITIONS[current]:
        raise Conflict(f"a {current} ticket cannot become {new}")
    if current == "closed":
        raise Conflict("the ticket is closed")


def list_tickets_query(
    access: Access,
    *,
    room_id: uuid.UUID | None = None,
    status: str | None = None,
    severity: str | None = None,
    source: str | None = None,
) -> Select[Ticket]:
    rooms = access.rooms(P.TICKETS_VIEW)
    stmt = select(Ticket).where(Ticket.tenant_id == access.tenant_id, rooms.clause(Ticket.room_id))
    if room_id is not None:
        stmt = stmt.where(Ticket.room_id == room_id)
    if status:
        stmt = stmt.where(Ticket.status == status)
    if severity:
        stmt = stmt.where(Ticket.severity == severity)
    if source:
        stmt = stmt.where(Ticket.source == source)
    return stmt


def visible_ticket(session: Session, access: Access, ticket_id: uuid.UUID, *, lock: bool = False) -> Ticket:
    rooms = access.rooms(P.TICKETS_VIEW)
    stmt = select(Ticket).where(
        Ticket.tenant_id == access.tenant_id, Ticket.id == ticket_id, rooms.clause(Ticket.room_id)
    )
    if lock:
        stmt = stmt.with_for_update()
    ticket = session.scalar(stmt)
    if ticket is None:
        raise NotFound("ticket not found")
    return ticket


def history(session: Session, ticket_id: uuid.UUID) -> list[TicketUpdate]:
    return list(
        session.scalars(
            select(TicketUpdate).where(TicketUpdate.ticket_id == ticket_id).order_by(TicketUpdate.id)
        )
    )


def create_incident(session: Session, access: Access, data: IncidentCreate) -> Ticket:
    """The room is the incident's target: out of sight it answers 404 like a missing one."""
    room = session.scalar(select(Room).where(Room.tenant_id == access.tenant_id, Room.id == data.room_id))
    creatable = access.rooms(P.INCIDENTS_CREATE)
    if room is None or not (
        room_allows(session, access.rooms(P.ROOMS_VIEW), room.id) or room_allows(session, creatable, room.id)
    ):
        raise NotFound("room not found")
    require_on_room(session, access, P.INCIDENTS_CREATE, room)
    ticket = Ticket(
        tenant_id=access.tenant_id,
        room_id=room.id,
        kind="incident",
        status="open",
        severity=data.severity,
        title=data.title,
        description=data.description,
        created_by_user_id=access.principal.user_id,
        created_by_tenant_id=access.principal.tenant_id,
    )
    session.add(ticket)
    session.flush()
    access.audit(
        session,
        Category.TICKET,
        Operation.CREATE,
        ticket.title,
        ticket.id,
        {"room_id": str(room.id), "severity": ticket.severity, "kind": "incident"},
    )
    events.ticket_changed(session, ticket, None)
    notify_ticket(session, access, ticket, "created")
    return ticket


def update_ticket(session: Session, access: Access, ticket_id: uuid.UUID, data: TicketUpdateIn) -> Ticket:
    ticket = visible_ticket(session, access, ticket_id, lock=True)
    if not room_allows(session, access.rooms(P.TICKETS_UPDATE), ticket.room_id):
        raise Forbidden("tickets.update is not granted on this ticket's room")
    new_status = data.status if data.status is not None else ticket.status
    check_transition(ticket.status, new_status)
    _one_open_per_signal(session, ticket, new_status)
    entry = TicketUpdate(
        tenant_id=access.tenant_id,
        ticket_id=ticket.id,
        author_user_id=access.principal.user_id,
        author_tenant_id=access.principal.tenant_id,
        status_from=ticket.status if new_status != ticket.status else None,
        status_to=new_status if new_status != ticket.status else None,
        comment=data.comment or "",
    )
    changes: dict[str, object] = {}
    previous = ticket.status
    if new_status != ticket.status:
        changes["status"] = {"from": ticket.status, "to": new_status}
        ticket.status = new_status
        ticket.resolved_at = utcnow() if new_status == "resolved" else ticket.resolved_at
    if data.comment:
        changes["comment"] = data.comment
    session.add(entry)
    ticket.updated_at = entry.created_at = utcnow()
    session.flush()
    if ticket.source == "monitoring" and "status" in changes:
        monitoring_ticket_changed.emit(MonitoringTicketChanged(session, ticket, ticket.updated_at))
    access.audit(session, Category.TICKET, Operation.UPDATE, ticket.title, ticket.id, changes)
    events.ticket_changed(session, ticket, previous)
    notify_ticket(session, access, ticket, "updated", changes)
    return ticket


def _one_open_per_signal(session: Session, ticket: Ticket, new_status: str) -> None:
    """A monitoring ticket reopened by a person while monitoring already opened another for
    the same signal would be the room's second open one (a database constraint)."""
    if ticket.source != "monitoring" or ticket.status in OPEN_STATUSES or new_status not in OPEN_STATUSES:
        return
    other = session.scalar(
        select(Ticket.id).where(
            Ticket.tenant_id == ticket.tenant_id,
            Ticket.room_id == ticket.room_id,
            Ticket.source == "monitoring",
            Ticket.signal == ticket.signal,
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.id != ticket.id,
        )
    )
    if other is not None:
        raise Conflict(f"monitoring has another open ticket for this signal ({other}); work on that one")
