"""The monitor: the background job ``devices.monitor`` (every
``ROOMWARDEN_MONITOR_INTERVAL_SECONDS``). It raises ``offline`` for rooms whose device has not
reported for ``ROOMWARDEN_DEVICE_OFFLINE_SECONDS`` (reads show them offline already; the
monitor records it and opens the ticket) and closes monitoring tickets resolved 7 days ago."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from roomwarden.devices import monitoring
from roomwarden.devices.catalogue import OFFLINE
from roomwarden.devices.models import RoomSignal
from roomwarden.events import service as events
from roomwarden.jobs.registry import JobContext, JobSpec
from roomwarden.kit.time import utcnow
from roomwarden.rooms import health
from roomwarden.rooms.models import Room

MONITOR_JOB = "devices.monitor"
BATCH = 200


def raise_offline(session: Session, now: datetime, limit: int = BATCH) -> int:
    """Record ``offline`` for up to ``limit`` silent rooms (rows another transaction holds
    are left for the next round); returns how many."""
    recorded = exists().where(
        RoomSignal.tenant_id == Room.tenant_id,
        RoomSignal.room_id == Room.id,
        RoomSignal.signal == OFFLINE,
        RoomSignal.state == "failed",
    )
    rooms = session.scalars(
        select(Room)
        .where(
            and_(Room.last_report_at.is_not(None), Room.last_report_at < health.offline_cutoff(now)),
            ~recorded,
        )
        .order_by(Room.last_report_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for room in rooms:
        # Reads have shown the room offline since the cutoff; the event says so once, now.
        events.health_changed(session, room, room.reported_health)
        row = session.get(RoomSignal, (room.tenant_id, room.id, OFFLINE))
        if row is None:
            row = RoomSignal(tenant_id=room.tenant_id, room_id=room.id, signal=OFFLINE)
            session.add(row)
        row.state, row.since = "failed", room.last_report_at or now
        row.detail = f"no report since {room.last_report_at:%Y-%m-%d %H:%M:%S} UTC"
        monitoring.signal_failed(session, room, OFFLINE, "failed", row.detail, now)
    session.flush()
    return len(rooms)


def run(context: JobContext) -> int:
    done = 0
    while context.time_left():
        with context.transaction() as session:
            n = raise_offline(session, utcnow())
        done += n
        if n < BATCH:
            break
    while context.time_left():
        with context.transaction() as session:
            n = monitoring.close_resolved(session, utcnow())
        if n < 500:
            break
    return done


def monitor_job() -> JobSpec:
    return JobSpec(MONITOR_JOB, lambda s: float(s.monitor_interval_seconds), run)
