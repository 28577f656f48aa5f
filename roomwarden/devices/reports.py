"""A device's report: a full snapshot of its signals, ordered by ``sequence``.

An older (or repeated) sequence changes nothing. An accepted report always moves the device's
and the room's last report time; only a signal whose state changes writes more (its row,
its ticket's history, the room's derived health). A signal absent from the snapshot is ``ok``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from roomwarden.devices import events as device_events
from roomwarden.devices import monitoring
from roomwarden.devices.catalogue import OFFLINE, SOFTWARE_UPDATE
from roomwarden.devices.models import Device, RoomSignal
from roomwarden.devices.rules import derive_health
from roomwarden.devices.schemas import ReportIn, SignalReport
from roomwarden.devices.tokens import BAD_TOKEN
from roomwarden.events import service as events
from roomwarden.kit.errors import Unauthenticated
from roomwarden.rooms.models import Room
from roomwarden.software import delivery


def signal_rows(session: Session, room: Room) -> dict[str, RoomSignal]:
    rows = session.scalars(
        select(RoomSignal).where(RoomSignal.tenant_id == room.tenant_id, RoomSignal.room_id == room.id)
    )
    return {r.signal: r for r in rows}


def active_suppressions(rows: dict[str, RoomSignal], now: datetime) -> set[str]:
    return {n for n, r in rows.items() if r.suppressed_until is not None and r.suppressed_until > now}


def apply_report(session: Session, device: Device, room: Room, data: ReportIn, now: datetime) -> bool:
    """Apply one snapshot (the caller holds the room's row lock); False when it was stale."""
    if device.last_sequence is not None and data.sequence <= device.last_sequence:
        return False
    # The sequence is claimed where it is written, and only while the device still holds its
    # token: a device replaced meanwhile (PostgreSQL) updates nothing here and gets 401.
    claimed = session.execute(
        update(Device)
        .where(
            Device.id == device.id,
            Device.token_hash == device.token_hash,
            or_(Device.last_sequence.is_(None), Device.last_sequence < data.sequence),
        )
        .values(last_sequence=data.sequence, last_report_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], claimed).rowcount != 1:
        still = select(Device.id).where(Device.id == device.id, Device.token_hash == device.token_hash)
        if session.scalar(still) is None:
            raise Unauthenticated(BAD_TOKEN)
        return False
    previous_report = room.last_report_at
    set_committed_value(device, "last_sequence", data.sequence)
    set_committed_value(device, "last_report_at", now)
    previous = room.health_state
    rows = signal_rows(session, room)
    reported = {s.signal: s for s in data.signals}
    failing = delivery.record(session, device, room, data.software, data.software_results, now)
    if failing is not None:  # a failed install holds software_update at failed (SPEC §12)
        reported[SOFTWARE_UPDATE] = SignalReport(signal=SOFTWARE_UPDATE, state="failed", detail=failing)
    for name in sorted(set(reported) | set(rows)):
        if name == OFFLINE:
            continue
        given = reported.get(name)
        _one_signal(
            session, room, rows, name, given.state if given else "ok", given.detail if given else "", now
        )
    offline = rows.get(OFFLINE)
    if offline is not None and offline.state != "ok":
        offline.state, offline.detail, offline.since = "ok", "", now
        monitoring.signal_cleared(
            session, room, OFFLINE, "Resolved by monitoring: the device reports again.", now
        )
    health = derive_health(
        reported=True,
        offline=False,
        states={n: r.state for n, r in rows.items()},
        suppressed=active_suppressions(rows, now),
    )
    device_events.report_accepted.emit(
        device_events.ReportAccepted(session, device, room, data, previous_report, now)
    )
    if not (session.new or session.dirty or session.deleted) and health == room.reported_health:
        _unchanged(session)
    # A report is not an edit of the room: its updated_at stays.
    session.execute(
        update(Room)
        .where(Room.id == room.id)
        .values({Room.last_report_at: now, Room.reported_health: health, Room.updated_at: Room.updated_at})
        .execution_options(synchronize_session=False)
    )
    set_committed_value(room, "last_report_at", now)
    set_committed_value(room, "reported_health", health)
    events.health_changed(session, room, previous)
    session.flush()
    return True


def _unchanged(session: Session) -> None:
    """An unchanged report writes only the last report times, which the next report writes
    again: on PostgreSQL its commit need not wait for the WAL's flush (a crash loses at most
    the last seconds of "last report at", never a signal's change, a ticket or an audit
    record, which always commit synchronously)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def _one_signal(
    session: Session,
    room: Room,
    rows: dict[str, RoomSignal],
    name: str,
    state: str,
    detail: str,
    now: datetime,
) -> None:
    row = rows.get(name)
    if row is None:
        row = RoomSignal(
            tenant_id=room.tenant_id, room_id=room.id, signal=name, state="ok", detail="", since=now
        )
        session.add(row)
        rows[name] = row
    expired = row.suppressed_until is not None and row.suppressed_until <= now
    if expired:  # a suppression that ended counts the signal again, from this report
        row.suppressed_until, row.suppression_reason, row.suppressed_by_user_id = None, None, None
    if row.detail != detail:
        row.detail = detail
    if row.state == state and not expired:
        return
    if row.state != state:
        row.state, row.since = state, now
    if row.suppressed_until is not None:
        return  # suppressed: no ticket, no health
    if state == "ok":
        monitoring.signal_cleared(session, room, name, "Resolved by monitoring: the signal is ok again.", now)
    else:
        monitoring.signal_failed(session, room, name, state, detail, now)
