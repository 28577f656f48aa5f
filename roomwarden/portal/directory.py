"""The directory (Global admins of the tenant only; partners never see it): users, a user's
page with the role assignments it holds, and security groups — through
``identity.service``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Query, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from roomwarden.access.deps import global_admin
from roomwarden.access.models import AssignmentMember, Role, RoleAssignment
from roomwarden.audit.service import Category, Operation
from roomwarden.identity import service
from roomwarden.identity.models import SecurityGroup, SecurityGroupMember, User
from roomwarden.identity.schemas import GroupCreate, GroupUpdate, UserCreate, UserUpdate
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError
from roomwarden.portal import pickers
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.effective_access import explanations
from roomwarden.portal.forms import checked, errors_of, ids, text, validate
from roomwarden.portal.listing import Key, Listing, fetch
from roomwarden.portal.web import FormRefused, portal_router, redirect
from roomwarden.tenants.models import Tenant

pages = portal_router()
PAGE_SIZE = 100
#: the columns the users list sorts by (by the header's link)
USER_SORTS: dict[str, Key] = {
    "name": User.name_key,
    "upn": User.upn,
    "global_admin": User.is_global_admin,
    "account": User.is_active,
}


def _admin(ctx: Ctx) -> None:
    global_admin(ctx.access)


# -- users --------------------------------------------------------------------------------------


@pages.get("/t/{tenant_id}/users", name="portal.users")
def user_list(
    ctx: TenantCtx,
    q: str = Query("", max_length=200),
    sort: str = Query("", max_length=20),
    page: str = Query("", max_length=9),
    done: str = "",
) -> Response:
    """Users by name, naturally sorted (``User.name_key``), or by the column chosen by its
    header, with the number found and pages keeping the search and the sort."""
    _admin(ctx)
    listing = Listing.read({"q": q.strip()}, columns=tuple(USER_SORTS), default="name", sort=sort, page=page)
    stmt = service.list_users_query(ctx.access, listing.q or None)
    found = fetch(ctx.session, stmt, listing, USER_SORTS, User.id, PAGE_SIZE)
    return ctx.page("directory/users.html", current="settings", found=found, listing=listing, done=done)


def _new_user_page(ctx: Ctx, values: dict[str, Any], errors: dict[str, str]) -> Response:
    return ctx.page(
        "directory/user_new.html",
        current="settings",
        status=422 if errors else 200,
        values=values,
        errors=errors,
        federated=_federated(ctx),
    )


def _federated(ctx: Ctx) -> bool:
    """The tenant's people sign in with its identity provider: a new user needs no password."""
    return ctx.session.get_one(Tenant, ctx.tenant_id).identity_source == "oidc"


@pages.get("/t/{tenant_id}/users/new", name="portal.user_new")
def user_new(ctx: TenantCtx) -> Response:
    _admin(ctx)
    return _new_user_page(ctx, {"is_global_admin": False}, {})


@pages.post("/t/{tenant_id}/users/new")
@audited(Category.USER, Operation.CREATE)
def user_create(ctx: TenantCtx, form: FormDep) -> Response:
    values = {
        "upn": text(form, "upn", 320),
        "display_name": text(form, "display_name", 200),
        "is_global_admin": checked(form, "is_global_admin"),
    }
    password = text(form, "password", 256)
    try:
        _admin(ctx)
        user = service.create_user(
            ctx.session, ctx.access, validate(UserCreate, {**values, "password": password or None})
        )
    except AppError as exc:
        if exc.field == "password":
            errors = {
                "password": "Enter an initial password: people of this tenant sign in with local accounts."
            }
        else:
            errors = errors_of(exc, "upn" if exc.status in (409, 422) else None)
        raise FormRefused(exc, lambda s: _new_user_page(ctx.with_session(s), values, errors)) from exc
    return redirect(ctx.url("user", user_id=str(user.id)) + "?done=created")


