"""A room's signals in the portal: **Suppress** a signal (**Reason**, **Until**) and **End
suppression**, through the same change-control path as the API (a partner's may be held)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Response

from roomwarden.access.permissions import Permission as P
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.approvals.service import apply_or_hold
from roomwarden.audit.service import Category, Operation
from roomwarden.devices.catalogue import OFFLINE, SIGNALS
from roomwarden.devices.schemas import SuppressionChange, SuppressionEnd
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError, NotFound
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.forms import errors_of, text, validate
from roomwarden.portal.partner_approvals import held
from roomwarden.portal.web import FormRefused, portal_router, redirect
from roomwarden.rooms import service

pages = portal_router()


def _signal(signal: str) -> str:
    if signal not in SIGNALS or signal == OFFLINE:
        raise NotFound("signal not found")
    return signal


def _until(value: str) -> str:
    """A date (the end of that day, UTC) or a date and time from the form, as the API's ISO
    value; anything else is left for validation to refuse in words."""
    value = value.strip()
    for fmt, end_of_day in (("%Y-%m-%d", True), ("%Y-%m-%dT%H:%M", False)):
        try:
            moment = datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return (moment + timedelta(days=1, seconds=-1) if end_of_day else moment).isoformat()
    return value


def _form(
    ctx: Ctx, room_id: uuid.UUID, signal: str, values: dict[str, str], errors: dict[str, str]
) -> Response:
    room = service.visible_room(ctx.session, ctx.access, room_id)
    service.require_on_room(ctx.session, ctx.access, P.ROOMS_MODIFY, room)
    return ctx.page(
        "rooms/suppress.html",
        current="rooms",
        status=422 if errors else 200,
        room=room,
        signal=SIGNALS[signal],
        values=values,
        errors=errors,
    )


@pages.get("/t/{tenant_id}/rooms/{room_id}/signals/{signal}/suppress", name="portal.room_suppress")
def suppress_form(ctx: TenantCtx, room_id: uuid.UUID, signal: str) -> Response:
    return _form(ctx, room_id, _signal(signal), {"reason": "", "until": ""}, {})


@pages.post("/t/{tenant_id}/rooms/{room_id}/signals/{signal}/suppress")
@audited(Category.ROOM, Operation.UPDATE)
def suppress(ctx: TenantCtx, room_id: uuid.UUID, signal: str, form: FormDep) -> Response:
    signal = _signal(signal)
    values = {"reason": text(form, "reason"), "until": text(form, "until", 40)}
    data: dict[str, Any] = {"signal": signal, "reason": values["reason"], "until": _until(values["until"])}
    try:
        change = validate(SuppressionChange, data)
        done = apply_or_hold(ctx.session, ctx.access, "room.suppress", change, room_id=room_id)
    except AppError as exc:
        errors = errors_of(exc)
        raise FormRefused(exc, lambda s: _form(ctx.with_session(s), room_id, signal, values, errors)) from exc
    if isinstance(done, ApprovalRequest):
        return held(ctx.request, done)
    return redirect(ctx.url("room", room_id=str(room_id)) + "?done=suppressed")


@pages.post(
    "/t/{tenant_id}/rooms/{room_id}/signals/{signal}/end-suppression", name="portal.room_end_suppression"
)
@audited(Category.ROOM, Operation.UPDATE)
def end_suppression(ctx: TenantCtx, room_id: uuid.UUID, signal: str) -> Response:
    change = SuppressionEnd(signal=_signal(signal))
    done = apply_or_hold(ctx.session, ctx.access, "room.unsuppress", change, room_id=room_id)
    if isinstance(done, ApprovalRequest):
        return held(ctx.request, done)
    return redirect(ctx.url("room", room_id=str(room_id)) + "?done=unsuppressed")
