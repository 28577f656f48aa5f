"""Rooms: the table (Search, Country, Room group, Update ring, Health), a room's page, its
edit form, new rooms, and the enrollment key (download; reset and unenrol behind a
confirmation). Every figure and every control comes from ``rooms.service`` with the
caller's ``Access``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Query, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.approvals.service import apply_or_hold
from roomwarden.audit.service import Category, Operation
from roomwarden.devices.catalogue import CATALOGUE
from roomwarden.kit.api import audited
from roomwarden.kit.countries import ISO_3166_ALPHA2
from roomwarden.kit.errors import AppError, Forbidden
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.forms import FORM, errors_of, ids, text, validate
from roomwarden.portal.listing import Found, Key, Listing, fetch
from roomwarden.portal.partner_approvals import held
from roomwarden.portal.web import FormRefused, parse_uuid, portal_router, redirect
from roomwarden.rooms import groups, rings, service, tickets
from roomwarden.rooms.models import HEALTH_STATES, Room, RoomGroup, RoomGroupMember, UpdateRing
from roomwarden.rooms.schemas import RoomCreate, RoomRead, RoomUpdate

pages = portal_router()
PAGE_SIZE = 50
ROOM_FIELDS = ("name", "resource_account", "country", "city", "building", "time_zone")


#: the columns the Rooms list sorts by (by the header's link), each with its sort key
SORTS: dict[str, Key] = {
    "name": Room.name_key,
    "country": func.lower(Room.country),
    "city": func.lower(Room.city),
    "building": func.lower(Room.building),
}


def _ring_names(session: Session, access: Access) -> dict[uuid.UUID, str]:
    """Ring names, for those who may see rings (``rings.view``); others see none."""
    stmt = rings.list_rings_query(access).order_by(UpdateRing.deferral_days, UpdateRing.name)
    return {r.id: r.name for r in session.scalars(stmt)}


def _group_choices(session: Session, access: Access) -> list[RoomGroup]:
    return list(session.scalars(groups.list_groups_query(access).order_by(RoomGroup.name, RoomGroup.id)))


def _countries(session: Session, access: Access) -> list[str]:
    """The countries of the caller's own rooms: the filter offers nothing it cannot see."""
    visible = access.rooms(P.ROOMS_VIEW).clause(Room.id)
    stmt = select(Room.country).where(Room.tenant_id == access.tenant_id, visible).distinct()
    return sorted(session.scalars(stmt))


@pages.get("/t/{tenant_id}/rooms", name="portal.rooms")
def room_list(
    ctx: TenantCtx,
    q: str = Query("", max_length=200),
    country: str = Query("", max_length=2),
    group: str = Query("", max_length=36),
    ring: str = Query("", max_length=36),
    health: str = Query("", max_length=20),
    sort: str = Query("", max_length=20),
    page: str = Query("", max_length=9),
) -> Response:
    """Rooms by name, naturally sorted (or by the column chosen by its header), with the
    number found and pages of ``PAGE_SIZE`` that keep the filters and the sort
    (``portal.listing``)."""
    values = {"q": q.strip(), "country": country.upper(), "group": group, "ring": ring, "health": health}
    filters = Listing.read(values, columns=tuple(SORTS), default="name", sort=sort, page=page)
    errors: dict[str, str] = {}
    if filters.country and filters.country not in ISO_3166_ALPHA2:
        errors["country"] = "Choose a country from the list."
    if filters.health and filters.health not in HEALTH_STATES:
        errors["health"] = "Choose a health state from the list."
    group_id, ring_id = parse_uuid(filters.group), parse_uuid(filters.ring)
    if filters.group and group_id is None:
        errors["group"] = "Choose a room group from the list."
    if filters.ring and ring_id is None:
        errors["ring"] = "Choose an update ring from the list."
    if "\x00" in filters.q:
        errors["q"] = "The search text cannot contain control characters."
    found = Found([], 0, 1, 1)
    if not errors:
        stmt = service.list_rooms_query(
            ctx.access,
            q=filters.q or None,
            group_id=group_id,
            ring_id=ring_id,
            country=filters.country or None,
            health_state=filters.health or None,
        )
        found = fetch(ctx.session, stmt, filters, SORTS, Room.id, PAGE_SIZE)
    return ctx.page(
        "rooms/list.html",
        current="rooms",
        status=422 if errors else 200,
        filters=filters,
        errors=errors,
        rooms=None if errors else found.items,
        found=found.found,
        number=found.number,
        pages=found.pages,
        ring_names=_ring_names(ctx.session, ctx.access),
        group_choices=_group_choices(ctx.session, ctx.access),
        countries=_countries(ctx.session, ctx.access),
        health_states=HEALTH_STATES,
        may_create=not ctx.access.rooms(P.ROOMS_CREATE).is_empty,
    )


# -- a room -----------------------------------------------------------------------------------


def _may(ctx: Ctx, perm: P, room_id: uuid.UUID) -> bool:
    return service.room_allows(ctx.session, ctx.access.rooms(perm), room_id)