def _held_assignments(ctx: Ctx, user_id: uuid.UUID) -> list[tuple[str, str, str, uuid.UUID]]:
    """``(role, assignment, how, role_id)`` of the customer roles the user holds here, directly or
    through its security groups."""
    groups = select(SecurityGroupMember.group_id).where(SecurityGroupMember.user_id == user_id)
    rows = ctx.session.execute(
        select(Role.name, RoleAssignment.name, AssignmentMember.group_id, Role.id)
        .join(RoleAssignment, RoleAssignment.id == AssignmentMember.assignment_id)
        .join(Role, Role.id == RoleAssignment.role_id)
        .where(
            AssignmentMember.tenant_id == ctx.tenant_id,
            Role.partner_link_id.is_(None),
            or_(AssignmentMember.user_id == user_id, AssignmentMember.group_id.in_(groups)),
        )
        .order_by(Role.name, RoleAssignment.name)
    ).all()
    names = dict(
        ctx.session.execute(
            select(SecurityGroup.id, SecurityGroup.name).where(SecurityGroup.tenant_id == ctx.tenant_id)
        ).all()
    )
    return [
        (role, assignment, f"through the group {names.get(group, '')}" if group else "directly", role_id)
        for role, assignment, group, role_id in rows
    ]


def _user_page(
    ctx: Ctx,
    user_id: uuid.UUID,
    values: dict[str, Any] | None,
    errors: dict[str, str],
    done: str = "",
    room: str = "",
) -> Response:
    user = service.get_user(ctx.session, ctx.access, user_id)
    explained, room_errors = explanations(ctx, [user.id], room)
    if values is None:
        values = {
            "display_name": user.display_name,
            "is_global_admin": user.is_global_admin,
            "is_active": user.is_active,
        }
    group_names = list(
        ctx.session.scalars(
            select(SecurityGroup.name)
            .join(SecurityGroupMember, SecurityGroupMember.group_id == SecurityGroup.id)
            .where(SecurityGroupMember.user_id == user.id)
            .order_by(SecurityGroup.name)
        )
    )
    return ctx.page(
        "directory/user.html",
        current="settings",
        user=user,
        values=values,
        errors=errors,
        done=done,
        groups=group_names,
        held=_held_assignments(ctx, user.id),
        myself=user.id == ctx.access.principal.user_id,
        room_values={"room": room},
        room_errors=room_errors,
        explained=explained,
    )


@pages.get("/t/{tenant_id}/users/{user_id}", name="portal.user")
def user_page(
    ctx: TenantCtx, user_id: uuid.UUID, done: str = "", room: str = Query("", max_length=64)
) -> Response:
    _admin(ctx)
    return _user_page(ctx, user_id, None, {}, done, room)


@pages.post("/t/{tenant_id}/users/{user_id}")
@audited(Category.USER, Operation.UPDATE)
def user_update(ctx: TenantCtx, user_id: uuid.UUID, form: FormDep) -> Response:
    values = {
        "display_name": text(form, "display_name", 200),
        "is_global_admin": checked(form, "is_global_admin"),
        "is_active": checked(form, "is_active"),
    }
    try:
        _admin(ctx)
        service.update_user(ctx.session, ctx.access, user_id, validate(UserUpdate, values))
    except AppError as exc:
        errors = errors_of(exc)
        raise FormRefused(exc, lambda s: _user_page(ctx.with_session(s), user_id, values, errors)) from exc
    return redirect(ctx.url("user", user_id=str(user_id)) + "?done=saved")


@pages.get("/t/{tenant_id}/users/{user_id}/delete", name="portal.user_delete")
def user_delete_confirm(ctx: TenantCtx, user_id: uuid.UUID) -> Response:
    _admin(ctx)
    user = service.get_user(ctx.session, ctx.access, user_id)
    return ctx.page(
        "confirm.html",
        current="settings",
        title=f"Delete the user {user.display_name}?",
        text=f"{user.upn} can no longer sign in, and loses every role at once. The audit log keeps "
        "the record of what this user did.",
        action=ctx.url("user_delete", user_id=str(user.id)),
        button="Delete user",
        cancel=ctx.url("user", user_id=str(user.id)),
    )


@pages.post("/t/{tenant_id}/users/{user_id}/delete")
@audited(Category.USER, Operation.DELETE)
def user_delete(ctx: TenantCtx, user_id: uuid.UUID) -> Response:
    _admin(ctx)
    service.delete_user(ctx.session, ctx.access, user_id)
    return redirect(ctx.url("users") + "?done=deleted")


# -- security groups -----------------------------------------------------------------------------


@pages.get("/t/{tenant_id}/security-groups", name="portal.security_groups")
def group_list(ctx: TenantCtx, done: str = "") -> Response:
    _admin(ctx)
    items = list(
        ctx.session.scalars(
            select(SecurityGroup).where(SecurityGroup.tenant_id == ctx.tenant_id).order_by(SecurityGroup.name)
        )
    )
    members = service.members_by_group(ctx.session, [g.id for g in items])
    return ctx.page("directory/groups.html", current="settings", items=items, members=members, done=done)


