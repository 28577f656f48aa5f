"""The device protocol (docs/devices.md): enrolment with a room's key, reports, token rotation."""

from __future__ import annotations

import uuid

from fastapi import Request, Response

from roomwarden.access.deps import AccessDep
from roomwarden.approvals.http import HELD, held_or
from roomwarden.approvals.service import apply_or_hold
from roomwarden.audit.service import Category, Operation
from roomwarden.devices import service, suppressions
from roomwarden.devices.deps import DeviceDep
from roomwarden.devices.models import RoomSignal
from roomwarden.devices.reports import apply_report
from roomwarden.devices.schemas import (
    AnySignal,
    EnrollIn,
    EnrollOut,
    ReportIn,
    ReportOut,
    SuppressionChange,
    SuppressionEnd,
    SuppressionIn,
    SuppressionRead,
    TokenOut,
)
from roomwarden.identity import throttle
from roomwarden.identity.http import client_host
from roomwarden.kit import metrics
from roomwarden.kit.api import SessionDep, audited, not_audited
from roomwarden.kit.errors import Unauthenticated
from roomwarden.kit.pagination import Page
from roomwarden.kit.routing import router
from roomwarden.kit.time import utcnow
from roomwarden.software import delivery

api = router(prefix="/api/v1", tags=["devices"])
ENROLL_ATTEMPTS = "enroll_address"
NO_TENANT = (
    "a device acts in no tenant until it is known: a refused enrolment or report answers 401 and "
    "names no room; enrolment, replacement and the end of a device are recorded as Device"
)


@api.post(
    "/devices/enroll",
    response_model=EnrollOut,
    status_code=201,
    responses={429: {"description": "Too many failed enrolments from this address; see Retry-After"}},
)
@not_audited(NO_TENANT)
def enroll(request: Request, session: SessionDep, body: EnrollIn) -> EnrollOut:
    """Enrol the device of the room whose enrollment key this is (replacing the room's device,
    if it has one). A wrong, reset or unenrolled room's key answers 401; failures are counted
    per client address like sign-in's (429 beyond ``ROOMWARDEN_ENROLL_MAX_FAILURES_PER_ADDRESS``)."""
    settings = request.app.state.settings
    address = throttle.normalise_address(client_host(request))
    window = settings.enroll_window_seconds
    with request.app.state.db.transaction() as own:
        throttle.reserve_attempt(
            own,
            ENROLL_ATTEMPTS,
            address,
            limit=settings.enroll_max_failures_per_address,
            window_seconds=window,
        )
    try:
        device, token = service.enroll(session, body)
    except Unauthenticated:
        raise
    throttle.release_attempt(session, ENROLL_ATTEMPTS, address, window_seconds=window)
    return EnrollOut(
        device_id=device.id,
        room_id=device.room_id,
        tenant_id=device.tenant_id,
        device_token=token,
        report_interval_seconds=settings.device_report_seconds,
    )


@api.post("/device/reports", response_model=ReportOut)
@not_audited(NO_TENANT)
def report(request: Request, session: SessionDep, token: DeviceDep, body: ReportIn) -> ReportOut:
    """A full snapshot of the device's signals and software; a report whose ``sequence`` is not
    newer than the last accepted one changes nothing (and is answered alike). The answer lists
    the releases due for the room now, inside its maintenance window (``desired_software``)."""
    now = utcnow()
    try:
        caller = token.caller(session)
        accepted = apply_report(session, caller.device, caller.room, body, now)
    except Unauthenticated:
        metrics.DEVICE_REPORTS.labels("refused").inc()
        raise
    metrics.DEVICE_REPORTS.labels("accepted" if accepted else "stale").inc()
    return ReportOut(
        report_interval_seconds=request.app.state.settings.device_report_seconds,
        desired_software=delivery.offer(session, caller.device, caller.room, now),
    )


@api.post("/device/token", response_model=TokenOut)
@not_audited(NO_TENANT)
def rotate_token(session: SessionDep, token: DeviceDep) -> TokenOut:
    """A new token for the calling device; the one this request carried ends now."""
    caller = token.caller(session)
    return TokenOut(device_id=caller.device.id, device_token=service.rotate_token(session, caller.device))


# -- suppressions (people, in a tenant) -------------------------------------------------------------

rooms = router(prefix="/api/v1/tenants/{tenant_id}/rooms/{room_id}/suppressions", tags=["devices"])


def _read(row: RoomSignal) -> SuppressionRead:
    return SuppressionRead(
        room_id=row.room_id,
        signal=row.signal,
        reason=row.suppression_reason or "",
        until=row.suppressed_until,  # type: ignore[arg-type]
        suppressed_by_user_id=row.suppressed_by_user_id,
    )


@rooms.get("", response_model=Page[SuppressionRead])
def list_suppressions(session: SessionDep, access: AccessDep, room_id: uuid.UUID) -> Page[SuppressionRead]:
    """The room's signals suppressed now (needs ``rooms.view`` on the room)."""
    rows = suppressions.list_suppressions(session, access, room_id)
    return Page[SuppressionRead](items=[_read(r) for r in rows], next_cursor=None)


@rooms.put("/{signal}", response_model=SuppressionRead, responses=HELD)
@audited(Category.ROOM, Operation.UPDATE)
def suppress(
    session: SessionDep, access: AccessDep, room_id: uuid.UUID, signal: AnySignal, body: SuppressionIn
) -> SuppressionRead:
    """Suppress a signal until ``until`` (at most 90 days ahead; needs ``rooms.modify`` on the
    room). A partner's is a ``room.update`` of its link's change control."""
    change = SuppressionChange(signal=signal, reason=body.reason, until=body.until)
    done = apply_or_hold(session, access, "room.suppress", change, room_id=room_id)
    return held_or(session, done, _read)


@rooms.delete("/{signal}", status_code=204, responses=HELD)
@audited(Category.ROOM, Operation.UPDATE)
def end_suppression(
    session: SessionDep, access: AccessDep, room_id: uuid.UUID, signal: AnySignal
) -> Response:
    """End a signal's suppression: a signal still failing counts again and opens its ticket."""
    done = apply_or_hold(session, access, "room.unsuppress", SuppressionEnd(signal=signal), room_id=room_id)
    return held_or(session, done, lambda _: Response(status_code=204))