def _signal_rows(read: RoomRead) -> list[dict[str, Any]]:
    """Every signal of the catalogue, as the device last reported it (or not yet); offline
    only when the room is offline or was."""
    reported = {s.signal: s for s in read.signals}
    rows = []
    for signal in CATALOGUE:
        got = reported.get(signal.name)
        if got is None and not signal.reported:
            continue
        rows.append({"signal": signal, "read": got})
    return rows


def _room_groups(ctx: Ctx, room_id: uuid.UUID) -> list[RoomGroup] | None:
    if not ctx.may(P.GROUPS_VIEW):
        return None
    stmt = (
        groups.list_groups_query(ctx.access)
        .where(RoomGroup.id.in_(select(RoomGroupMember.group_id).where(RoomGroupMember.room_id == room_id)))
        .order_by(RoomGroup.name)
    )
    return list(ctx.session.scalars(stmt))


@pages.get("/t/{tenant_id}/rooms/new", name="portal.room_new")
def room_new(ctx: TenantCtx) -> Response:
    return _new_page(ctx, {"country": ""}, {}, [])


def _new_page(
    ctx: Ctx, values: dict[str, str], errors: dict[str, str], chosen: list[uuid.UUID], status: int = 200
) -> Response:
    creatable = ctx.access.rooms(P.ROOMS_CREATE)
    if creatable.is_empty:  # the API's words for the same refusal
        raise Forbidden("rooms.create is required")
    stmt = (
        select(RoomGroup)
        .where(RoomGroup.tenant_id == ctx.tenant_id, creatable.group_named(RoomGroup.id))
        .order_by(RoomGroup.name)
    )
    return ctx.page(
        "rooms/new.html",
        current="rooms",
        status=status,
        values=values,
        errors=errors,
        chosen=chosen,
        group_choices=list(ctx.session.scalars(stmt)),
        outside_groups=creatable.is_everything,
        ring_names=_ring_names(ctx.session, ctx.access),
        countries=sorted(ISO_3166_ALPHA2),
    )


@pages.post("/t/{tenant_id}/rooms/new")
@audited(Category.ROOM, Operation.CREATE)
def room_create(ctx: TenantCtx, form: FormDep) -> Response:
    fields = ("name", "resource_account", "country", "city", "building", "update_ring_id")
    values = {f: text(form, f) for f in fields}
    chosen = ids(form, "room_group_ids")
    data: dict[str, Any] = {k: v for k, v in values.items() if v or k in ("city", "building")}
    data["room_group_ids"] = chosen
    try:
        room = service.create_room(
            ctx.session, ctx.access, ctx.request.app.state.secret_box, validate(RoomCreate, data)
        )
    except AppError as exc:
        errors = errors_of(exc, "resource_account" if exc.status == 409 else None)
        raise FormRefused(exc, lambda s: _new_page(ctx.with_session(s), values, errors, chosen)) from exc
    return redirect(ctx.url("room", room_id=str(room.id)) + "?done=created")


@pages.get("/t/{tenant_id}/rooms/{room_id}", name="portal.room")
def room_page(ctx: TenantCtx, room_id: uuid.UUID, done: str = "") -> Response:
    room = service.visible_room(ctx.session, ctx.access, room_id)
    read = service.room_read(ctx.session, room)
    room_tickets = None
    if ctx.may(P.TICKETS_VIEW):
        stmt = tickets.list_tickets_query(ctx.access, room_id=room.id).order_by(tickets.Ticket.id.desc())
        room_tickets = list(ctx.session.scalars(stmt.limit(50)))
    return ctx.page(
        "rooms/detail.html",
        current="rooms",
        room=room,
        done=done,
        ring_names=_ring_names(ctx.session, ctx.access),
        room_groups=_room_groups(ctx, room.id),
        room_tickets=room_tickets,
        device=read.device,
        signals=_signal_rows(read),
        software=read.software,
        can={
            "suppress": _may(ctx, P.ROOMS_MODIFY, room.id),
            "edit": _may(ctx, P.ROOMS_MODIFY, room.id) or _may(ctx, P.RINGS_MODIFY, room.id),
            "download_key": _may(ctx, P.ROOMS_DOWNLOAD_KEY, room.id),
            "reset_key": _may(ctx, P.ROOMS_RESET_KEY, room.id),
            "unenroll": _may(ctx, P.ROOMS_UNENROLL, room.id) and room.enrollment_state == "enrolled",
            "incident": _may(ctx, P.INCIDENTS_CREATE, room.id),
        },
    )


def _edit_page(
    ctx: Ctx, room_id: uuid.UUID, values: dict[str, str] | None, errors: dict[str, str]
) -> Response:
    room = service.visible_room(ctx.session, ctx.access, room_id)
    may_modify = _may(ctx, P.ROOMS_MODIFY, room.id)
    ring_names = _ring_names(ctx.session, ctx.access)
    may_move = _may(ctx, P.RINGS_MODIFY, room.id) and bool(ring_names)
    if not may_modify and not may_move:
        service.require_on_room(ctx.session, ctx.access, P.ROOMS_MODIFY, room)
    try:
        service.require_sees_every_room(ctx.access)
        may_change_account = may_modify
    except AppError:
        may_change_account = False
    if values is None:
        values = {f: str(getattr(room, f)) for f in ROOM_FIELDS}
        values["update_ring_id"] = str(room.update_ring_id)
    return ctx.page(
        "rooms/edit.html",
        current="rooms",
        status=422 if errors else 200,
        room=room,
        values=values,
        errors=errors,
        may_modify=may_modify,
        may_move=may_move,
        may_change_account=may_change_account,
        ring_names=ring_names,
        countries=sorted(ISO_3166_ALPHA2),
    )


