"""The device protocol (docs/devices.md): enrolment with a room's key, reports, token rotation."""

from __future__ import annotations

from fastapi import Request

from roomwarden.devices import service
from roomwarden.devices.deps import DeviceDep
from roomwarden.devices.reports import apply_report
from roomwarden.devices.schemas import EnrollIn, EnrollOut, ReportIn, ReportOut, TokenOut
from roomwarden.identity import throttle
from roomwarden.identity.http import client_host
from roomwarden.kit.api import SessionDep, not_audited
from roomwarden.kit.errors import Unauthenticated
from roomwarden.kit.routing import router
from roomwarden.kit.time import utcnow

api = router(prefix="/api/v1", tags=["devices"])
ENROLL_ATTEMPTS = "enroll_address"
NO_TENANT = (
    "a device acts in no tenant until it is known: a refused enrolment or report answers 401 and "
    "names no room; enrolment, replacement and the end of a device are recorded as Device"
)


@api.post("/devices/enroll", response_model=EnrollOut, status_code=201)
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
def report(request: Request, session: SessionDep, caller: DeviceDep, body: ReportIn) -> ReportOut:
    """A full snapshot of the device's signals; a report whose ``sequence`` is not newer than
    the last accepted one changes nothing (and is answered alike)."""
    apply_report(session, caller.device, caller.room, body, utcnow())
    return ReportOut(report_interval_seconds=request.app.state.settings.device_report_seconds)


@api.post("/device/token", response_model=TokenOut)
@not_audited(NO_TENANT)
def rotate_token(session: SessionDep, caller: DeviceDep) -> TokenOut:
    """A new token for the calling device; the one this request carried ends now."""
    return TokenOut(device_id=caller.device.id, device_token=service.rotate_token(session, caller.device))