#: the form field of a security group's members (its picker's)
MEMBERS = "member_ids"


def _group_form(
    ctx: Ctx,
    group: SecurityGroup | None,
    values: dict[str, Any],
    errors: dict[str, str],
    form: Any = None,
) -> Response:
    """The form, its members chosen through a picker of the tenant's users that searches and
    pages on the server (``form``: the one its Search or a page button sent)."""
    q, page = pickers.state(form, MEMBERS) if form is not None else ("", 0)
    members = pickers.pick(ctx.session, pickers.users(ctx.tenant_id), MEMBERS, values[MEMBERS], q, page)
    return ctx.page(
        "directory/group_form.html",
        current="settings",
        status=422 if errors else 200,
        group=group,
        values=values,
        errors=errors,
        members=members,
    )


@pages.get("/t/{tenant_id}/security-groups/new", name="portal.security_group_new")
def group_new(ctx: TenantCtx) -> Response:
    _admin(ctx)
    return _group_form(ctx, None, {"name": "", "member_ids": []}, {})


@pages.post("/t/{tenant_id}/security-groups/new")
@audited(Category.SECURITY_GROUP, Operation.CREATE)
def group_create(ctx: TenantCtx, form: FormDep) -> Response:
    values = {"name": text(form, "name", 200), MEMBERS: ids(form, MEMBERS)}
    if pickers.searching(form, MEMBERS):  # the members' Search or a page: nothing is saved
        _admin(ctx)
        return _group_form(ctx, None, values, {}, form)
    try:
        _admin(ctx)
        service.create_group(ctx.session, ctx.access, validate(GroupCreate, values))
    except AppError as exc:
        errors = errors_of(exc, "name" if exc.status == 409 else None)
        raise FormRefused(exc, lambda s: _group_form(ctx.with_session(s), None, values, errors)) from exc
    return redirect(ctx.url("security_groups") + "?done=created")


@pages.get("/t/{tenant_id}/security-groups/{group_id}", name="portal.security_group")
def group_edit(ctx: TenantCtx, group_id: uuid.UUID) -> Response:
    _admin(ctx)
    group = service.get_group(ctx.session, ctx.access, group_id)
    values = {"name": group.name, "member_ids": service.member_ids(ctx.session, group.id)}
    return _group_form(ctx, group, values, {})


@pages.post("/t/{tenant_id}/security-groups/{group_id}")
@audited(Category.SECURITY_GROUP, Operation.UPDATE)
def group_update(ctx: TenantCtx, group_id: uuid.UUID, form: FormDep) -> Response:
    values = {"name": text(form, "name", 200), MEMBERS: ids(form, MEMBERS)}
    if pickers.searching(form, MEMBERS):  # the members' Search or a page: nothing is saved
        _admin(ctx)
        return _group_form(ctx, service.get_group(ctx.session, ctx.access, group_id), values, {}, form)
    try:
        _admin(ctx)
        service.update_group(ctx.session, ctx.access, group_id, validate(GroupUpdate, values))
    except AppError as exc:
        errors = errors_of(exc, "name" if exc.status == 409 else None)

        def again(s: Session) -> Response:
            c = ctx.with_session(s)
            return _group_form(c, service.get_group(s, c.access, group_id), values, errors)

        raise FormRefused(exc, again) from exc
    return redirect(ctx.url("security_groups") + "?done=saved")


@pages.get("/t/{tenant_id}/security-groups/{group_id}/delete", name="portal.security_group_delete")
def group_delete_confirm(ctx: TenantCtx, group_id: uuid.UUID) -> Response:
    _admin(ctx)
    group = service.get_group(ctx.session, ctx.access, group_id)
    return ctx.page(
        "confirm.html",
        current="settings",
        title=f"Delete the security group {group.name}?",
        text="Its members keep their accounts but lose every role they held through this group.",
        action=ctx.url("security_group_delete", group_id=str(group.id)),
        button="Delete security group",
        cancel=ctx.url("security_group", group_id=str(group.id)),
    )


@pages.post("/t/{tenant_id}/security-groups/{group_id}/delete")
@audited(Category.SECURITY_GROUP, Operation.DELETE)
def group_delete(ctx: TenantCtx, group_id: uuid.UUID) -> Response:
    _admin(ctx)
    service.delete_group(ctx.session, ctx.access, group_id)
    return redirect(ctx.url("security_groups") + "?done=deleted")