@pages.get("/t/{tenant_id}/rooms/{room_id}/edit", name="portal.room_edit")
def room_edit(ctx: TenantCtx, room_id: uuid.UUID) -> Response:
    return _edit_page(ctx, room_id, None, {})


@pages.post("/t/{tenant_id}/rooms/{room_id}/edit")
@audited(Category.ROOM, Operation.UPDATE)
def room_update(ctx: TenantCtx, room_id: uuid.UUID, form: FormDep) -> Response:
    """Only the fields the person changed are sent, so change control sees the change that
    was made: renaming a room is not also a move between rings because the form showed the
    ring. A form that changes nothing changes nothing."""
    offered = [f for f in (*ROOM_FIELDS, "update_ring_id") if f in form]
    values = {f: text(form, f) for f in offered}
    try:
        room = service.visible_room(ctx.session, ctx.access, room_id)
        submitted = validate(RoomUpdate, values).model_dump(exclude_unset=True)
        changed = {f: v for f, v in submitted.items() if v != getattr(room, f)}
        if not changed:
            return redirect(ctx.url("room", room_id=str(room_id)) + "?done=unchanged")
        data = RoomUpdate.model_validate(changed)
        done = apply_or_hold(ctx.session, ctx.access, "room.update", data, room_id=room_id)
    except AppError as exc:
        errors = errors_of(exc, "resource_account" if exc.status == 409 else None)
        raise FormRefused(exc, lambda s: _edit_page(ctx.with_session(s), room_id, values, errors)) from exc
    if isinstance(done, ApprovalRequest):
        return held(ctx.request, done)
    return redirect(ctx.url("room", room_id=str(room_id)) + "?done=saved")


@pages.post("/t/{tenant_id}/rooms/{room_id}/enrollment-key", name="portal.room_key_download")
@audited(Category.ENROLLMENT_KEY, Operation.READ)
def room_key_download(ctx: TenantCtx, room_id: uuid.UUID) -> Response:
    """The key as a file. A POST with the form's CSRF token: reading a secret is recorded in
    the audit log, so no other site may make a browser do it."""
    key = service.download_key(ctx.session, ctx.access, ctx.request.app.state.secret_box, room_id)
    room = service.visible_room(ctx.session, ctx.access, room_id)
    filename = f"enrollment-key-{room.id}.txt"
    return Response(
        key + "\n",
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _confirm(
    ctx: Ctx, room_id: uuid.UUID, action: str, perm: P, status: int = 200, error: str = ""
) -> Response:
    room = service.visible_room(ctx.session, ctx.access, room_id)
    service.require_on_room(ctx.session, ctx.access, perm, room)
    return ctx.page(
        "rooms/confirm.html", current="rooms", status=status, room=room, action=action, error=error
    )


@pages.get("/t/{tenant_id}/rooms/{room_id}/reset-key", name="portal.room_reset_key")
def room_reset_confirm(ctx: TenantCtx, room_id: uuid.UUID) -> Response:
    return _confirm(ctx, room_id, "reset", P.ROOMS_RESET_KEY)


@pages.post("/t/{tenant_id}/rooms/{room_id}/reset-key")
@audited(Category.ENROLLMENT_KEY, Operation.UPDATE)
def room_reset(ctx: TenantCtx, room_id: uuid.UUID) -> Response:
    service.reset_key(ctx.session, ctx.access, ctx.request.app.state.secret_box, room_id)
    return redirect(ctx.url("room", room_id=str(room_id)) + "?done=key_reset")


@pages.get("/t/{tenant_id}/rooms/{room_id}/unenroll", name="portal.room_unenroll")
def room_unenroll_confirm(ctx: TenantCtx, room_id: uuid.UUID) -> Response:
    return _confirm(ctx, room_id, "unenroll", P.ROOMS_UNENROLL)


@pages.post("/t/{tenant_id}/rooms/{room_id}/unenroll")
@audited(Category.ROOM, Operation.UPDATE)
def room_unenroll(ctx: TenantCtx, room_id: uuid.UUID) -> Response:
    try:
        service.unenroll_room(ctx.session, ctx.access, room_id)
    except AppError as exc:
        if exc.status != 409:
            raise
        message = errors_of(exc)[FORM]
        raise FormRefused(
            exc, lambda s: _confirm(ctx.with_session(s), room_id, "unenroll", P.ROOMS_UNENROLL, 409, message)
        ) from exc
    return redirect(ctx.url("room", room_id=str(room_id)) + "?done=unenrolled")
