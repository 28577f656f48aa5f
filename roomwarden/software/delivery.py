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
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roomwarden.devices.models import Device
from roomwarden.rooms.models import Room, UpdateRing
from roomwarden.software import events, versions, window
from roomwarden.software.models import DeviceSoftware, Release, SoftwareResult
from roomwarden.software.schemas import DesiredSoftware, SoftwareResultIn

#: The detail of the ``software_update`` signal is at most this long (the signal's column).
_DETAIL = 500


def is_due(published_at: datetime, deferral_days: int, paused: bool, now: datetime) -> bool:
    return not paused and published_at + timedelta(days=deferral_days) <= now


def _rows(session: Session, device: Device) -> dict[str, DeviceSoftware]:
    stmt = select(DeviceSoftware).where(DeviceSoftware.device_id == device.id)
    return {r.component: r for r in session.scalars(stmt)}


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
    rows = _rows(session, device)

    def row_of(component: str) -> DeviceSoftware:
        row = rows.get(component)
        if row is None:
            row = DeviceSoftware(
                device_id=device.id, component=component, tenant_id=room.tenant_id, room_id=room.id
            )
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
            events.install_failed.emit(
                events.InstallFailed(
                    session, room.tenant_id, room.id, device.id, result.component, result.version
                )
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


def newest_due(session: Session, cutoff: datetime) -> dict[str, Release]:
    """Per component, the newest release published at or before ``cutoff``: one query."""
    rank = (
        func.row_number()
        .over(partition_by=Release.component, order_by=Release.version_key.desc())
        .label("rank")
    )
    ranked = select(Release.id, rank).where(Release.published_at <= cutoff).subquery()
    stmt = select(Release).join(ranked, ranked.c.id == Release.id).where(ranked.c.rank == 1)
    return {r.component: r for r in session.scalars(stmt)}


def offer(session: Session, device: Device, room: Room, now: datetime) -> list[DesiredSoftware]:
    """The report's ``desired_software``: empty outside the room's window, in a paused ring,
    or when the device runs every due release already."""
    install_before = window.offer_before(now, room.time_zone)
    if install_before is None:
        return []
    ring = session.execute(
        select(UpdateRing.paused, UpdateRing.deferral_days).where(
            UpdateRing.tenant_id == room.tenant_id, UpdateRing.id == room.update_ring_id
        )
    ).one()
    if ring.paused:
        return []
    due = newest_due(session, now - timedelta(days=ring.deferral_days))
    if not due:
        return []
    running = {r.component: r.version_key for r in _rows(session, device).values() if r.version is not None}
    return [
        DesiredSoftware(component=c, version=r.version, install_before=install_before)
        for c, r in sorted(due.items())
        if c in running and versions.newer(r.version_key, running[c])
    ]
