"""The meetings devices report (SPEC §12): stored once per ``(device, started_at)`` — a
unique index, with a repeated meeting ignored, so a report sent twice or a meeting reported
again in a later report counts once — under the room-local day of its start."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from roomwarden.devices.models import Device
from roomwarden.devices.schemas import MeetingIn
from roomwarden.kit.ids import new_id
from roomwarden.reports.days import local_day, zone
from roomwarden.reports.models import Meeting
from roomwarden.rooms.models import Room


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Meeting)


def store(session: Session, device: Device, room: Room, meetings: list[MeetingIn]) -> None:
    if not meetings:
        return
    tz = zone(room.time_zone)
    rows: dict[Any, dict[str, Any]] = {}
    for m in meetings:
        rows.setdefault(
            m.started_at,
            {
                "id": new_id(),
                "tenant_id": room.tenant_id,
                "room_id": room.id,
                "device_id": device.id,
                "started_at": m.started_at,
                "ended_at": m.ended_at,
                "duration_seconds": int((m.ended_at - m.started_at).total_seconds()),
                "participants": m.participants,
                "day": local_day(m.started_at, tz),
            },
        )
    session.execute(
        _insert(session)
        .values(list(rows.values()))
        .on_conflict_do_nothing(index_elements=["tenant_id", "device_id", "started_at"])
    )
