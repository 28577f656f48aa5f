"""Room groups: the list, a group's page (its rooms inside the user's view), new, edit and
delete behind a confirmation — all through ``rooms.groups``."""

from __future__ import annotations

import uuid

from fastapi import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from roomwarden.access.permissions import Permission as P
from roomwarden.audit.service import Category, Operation
from roomwarden.kit.api import audited, not_audited
from roomwarden.kit.errors import AppError, Forbidden
from roomwarden.portal import pickers
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.forms import errors_of, ids, text, validate
from roomwarden.portal.web import FormRefused, parse_uuid, portal_router, redirect
from roomwarden.rooms import groups, rules
from roomwarden.rooms.models import Room, RoomGroup
from roomwarden.rooms.schemas import RoomGroupCreate, RoomGroupUpdate

pages = portal_router()
#: the form field of the group's rooms (its picker's)
ROOMS = "room_ids"
#: what the Rule field reads of a form; longer rules are refused by the grammar's own limit
MAX_RULE_FORM = 2 * rules.MAX_LENGTH


@pages.get("/t/{tenant_id}/room-groups", name="portal.room_groups")
def group_list(ctx: TenantCtx, done: str = "") -> Response:
    stmt = groups.list_groups_query(ctx.access).order_by(RoomGroup.name, RoomGroup.id)
    items = list(ctx.session.scalars(stmt))
    counts = groups.member_counts(ctx.session, [g.id for g in items], ctx.access.rooms(P.GROUPS_VIEW))
    return ctx.page(
        "groups/list.html",
        current="room_groups",
        items=items,
        counts=counts,
        done=done,
        may_create=ctx.access.tenant_wide(P.GROUPS_CREATE) and _may_rename(ctx),
    )


def _form_page(
    ctx: Ctx,
    group: RoomGroup | None,
    values: dict[str, str],
    chosen: list[uuid.UUID],
    errors: dict[str, str],
    preview: tuple[int, list[Room]] | None = None,
    search: tuple[str, int] = ("", 0),
) -> Response:
    perm = P.GROUPS_MODIFY if group else P.GROUPS_CREATE
    q, page = search
    picker = pickers.room_picker(
        ctx.session,
        ctx.access,
        chosen=chosen,
        group_ids=[],
        all_rooms=False,
        q=q,
        page=page,
        field=ROOMS,
        within=ctx.access.rooms(perm).clause(Room.id),
    )
    return ctx.page(
        "groups/form.html",
        current="room_groups",
        status=422 if errors else 200,
        group=group,
        values=values,
        chosen=chosen,
        errors=errors,
        picker=picker,
        may_rename=_may_rename(ctx),
        may_rule=_may_rule(ctx, perm),
        preview=preview,
    )


def _may_rule(ctx: Ctx, perm: P) -> bool:
    try:
        groups.require_rule_author(ctx.access, perm)
    except AppError:
        return False
    return True


def _rule(form: FormData) -> str | None:
    return text(form, "rule", limit=MAX_RULE_FORM).strip() or None


def _may_rename(ctx: Ctx) -> bool:
    try:
        groups.require_sees_every_group(ctx.access, "renaming a room group")
    except AppError:
        return False
    return True


def _require_create(ctx: Ctx) -> None:
    ctx.access.require_tenant_wide(P.GROUPS_CREATE, "room group", partner_visible=True)
    groups.require_sees_every_group(ctx.access, "creating a room group")


def _require_modify(ctx: Ctx, group: RoomGroup) -> None:
    modifiable = ctx.access.rooms(P.GROUPS_MODIFY)
    if not ctx.session.scalar(select(modifiable.group_named(RoomGroup.id)).where(RoomGroup.id == group.id)):
        raise Forbidden("groups.modify is not granted on this room group")


@pages.get("/t/{tenant_id}/room-groups/new", name="portal.room_group_new")
def group_new(ctx: TenantCtx) -> Response:
    _require_create(ctx)
    return _form_page(ctx, None, {}, [], {})


@pages.post("/t/{tenant_id}/room-groups/new")
@audited(Category.ROOM_GROUP, Operation.CREATE)
def group_create(ctx: TenantCtx, form: FormDep) -> Response:
    values, chosen = {"name": text(form, "name"), "rule": text(form, "rule")}, ids(form, ROOMS)
    rule = _rule(form)
    body: dict[str, object] = {"name": values["name"], **({"rule": rule} if rule else {"room_ids": chosen})}
    try:
        group = groups.create_group(ctx.session, ctx.access, validate(RoomGroupCreate, body))
    except AppError as exc:
        errors = errors_of(exc, "name" if exc.status == 409 else "room_ids" if exc.status == 422 else None)
        raise FormRefused(
            exc, lambda s: _form_page(ctx.with_session(s), None, values, chosen, errors)
        ) from exc
    return redirect(ctx.url("room_group", group_id=str(group.id)) + "?done=created")


