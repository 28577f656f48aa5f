"""Enrolment, device tokens, and the end of a device.

A device enrols with its room's enrollment key (found by the key's SHA-256, ``rooms.service
.key_hash``) and receives a token of its own; only the token's SHA-256 is stored. A room has
at most one device: enrolling again replaces it, and the replaced device's token no longer
authenticates. Every step that touches a room's device first locks the room's row, so
enrolments, reports and the monitor of one room queue in one order instead of deadlocking.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, select, update
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.audit.service import Actor, Category, Operation, record
from roomwarden.devices import monitoring
from roomwarden.devices.models import Device, RoomSignal
from roomwarden.devices.schemas import EnrollIn
from roomwarden.devices.tokens import BAD_TOKEN, new_token, token_hash
from roomwarden.events import service as events
from roomwarden.kit.db import state_lookup, state_tenants_of
from roomwarden.kit.errors import Unauthenticated
from roomwarden.kit.time import utcnow
from roomwarden.rooms.extensions import RoomDetails
from roomwarden.rooms.models import Room
from roomwarden.rooms.service import key_hash
from roomwarden.software import compliance, delivery

#: One answer for a wrong, reset or unenrolled room's key: no hint of which.
BAD_KEY = "the enrollment key is not valid"


def device_actor(device: Device) -> Actor:
    return Actor(None, None, display_name=f"Device {device.serial_number}", ref=f"device:{device.id}")


def _describe(device: Device) -> dict[str, Any]:
    return {
        "device_id": str(device.id),
        "serial_number": device.serial_number,
        "model": device.model,
        "agent_version": device.agent_version,
    }


#: the tenant of an enrolment key's room, of a device token's device (built once, as every
#: device report states it: ``state_tenants_of``)
_KEY_TENANT = select(Room.tenant_id).where(Room.enrollment_key_hash == bindparam("hash"))
_TOKEN_TENANT = select(Device.tenant_id).where(Device.token_hash == bindparam("hash"))


def enroll(session: Session, data: EnrollIn) -> tuple[Device, str]:
    hashed = key_hash(data.enrollment_key)
    # the key's room is found before its tenant is known: the tenant is stated from it
    state_lookup(session, "roomwarden.enrollment_key_hash", hashed)
    state_tenants_of(session, _KEY_TENANT, {"hash": hashed})
    room = session.scalar(select(Room).where(Room.enrollment_key_hash == hashed).with_for_update())
    if room is None or room.enrollment_state != "enrolled":
        raise Unauthenticated(BAD_KEY)
    old = session.scalar(select(Device).where(Device.tenant_id == room.tenant_id, Device.room_id == room.id))
    token = new_token()
    device = Device(
        tenant_id=room.tenant_id,
        room_id=room.id,
        serial_number=data.serial_number,
        model=data.model,
        agent_version=data.agent_version,
        token_hash=token_hash(token),
    )
    details: dict[str, Any] = {"room_id": str(room.id), **_describe(device)}
    if old is not None:
        details["replaced"] = _describe(old)
        _forget(session, room, old, "the room's device was replaced")
    session.add(device)
    session.flush()
    details["device_id"] = str(device.id)
    record(
        session,
        tenant_id=room.tenant_id,
        actor=device_actor(device),
        category=Category.DEVICE,
        operation=Operation.UPDATE if old is not None else Operation.CREATE,
        object_name=room.name,
        object_id=device.id,
        details=details,
        allowed_by="the room's enrollment key",
    )
    events.emit(
        session, "room.enrolled", tenant_id=room.tenant_id, room_id=room.id, data={"device_id": device.id}
    )
    return device, token


def _forget(session: Session, room: Room, device: Device, why: str) -> None:
    """The device goes, with what it reported: the room's signals start over (suppressions,
    which people set, stay) and its open monitoring tickets are resolved with ``why``."""
    session.delete(device)
    session.execute(
        delete(RoomSignal).where(
            RoomSignal.tenant_id == room.tenant_id,
            RoomSignal.room_id == room.id,
            RoomSignal.suppressed_until.is_(None),
        )
    )
    session.execute(
        update(RoomSignal)
        .where(RoomSignal.tenant_id == room.tenant_id, RoomSignal.room_id == room.id)
        .values(state="ok", detail="", since=utcnow())
        .execution_options(synchronize_session=False)
    )
    monitoring.resolve_all(session, room, why)
    delivery.forget(session, room)
    previous = room.health_state
    room.reported_health, room.last_report_at = "unknown", None
    events.health_changed(session, room, previous)
    session.flush()


def end_for_room(session: Session, access: Access, room: Room, reason: str) -> None:
    """The ``rooms.events`` of a room unenrolled or deleted (``devices.wiring``; the caller holds
    its row lock and the permission)."""
    device = session.scalar(
        select(Device).where(Device.tenant_id == room.tenant_id, Device.room_id == room.id)
    )
    if device is None:
        return
    details = {"room_id": str(room.id), **_describe(device), "reason": reason}
    _forget(session, room, device, f"monitoring stopped: {reason}")
    permission = P.ROOMS_CREATE if "deleted" in reason else P.ROOMS_UNENROLL
    access.audit(
        session, Category.DEVICE, Operation.DELETE, room.name, device.id, details, permission=permission
    )


def authenticate(session: Session, token: str, *, lock_room: bool = False) -> tuple[Device, Room]:
    """The device of a token and its room (the room's row locked when asked), or 401: one
    query, once the transaction has stated the tenant of the token's device (found by the
    token's hash alone). A device replaced while this waited for the room's lock is caught
    where its row is written (``reports.apply_report`` updates it only while it still holds
    this token)."""
    hashed = token_hash(token)
    state_lookup(session, "roomwarden.device_token_hash", hashed)
    state_tenants_of(session, _TOKEN_TENANT, {"hash": hashed})
    stmt = (
        select(Device, Room)
        .join(Room, and_(Room.tenant_id == Device.tenant_id, Room.id == Device.room_id))
        .where(Device.token_hash == hashed)
    )
    found = session.execute(stmt.with_for_update(of=Room) if lock_room else stmt).first()
    if found is None:
        raise Unauthenticated(BAD_TOKEN)
    return found[0], found[1]


def rotate_token(session: Session, device: Device) -> str:
    token = new_token()
    device.token_hash = token_hash(token)
    session.flush()
    return token


def _detail_columns() -> tuple[Any, ...]:
    d, s = Device.__table__.c, RoomSignal.__table__.c
    return (
        d.id.label("device_id"),
        d.model,
        d.serial_number,
        d.agent_version,
        d.enrolled_at,
        d.last_report_at.label("device_last_report_at"),
        d.last_sequence,
        s.signal,
        s.state,
        s.detail,
        s.since,
        s.suppressed_until,
    )


def _joined(stmt: Select[Any]) -> Select[Any]:
    """``stmt`` (of rooms) outer-joined with each room's device (one at most) and signals."""
    r, d, s = Room.__table__.c, Device.__table__.c, RoomSignal.__table__.c
    return stmt.outerjoin(Device.__table__, and_(d.tenant_id == r.tenant_id, d.room_id == r.id)).outerjoin(
        RoomSignal.__table__, and_(s.tenant_id == r.tenant_id, s.room_id == r.id)
    )


def with_room_details(stmt: Select[Any]) -> Select[Any]:
    """``rooms.extensions.room_details_joined``: a select of one room (``Room`` its first
    entity) that also reads the room's device and signals, one row per signal (or one for a
    room with none), in the room's own statement; ``room_details_of`` reads them back."""
    return _joined(stmt.add_columns(*_detail_columns())).order_by(RoomSignal.__table__.c.signal)


def _details() -> tuple[Select[Any], Select[Any]]:
    """Rooms' devices and signals in one statement: each room outer-joined with its device
    (one at most) and its signals, so one row per signal, or one row for a room with none.
    Built once, for one room and for a page of rooms: on the path of every room read,
    building a statement cost more than running it, and each statement is a round trip."""
    r = Room.__table__.c
    stmt = _joined(select(r.id.label("room_id"), *_detail_columns()).select_from(Room.__table__)).order_by(
        r.id, RoomSignal.__table__.c.signal
    )
    one = stmt.where(r.tenant_id == bindparam("tenant_id"), r.id == bindparam("room_id"))
    many = stmt.where(
        r.tenant_id.in_(bindparam("tenant_ids", expanding=True)),
        r.id.in_(bindparam("room_ids", expanding=True)),
    )
    return one, many


_DETAILS = _details()


def room_details(session: Session, rooms: Sequence[Room]) -> dict[uuid.UUID, RoomDetails]:
    """``rooms.extensions.details``: each room's device, signals and software (one query for
    a page, two more when a device of the page has reported). Plain rows, no ORM objects."""
    if not rooms:
        return {}
    session.flush()  # a Core statement, which the session does not flush for
    if len(rooms) == 1:
        rows = session.execute(_DETAILS[0], {"tenant_id": rooms[0].tenant_id, "room_id": rooms[0].id})
    else:
        params = {"tenant_ids": sorted({r.tenant_id for r in rooms}), "room_ids": [r.id for r in rooms]}
        rows = session.execute(_DETAILS[1], params)
    return _assembled(session, rooms, ((row.room_id, row) for row in rows))


def room_details_of(session: Session, room: Room, rows: Sequence[Any]) -> RoomDetails:
    """``rooms.extensions.room_details_joined``: the details of ``room`` from the rows of its
    statement made by ``with_room_details`` (the device's software: one more query when it
    has reported)."""
    return _assembled(session, [room], ((room.id, row) for row in rows))[room.id]


def _assembled(
    session: Session, rooms: Sequence[Room], rows: Iterable[tuple[uuid.UUID, Any]]
) -> dict[uuid.UUID, RoomDetails]:
    devices: dict[uuid.UUID, Any] = {}
    signals: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for room_id, row in rows:
        if row.device_id is not None:
            devices.setdefault(room_id, row)
        if row.signal is not None:
            signals.setdefault(room_id, []).append(
                {
                    "signal": row.signal,
                    "state": row.state,
                    "detail": row.detail,
                    "since": row.since,
                    "suppressed_until": row.suppressed_until,
                }
            )
    software = compliance.room_software(
        session, [r for r in rooms if (d := devices.get(r.id)) is not None and d.last_sequence is not None]
    )
    out = {}
    for room in rooms:
        device = devices.get(room.id)
        room_signals = signals.get(room.id, [])
        if device is not None and room.is_offline and not any(s["signal"] == "offline" for s in room_signals):
            # offline shows at once on read, before the monitor records it
            since = room.last_report_at or utcnow()
            room_signals = [
                *room_signals,
                {
                    "signal": "offline",
                    "state": "failed",
                    "detail": "",
                    "since": since,
                    "suppressed_until": None,
                },
            ]
        out[room.id] = RoomDetails(
            device=None
            if device is None
            else {
                "id": device.device_id,
                "model": device.model,
                "serial_number": device.serial_number,
                "agent_version": device.agent_version,
                "enrolled_at": device.enrolled_at,
                "last_report_at": device.device_last_report_at,
            },
            signals=room_signals,
            software=software.get(room.id, []),
        )
    return out
