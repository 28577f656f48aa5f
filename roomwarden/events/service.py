"""Recording an event: ``emit`` adds one row to the outbox in the caller's transaction.

Every service that makes a change of the catalogue calls it next to its audit record, so the
event commits or rolls back with the change. After a commit that recorded events, the
post-commit hook (``EVENTS_RECORDED`` in the session's info) lets the webhooks job deliver
them at once; a process that dies first leaves them for the job's next round."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from enum import Enum

from sqlalchemy.orm import Session

from roomwarden.events.catalogue import BY_NAME
from roomwarden.events.models import EventRecord
from roomwarden.rooms.models import Room, Ticket

EVENTS_RECORDED = "events_recorded"
#: what ``data`` may hold: ids and states, never free text or secrets
Value = str | int | float | bool | uuid.UUID | datetime | Enum | None


def _plain(value: Value) -> str | int | float | bool | None:
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def emit(
    session: Session,
    type: str,
    *,
    tenant_id: uuid.UUID,
    room_id: uuid.UUID | None = None,
    link_id: uuid.UUID | None = None,
    partner_tenant_id: uuid.UUID | None = None,
    data: Mapping[str, Value] | None = None,
) -> EventRecord:
    """Record event ``type`` of the catalogue in ``tenant_id``. ``data`` carries only the keys
    the catalogue lists for the type (a key it does not list is a programming error)."""
    kind = BY_NAME.get(type)
    if kind is None:
        raise ValueError(f"{type} is not an event of the catalogue")
    extra = set(data or {}) - set(kind.fields)
    if extra:
        raise ValueError(f"{type} carries no {', '.join(sorted(extra))}")
    event = EventRecord(
        tenant_id=tenant_id,
        type=type,
        room_id=room_id,
        link_id=link_id,
        partner_tenant_id=partner_tenant_id,
        data={key: _plain(value) for key, value in (data or {}).items()},
    )
    session.add(event)
    session.info[EVENTS_RECORDED] = True
    return event


# -- the events of rooms and tickets, from the several services that change them -------------

_REOPENED_FROM = ("resolved", "closed")


def ticket_changed(session: Session, ticket: Ticket, previous: str | None) -> EventRecord:
    """``ticket.*`` for a ticket just opened (``previous`` None) or changed from ``previous``:
    people's incidents and monitoring's alike."""
    if previous is None:
        kind = "opened"
    elif ticket.status == previous:
        kind = "updated"
    elif ticket.status in ("resolved", "closed"):
        kind = ticket.status
    else:
        kind = "reopened" if previous in _REOPENED_FROM else "updated"
    data: dict[str, Value] = {
        "ticket_id": ticket.id,
        "source": ticket.source,
        "status": ticket.status,
        "severity": ticket.severity,
    }
    if kind == "opened":
        data["signal"] = ticket.signal
    return emit(session, f"ticket.{kind}", tenant_id=ticket.tenant_id, room_id=ticket.room_id, data=data)


def health_changed(session: Session, room: Room, previous: str) -> EventRecord | None:
    """``room.health_changed`` when the room's health as people read it differs from
    ``previous`` (read by the caller before its change)."""
    now = room.health_state
    if now == previous:
        return None
    return emit(
        session,
        "room.health_changed",
        tenant_id=room.tenant_id,
        room_id=room.id,
        data={"previous": previous, "health": now},
    )
