"""Delivery through update rings (SPEC §12), on each device report.

``record`` keeps what an accepted report says of software: the versions the device runs (a
full snapshot, like its signals) and every install attempt in ``software_results``. A failed
install holds the room's ``software_update`` signal at ``failed`` until the device reports a
later success of that component (or runs a version at least as new as the one that failed);
the devices package sets the signal, so its monitoring ticket follows the signal's rules.

``offer`` answers the report: per component the device runs (names it in ``software``), the
newest release that is due for the room and newer than what the device runs, with the end of
the current maintenance window. A release is due when ``published_at + deferral_days`` has
passed and the room's ring is not paused; and nothing is offered outside the room's window
(``software.window``). Both are read at each report, so pausing a ring takes effect at its
rooms' next report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, select, union_all
from sqlalchemy.orm import Session

from roomwarden.devices.models import Device
from roomwarden.events import service as events
from roomwarden.rooms.models import Room, UpdateRing
from roomwarden.software import versions, window
from roomwarden.software.models import DeviceSoftware, Release, SoftwareResult
from roomwarden.software.schemas import DesiredSoftware, SoftwareResultIn

#: The detail of the ``software_update`` signal is at most this long (the signal's column).
_DETAIL = 500


def is_due(published_at: datetime, deferral_days: int, paused: bool, now: datetime) -> bool:
    return not paused and published_at + timedelta(days=deferral_days) <= now


@dataclass
class _Known:
    """What a report needs to know of its room: its device's rows and its ring's delivery."""

    rows: dict[str, DeviceSoftware]
    paused: bool
    deferral_days: int


def _known(session: Session, room: Room) -> _Known:
    """Read once per transaction, in one statement (the ring's row with the room's software):
    ``record`` reads it, ``offer`` reuses it (``session.info`` lives as long as the request's
    session)."""
    key = ("device_software", room.id)
    known: _Known | None = session.info.get(key)
    if known is None:
        stmt = (
            select(UpdateRing.paused, UpdateRing.deferral_days, DeviceSoftware)
            .select_from(UpdateRing)
            .outerjoin(
                DeviceSoftware,
                and_(DeviceSoftware.tenant_id == UpdateRing.tenant_id, DeviceSoftware.room_id == room.id),
            )
            .where(UpdateRing.tenant_id == room.tenant_id, UpdateRing.id == room.update_ring_id)
        )
        found = session.execute(stmt).all()
        rows = {r.component: r for _, _, r in found if r is not None}
        known = session.info[key] = _Known(rows, bool(found[0][0]), int(found[0][1]))
    return known


def forget(session: Session, room: Room) -> None:
    """The room's device was replaced or ended: what it ran and its last installs go (the
    history of attempts stays)."""
    session.info.pop(("device_software", room.id), None)
    session.execute(
        delete(DeviceSoftware).where(
            DeviceSoftware.tenant_id == room.tenant_id, DeviceSoftware.room_id == room.id
        )
    )


def record(
    session: Session,
    device: Device,
    room: Room,
    software: Mapping[str, str],
    results: Sequence[SoftwareResultIn],
    now: datetime,
) -> str | None:
    """Keep an accepted report's software and results; the detail of the room's failing
    install(s), or None when none is failing. Only changes write."""
    rows = _known(session, room).rows

    def row_of(component: str) -> DeviceSoftware:
        row = rows.get(component)
        if row is None:
            row = DeviceSoftware(tenant_id=room.tenant_id, room_id=room.id, component=component)
            session.add(row)
            rows[component] = row
        return row

    for component, version in software.items():
        row = row_of(component)
        if row.version != version:
            row.version, row.version_key = version, versions.key(version)
    for component, row in list(rows.items()):
        if component in software or row.version is None:
            continue
        if row.result_status is None:  # no longer run, nothing to remember
            session.delete(row)
            del rows[component]
        else:
            row.version, row.version_key = None, None
    for result in results:
        session.add(
            SoftwareResult(
                tenant_id=room.tenant_id,
                room_id=room.id,
                device_id=device.id,
                component=result.component,
                version=result.version,
                status=result.status,
                detail=result.detail,
                reported_at=now,
            )
        )
        row = row_of(result.component)
        row.result_version, row.result_status = result.version, result.status
        row.result_detail, row.result_at = result.detail, now
        if result.status == "failed":
            # ids and versions only: the device's detail is its own words and stays in the
            # room's software and signal (SPEC §13)
            events.emit(
                session,
                "software.install_failed",
                tenant_id=room.tenant_id,
                room_id=room.id,
                data={"device_id": device.id, "component": result.component, "version": result.version},
            )
    failing = [
        f"{row.component} {row.result_version}: {row.result_detail or 'install failed'}"
        for row in sorted(rows.values(), key=lambda r: r.component)
        if _failing(row)
    ]
    return "; ".join(failing)[:_DETAIL] if failing else None


def _failing(row: DeviceSoftware) -> bool:
    """A failed install counts until a later success, or until the device runs a version at
    least as new as the one that failed."""
    if row.result_status != "failed":
        return False
    failed_key = versions.key(row.result_version)
    return not (failed_key is not None and row.version_key is not None and row.version_key >= failed_key)


def offer(session: Session, device: Device, room: Room, now: datetime) -> list[DesiredSoftware]:
    """The report's ``desired_software``: empty outside the room's window, in a paused ring,
    or when the device runs every due release already. Inside the window, one statement: per
    component the device runs, the newest due release newer than its version (one row per
    component at most, each read from the catalogue's index by a backward scan)."""
    install_before = window.offer_before(now, room.time_zone)
    if install_before is None:
        return []
    known = _known(session, room)
    running = {r.component: r.version_key for r in known.rows.values() if r.version is not None}
    if not running or known.paused:
        return []
    cutoff = now - timedelta(days=known.deferral_days)
    # Per component, the newest due release newer than the device's: a backward scan of the
    # catalogue's unique index (component, version_key) that stops at the first due row.
    newest = [
        select(Release.component, Release.version)
        .where(
            Release.component == component,
            *([Release.version_key > key] if key is not None else []),
            Release.published_at <= cutoff,
        )
        .order_by(Release.version_key.desc())
        .limit(1)
        .subquery()
        for component, key in sorted(running.items())
    ]
    rows = session.execute(union_all(*(select(q.c.component, q.c.version) for q in newest))).all()
    return [
        DesiredSoftware(component=component, version=version, install_before=install_before)
        for component, version in sorted(rows)
    ]