@pages.post("/t/{tenant_id}/room-groups/preview", name="portal.room_group_preview")
@not_audited("a preview changes nothing")
def group_preview(ctx: TenantCtx, form: FormDep) -> Response:
    """The group form again, with what its rule would select now, or with the rooms' search
    or another page of them (nothing is saved)."""
    group_id = parse_uuid(text(form, "group_id"))
    group = groups.visible_group(ctx.session, ctx.access, group_id) if group_id else None
    values, chosen = {"name": text(form, "name"), "rule": text(form, "rule")}, ids(form, ROOMS)
    if pickers.searching(form, ROOMS):
        if group is None:
            _require_create(ctx)
        else:
            _require_modify(ctx, group)
        return _form_page(ctx, group, values, chosen, {}, search=pickers.state(form, ROOMS))
    try:
        found = groups.preview(ctx.session, ctx.access, _rule(form) or "")
    except AppError as exc:
        return _form_page(ctx, group, values, chosen, errors_of(exc, "rule"))
    return _form_page(ctx, group, values, chosen, {}, preview=found)


@pages.get("/t/{tenant_id}/room-groups/{group_id}", name="portal.room_group")
def group_page(ctx: TenantCtx, group_id: uuid.UUID, done: str = "") -> Response:
    group = groups.visible_group(ctx.session, ctx.access, group_id)
    member_ids = groups.member_ids(ctx.session, group.id, ctx.access.rooms(P.GROUPS_VIEW))
    visible = ctx.access.rooms(P.ROOMS_VIEW).clause(Room.id)
    named = list(
        ctx.session.scalars(
            select(Room)
            .where(Room.tenant_id == ctx.tenant_id, Room.id.in_(member_ids), visible)
            .order_by(Room.name)
        )
    )
    modifiable = ctx.access.rooms(P.GROUPS_MODIFY)
    may_edit = bool(
        ctx.session.scalar(select(modifiable.group_named(RoomGroup.id)).where(RoomGroup.id == group.id))
    )
    return ctx.page(
        "groups/detail.html",
        current="room_groups",
        group=group,
        rooms=named,
        unnamed=len(member_ids) - len(named),
        done=done,
        may_edit=may_edit,
        may_delete=ctx.access.tenant_wide(P.GROUPS_MODIFY),
    )


@pages.get("/t/{tenant_id}/room-groups/{group_id}/edit", name="portal.room_group_edit")
def group_edit(ctx: TenantCtx, group_id: uuid.UUID) -> Response:
    group = groups.visible_group(ctx.session, ctx.access, group_id)
    chosen = groups.member_ids(ctx.session, group.id, ctx.access.rooms(P.GROUPS_MODIFY))
    _require_modify(ctx, group)
    return _form_page(ctx, group, {"name": group.name, "rule": group.rule or ""}, chosen, {})


@pages.post("/t/{tenant_id}/room-groups/{group_id}/edit")
@audited(Category.ROOM_GROUP, Operation.UPDATE)
def group_update(ctx: TenantCtx, group_id: uuid.UUID, form: FormDep) -> Response:
    values, chosen = {"name": text(form, "name"), "rule": text(form, "rule")}, ids(form, ROOMS)
    try:
        current = groups.visible_group(ctx.session, ctx.access, group_id)
        rule = _rule(form)
        body: dict[str, object]
        if current.rule is not None:  # a rule group: its rule, or none to keep its rooms as a list
            body = {"rule": rule}
        else:  # a list group: its rooms, or a rule that replaces them
            body = {"rule": rule} if rule else {"room_ids": chosen}
        if "name" in form:  # offered only to who may rename
            body["name"] = values["name"]
        data = validate(RoomGroupUpdate, body)
        groups.update_group(ctx.session, ctx.access, group_id, data)
    except AppError as exc:
        errors = errors_of(exc, "name" if exc.status == 409 else "room_ids" if exc.status == 422 else None)

        def again(s: Session) -> Response:
            c = ctx.with_session(s)
            return _form_page(c, groups.visible_group(s, c.access, group_id), values, chosen, errors)

        raise FormRefused(exc, again) from exc
    return redirect(ctx.url("room_group", group_id=str(group_id)) + "?done=saved")


@pages.get("/t/{tenant_id}/room-groups/{group_id}/delete", name="portal.room_group_delete")
def group_delete_confirm(ctx: TenantCtx, group_id: uuid.UUID) -> Response:
    group = groups.visible_group(ctx.session, ctx.access, group_id)
    if not ctx.access.tenant_wide(P.GROUPS_MODIFY):
        raise Forbidden("deleting a room group needs groups.modify over all rooms")
    return ctx.page(
        "confirm.html",
        current="room_groups",
        title=f"Delete the room group {group.name}?",
        text="The rooms stay; every role assignment and partner scope that names this group loses "
        "the rooms it gave, at once.",
        action=ctx.url("room_group_delete", group_id=str(group.id)),
        button="Delete group",
        cancel=ctx.url("room_group", group_id=str(group.id)),
    )


@pages.post("/t/{tenant_id}/room-groups/{group_id}/delete")
@audited(Category.ROOM_GROUP, Operation.DELETE)
def group_delete(ctx: TenantCtx, group_id: uuid.UUID) -> Response:
    groups.delete_group(ctx.session, ctx.access, group_id)
    return redirect(ctx.url("room_groups") + "?done=deleted")
