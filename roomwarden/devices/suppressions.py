"""Suppression (SPEC §11): people with ``rooms.modify`` on a room silence one of its signals
for a while (a known fault, a planned repair). A suppressed signal opens no ticket and leaves
the room's health alone; its open ticket is resolved with a note. Ending a suppression counts
the signal again at once (a signal still failing opens its ticket); an expired one counts again
from the device's next report. A partner's suppression is a ``room.update`` of change control
(approvals.actions)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.audit.service import Category, Operation
from roomwarden.devices import monitoring
from roomwarden.devices.catalogue import OFFLINE
from roomwarden.devices.models import Device, RoomSignal
from roomwarden.devices.reports import active_suppressions, signal_rows
from roomwarden.devices.rules import derive_health
from roomwarden.devices.schemas import SuppressionChange, SuppressionEnd
from roomwarden.events import service as events
from roomwarden.kit.errors import Invalid
from roomwarden.kit.time import utcnow
from roomwarden.rooms.models import Room
from roomwarden.rooms.service import require_on_room, visible_room

MAX_AHEAD = timedelta(days=90)


def list_suppressions(session: Session, access: Access, room_id: uuid.UUID) -> list[RoomSignal]:
    room = visible_room(session, access, room_id)
    return list(
        session.scalars(
            select(RoomSignal)
            .where(
                RoomSignal.tenant_id == room.tenant_id,
                RoomSignal.room_id == room.id,
                RoomSignal.suppressed_until > utcnow(),
            )
            .order_by(RoomSignal.signal)
        )
    )


def _checked(session: Session, access: Access, room_id: uuid.UUID, signal: str) -> Room:
    room = visible_room(session, access, room_id, lock=True)
    require_on_room(session, access, P.ROOMS_MODIFY, room)
    if signal == OFFLINE:
        raise Invalid(
            "offline is raised by the service and cannot be suppressed; unenrol the room instead",
            field="signal",
        )
    return room


def suppress(session: Session, access: Access, room_id: uuid.UUID, data: SuppressionChange) -> RoomSignal:
    now = utcnow()
    room = _checked(session, access, room_id, data.signal)
    until = data.until if data.until.tzinfo else data.until.replace(tzinfo=now.tzinfo)
    if until <= now or until > now + MAX_AHEAD:
        raise Invalid("until must be in the future and at most 90 days ahead", field="until")
    rows = signal_rows(session, room)
    row = rows.get(data.signal)
    if row is None:
        row = RoomSignal(
            tenant_id=room.tenant_id, room_id=room.id, signal=data.signal, state="ok", detail="", since=now
        )
        session.add(row)
        rows[data.signal] = row
    before = row.suppressed_until
    row.suppressed_until, row.suppression_reason = until, data.reason
    row.suppressed_by_user_id = access.principal.user_id
    monitoring.signal_cleared(
        session,
        room,
        data.signal,
        f"Resolved: the signal is suppressed until {until:%Y-%m-%d %H:%M} UTC ({data.reason}).",
        now,
    )
    rederive(session, room, rows, now)
    access.audit(
        session,
        Category.ROOM,
        Operation.UPDATE,
        room.name,
        room.id,
        {
            "suppression": {
                "signal": data.signal,
                "reason": data.reason,
                "until": {"from": before.isoformat() if before else None, "to": until.isoformat()},
            }
        },
        permission=P.ROOMS_MODIFY,
    )
    return row


def end_suppression(session: Session, access: Access, room_id: uuid.UUID, data: SuppressionEnd) -> Room:
    now = utcnow()
    room = _checked(session, access, room_id, data.signal)
    rows = signal_rows(session, room)
    row = rows.get(data.signal)
    active = row is not None and row.suppressed_until is not None and row.suppressed_until > now
    reason = row.suppression_reason if row is not None and active else None
    if row is not None and active:  # else an idempotent DELETE: nothing to end, still recorded
        row.suppressed_until, row.suppression_reason, row.suppressed_by_user_id = None, None, None
        if row.state != "ok" and _has_device(session, room):
            monitoring.signal_failed(session, room, row.signal, row.state, row.detail, now)
        rederive(session, room, rows, now)
    access.audit(
        session,
        Category.ROOM,
        Operation.UPDATE,
        room.name,
        room.id,
        {"suppression": {"signal": data.signal, "ended": True, "was_suppressed": active, "reason": reason}},
        permission=P.ROOMS_MODIFY,
    )
    return room


def _has_device(session: Session, room: Room) -> bool:
    found = select(Device.id).where(Device.tenant_id == room.tenant_id, Device.room_id == room.id)
    return session.scalar(found) is not None


def rederive(session: Session, room: Room, rows: dict[str, RoomSignal], now: datetime) -> None:
    """The room's health from its signals as they now stand (unknown before a first report).
    A suppression that expired after the last report still holds here: its signal counts again
    from the next report, which opens its ticket too (never health without the ticket)."""
    if room.last_report_at is None:
        return
    last_report = room.last_report_at
    states = {n: r.state for n, r in rows.items()}
    held = {n for n, r in rows.items() if r.suppressed_until is not None and r.suppressed_until > last_report}
    health = derive_health(
        reported=True, offline=False, states=states, suppressed=active_suppressions(rows, now) | held
    )
    if health != room.reported_health:
        previous = room.health_state
        session.execute(
            update(Room)
            .where(Room.id == room.id)
            .values({Room.reported_health: health, Room.updated_at: Room.updated_at})
            .execution_options(synchronize_session=False)
        )
        set_committed_value(room, "reported_health", health)
        events.health_changed(session, room, previous)
    session.flush()
