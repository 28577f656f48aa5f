"""Roles and their assignments: the role list, a role's page with its assignments, the role
form (a permission picker offering only what the user may grant), and the assignment form
(members picker over users and security groups, scope picker over rooms and room groups) —
all through ``access.service``. For a partner user the roles are its link's partner roles,
the members its own organisation's, and the scope the link's rooms."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.access import service
from roomwarden.access.permissions import PARTNER_ADMIN, Permission, permission_table
from roomwarden.access.resolver import Access, Grant, RoomSet
from roomwarden.access.schemas import AssignmentCreate, AssignmentUpdate, RoleCreate, RoleUpdate
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.approvals.service import apply_or_hold
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.models import SecurityGroup, User
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError, Forbidden
from roomwarden.partners.models import PartnerLink
from roomwarden.portal import pickers
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.forms import checked, errors_of, ids, text, validate
from roomwarden.portal.partner_approvals import held
from roomwarden.portal.web import FormRefused, portal_router, redirect
from roomwarden.rooms.models import Room, RoomGroup

pages = portal_router()
KIND_NAMES = {
    "builtin": "Built-in",
    "custom": "Custom",
    "partner_builtin": "Partner, built-in",
    "partner_custom": "Partner, custom",
}
EDITABLE = ("custom", "partner_custom")


def may_manage(access: Access) -> bool:
    try:
        service.require_roles(access, Permission.ROLES_MODIFY)
    except AppError:
        return False
    return True


def grantable(access: Access) -> list[Permission]:
    """A partner grants only the Partner admin column; a customer the whole catalogue."""
    return [p for p in Permission if not access.is_partner or p in PARTNER_ADMIN]


# -- roles --------------------------------------------------------------------------------------


@pages.get("/t/{tenant_id}/roles", name="portal.roles")
def role_list(ctx: TenantCtx, done: str = "") -> Response:
    roles = list(ctx.session.scalars(service.list_roles_query(ctx.access).order_by(service.Role.name)))
    reads = service.role_reads(ctx.session, roles)
    order = {"builtin": 0, "partner_builtin": 1, "custom": 2, "partner_custom": 3}
    reads.sort(key=lambda r: (order[r.kind], (r.partner_name or "").lower(), r.name.lower()))
    return ctx.page(
        "roles/list.html",
        current="roles",
        roles=reads,
        kinds=KIND_NAMES,
        done=done,
        may_manage=may_manage(ctx.access),
    )


def _role_form(ctx: Ctx, role: Any, values: dict[str, Any], errors: dict[str, str]) -> Response:
    rows = {row["permission"]: row for row in permission_table()}
    features: dict[str, list[tuple[str, dict[str, object]]]] = {}
    for p in grantable(ctx.access):
        features.setdefault(str(rows[p.value]["feature"]), []).append((p.value, rows[p.value]))
    return ctx.page(
        "roles/form.html",
        current="roles",
        status=422 if errors else 200,
        role=role,
        values=values,
        errors=errors,
        features=list(features.items()),
    )


def _role_values(form: Any) -> dict[str, Any]:
    return {
        "name": text(form, "name", 200),
        "description": text(form, "description"),
        "permissions": [p for p in form.getlist("permissions") if isinstance(p, str)],
    }


@pages.get("/t/{tenant_id}/roles/new", name="portal.role_new")
def role_new(ctx: TenantCtx) -> Response:
    service.require_roles(ctx.access, Permission.ROLES_MODIFY)
    return _role_form(ctx, None, {"name": "", "description": "", "permissions": []}, {})


@pages.post("/t/{tenant_id}/roles/new")
@audited(Category.ROLE, Operation.CREATE)
def role_create(ctx: TenantCtx, form: FormDep) -> Response:
    values = _role_values(form)
    try:
        role = apply_or_hold(ctx.session, ctx.access, "role.create", validate(RoleCreate, values))
    except AppError as exc:
        errors = errors_of(exc, "name" if exc.status == 409 else "permissions" if exc.status == 403 else None)
        raise FormRefused(exc, lambda s: _role_form(ctx.with_session(s), None, values, errors)) from exc
    if isinstance(role, ApprovalRequest):
        return held(ctx.request, role)
    return redirect(ctx.url("role", role_id=str(role.id)) + "?done=created")


def _names(
    ctx: Ctx, member_tenant: uuid.UUID, assignments: list[Any]
) -> tuple[dict[Any, str], dict[Any, str]]:
    """The names of the users and security groups the assignments name (never the whole
    directory)."""
    user_ids = {m.id for a in assignments for m in a.members if m.type == "user"}
    group_ids = {m.id for a in assignments for m in a.members if m.type == "group"}
    label = User.display_name + " (" + User.upn + ")"
    users = _named(ctx, select(User.id, label).where(User.tenant_id == member_tenant), User.id, user_ids)
    group_stmt = select(SecurityGroup.id, SecurityGroup.name).where(SecurityGroup.tenant_id == member_tenant)
    return users, _named(ctx, group_stmt, SecurityGroup.id, group_ids)


def _named(ctx: Ctx, stmt: Any, id_column: Any, ids_: set[Any]) -> dict[Any, str]:
    return dict(ctx.session.execute(stmt.where(id_column.in_(ids_))).all()) if ids_ else {}


def _member_tenant(ctx: Ctx) -> uuid.UUID:
    link = ctx.access.link
    return link.partner_tenant_id if link is not None else ctx.tenant_id


def _scope_names(ctx: Ctx, assignments: list[Any]) -> tuple[dict[Any, str], dict[Any, str]]:
    """The names of the rooms and room groups the assignments' scopes name."""
    room_ids = {r for a in assignments for r in a.scope.rooms}
    group_ids = {g for a in assignments for g in a.scope.room_groups}
    rooms = _named(ctx, select(Room.id, Room.name).where(Room.tenant_id == ctx.tenant_id), Room.id, room_ids)
    group_stmt = select(RoomGroup.id, RoomGroup.name).where(RoomGroup.tenant_id == ctx.tenant_id)
    return rooms, _named(ctx, group_stmt, RoomGroup.id, group_ids)


@pages.get("/t/{tenant_id}/roles/{role_id}", name="portal.role")
def role_page(ctx: TenantCtx, role_id: uuid.UUID, done: str = "") -> Response:
    role = service.visible_role(ctx.session, ctx.access, role_id)
    (read,) = service.role_reads(ctx.session, [role])
    assignments = service.assignment_reads(
        ctx.session,
        list(ctx.session.scalars(service.assignments_query(role).order_by(service.RoleAssignment.name))),
    )
    manage = may_manage(ctx.access)
    member_tenant = (role.partner_link_id and _partner_tenant(ctx, role)) or ctx.tenant_id
    users, groups = _names(ctx, member_tenant, assignments)
    room_names, group_names = _scope_names(ctx, assignments)
    return ctx.page(
        "roles/detail.html",
        current="roles",
        role=read,
        kind=KIND_NAMES[read.kind],
        assignments=assignments,
        users=users,
        groups=groups,
        room_names=room_names,
        group_names=group_names,
        done=done,
        may_edit=manage and read.kind in EDITABLE and _owns(ctx, read.kind),
        may_delete=manage and read.kind in EDITABLE,
        may_assign=manage and _owns(ctx, read.kind) and read.kind != "partner_builtin",
        may_change_assignments=manage and _owns(ctx, read.kind),
    )


def _owns(ctx: Ctx, kind: str) -> bool:
    """Customers manage their own roles; a partner manages its link's partner roles."""
    return kind.startswith("partner") == ctx.access.is_partner


def _partner_tenant(ctx: Ctx, role: Any) -> uuid.UUID:
    return ctx.session.get_one(PartnerLink, role.partner_link_id).partner_tenant_id


@pages.get("/t/{tenant_id}/roles/{role_id}/edit", name="portal.role_edit")
def role_edit(ctx: TenantCtx, role_id: uuid.UUID) -> Response:
    role = service.visible_role(ctx.session, ctx.access, role_id)
    service.require_roles(ctx.access, Permission.ROLES_MODIFY)
    if role.kind not in EDITABLE or not _owns(ctx, role.kind):
        raise Forbidden("built-in roles cannot be changed")
    (read,) = service.role_reads(ctx.session, [role])
    values = {
        "name": read.name,
        "description": read.description,
        "permissions": [p.value for p in read.permissions],
    }
    return _role_form(ctx, read, values, {})


@pages.post("/t/{tenant_id}/roles/{role_id}/edit")
@audited(Category.ROLE, Operation.UPDATE)
def role_update(ctx: TenantCtx, role_id: uuid.UUID, form: FormDep) -> Response:
    values = _role_values(form)
    try:
        done = apply_or_hold(
            ctx.session, ctx.access, "role.update", validate(RoleUpdate, values), role_id=role_id
        )
    except AppError as exc:
        errors = errors_of(exc, "name" if exc.status == 409 else None)

        def again(s: Session) -> Response:
            c = ctx.with_session(s)
            (read,) = service.role_reads(s, [service.visible_role(s, c.access, role_id)])
            return _role_form(c, read, values, errors)

        raise FormRefused(exc, again) from exc
    if isinstance(done, ApprovalRequest):
        return held(ctx.request, done)
    return redirect(ctx.url("role", role_id=str(role_id)) + "?done=saved")


@pages.get("/t/{tenant_id}/roles/{role_id}/delete", name="portal.role_delete")
def role_delete_confirm(ctx: TenantCtx, role_id: uuid.UUID) -> Response:
    role = service.visible_role(ctx.session, ctx.access, role_id)
    service.require_roles(ctx.access, Permission.ROLES_MODIFY)
    return ctx.page(
        "confirm.html",
        current="roles",
        title=f"Delete the role {role.name}?",
        text="Its assignments are deleted with it: everyone who holds the role through them loses "
        "its permissions on their next request.",
        action=ctx.url("role_delete", role_id=str(role.id)),
        button="Delete role",
        cancel=ctx.url("role", role_id=str(role.id)),
    )


@pages.post("/t/{tenant_id}/roles/{role_id}/delete")
@audited(Category.ROLE, Operation.DELETE)
def role_delete(ctx: TenantCtx, role_id: uuid.UUID) -> Response:
    done = apply_or_hold(ctx.session, ctx.access, "role.delete", role_id=role_id)
    if isinstance(done, ApprovalRequest):
        return held(ctx.request, done)
    return redirect(ctx.url("roles") + "?done=deleted")


# -- assignments ------------------------------------------------------------------------------


#: the assignment form's pickers: members (users, security groups) and scope (room groups, rooms)
PICKERS = ("users", "groups", "room_groups", "rooms")


def _assignment_form(
    ctx: Ctx,
    role: Any,
    assignment: Any,
    values: dict[str, Any],
    errors: dict[str, str],
    form: Any = None,
) -> Response:
    """The form, its four choosers searching and paging on the server (``form``: the one a
    Search or page button sent). A scope names the tenant's rooms and groups, or for a partner
    its link's, of those the user may see."""
    search = {f: pickers.state(form, f) if form is not None else ("", 0) for f in PICKERS}
    members_of = _member_tenant(ctx)
    within = RoomSet(ctx.tenant_id, Grant(all_rooms=True), ctx.access.link)
    s = ctx.session
    room_groups = pickers.room_groups(ctx.tenant_id, within.group_named(RoomGroup.id))
    return ctx.page(
        "roles/assignment.html",
        current="roles",
        status=422 if errors else 200,
        role=role,
        assignment=assignment,
        values=values,
        errors=errors,
        users=pickers.pick(s, pickers.users(members_of), "users", values["users"], *search["users"]),
        groups=pickers.pick(
            s, pickers.security_groups(members_of), "groups", values["groups"], *search["groups"]
        ),
        room_groups=pickers.pick(
            s, room_groups, "room_groups", values["room_groups"], *search["room_groups"]
        ),
        rooms=pickers.room_picker(
            s,
            ctx.access,
            chosen=values["rooms"],
            group_ids=values["room_groups"],
            all_rooms=values["scope_all"],
            q=search["rooms"][0],
            page=search["rooms"][1],
            within=within.clause(Room.id),
        ),
        scope_locked=role.kind == "partner_builtin",
    )


def _assignment_values(form: Any) -> dict[str, Any]:
    return {
        "name": text(form, "name", 100),
        "description": text(form, "description"),
        "email_notifications": checked(form, "email_notifications"),
        "users": ids(form, "users"),
        "groups": ids(form, "groups"),
        "scope_all": text(form, "scope", 10) == "all",
        "rooms": ids(form, "rooms"),
        "room_groups": ids(form, "room_groups"),
    }


def _assignment_body(values: dict[str, Any], *, scope: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": values["name"],
        "description": values["description"],
        "email_notifications": values["email_notifications"],
        "members": [{"type": "user", "id": u} for u in values["users"]]
        + [{"type": "group", "id": g} for g in values["groups"]],
    }
    if scope:
        body["scope"] = (
            {"all": True}
            if values["scope_all"]
            else {"rooms": values["rooms"], "room_groups": values["room_groups"]}
        )
    return body


def _assignment_errors(exc: AppError) -> dict[str, str]:
    errors = errors_of(exc)
    if "scope" in errors or "members" in errors:
        return errors
    detail = exc.detail.lower()
    field = "scope" if "scope" in detail else "members" if "member" in detail else None
    return errors_of(exc, field) if field else errors


@pages.get("/t/{tenant_id}/roles/{role_id}/assignments/new", name="portal.assignment_new")
def assignment_new(ctx: TenantCtx, role_id: uuid.UUID) -> Response:
    role = service.visible_role(ctx.session, ctx.access, role_id)
    service.require_roles(ctx.access, Permission.ROLES_MODIFY)
    values = {
        "name": "",
        "description": "",
        "email_notifications": False,
        "users": [],
        "groups": [],
        "scope_all": False,
        "rooms": [],
        "room_groups": [],
    }
    return _assignment_form(ctx, role, None, values, {})


@pages.post("/t/{tenant_id}/roles/{role_id}/assignments/new")
@audited(Category.ASSIGNMENT, Operation.CREATE)
def assignment_create(ctx: TenantCtx, role_id: uuid.UUID, form: FormDep) -> Response:
    values = _assignment_values(form)
    if pickers.searching(form, *PICKERS):  # a chooser's Search or page: nothing is saved
        role = service.visible_role(ctx.session, ctx.access, role_id)
        service.require_roles(ctx.access, Permission.ROLES_MODIFY)
        return _assignment_form(ctx, role, None, values, {}, form)
    try:
        data = validate(AssignmentCreate, _assignment_body(values))
        done = apply_or_hold(ctx.session, ctx.access, "assignment.create", data, role_id=role_id)
    except AppError as exc:
        errors = _assignment_errors(exc)

        def again(s: Session) -> Response:
            c = ctx.with_session(s)
            return _assignment_form(c, service.visible_role(s, c.access, role_id), None, values, errors)

        raise FormRefused(exc, again) from exc
    if isinstance(done, ApprovalRequest):
        return held(ctx.request, done)
    return redirect(ctx.url("role", role_id=str(role_id)) + "?done=assigned")


def _current_values(
    ctx: Ctx, assignment_id: uuid.UUID, role_id: uuid.UUID
) -> tuple[Any, Any, dict[str, Any]]:
    role, assignment = service.visible_assignment(ctx.session, ctx.access, assignment_id, role_id)
    (read,) = service.assignment_reads(ctx.session, [assignment])
    values = {
        "name": read.name,
        "description": read.description,
        "email_notifications": read.email_notifications,
        "users": [m.id for m in read.members if m.type == "user"],
        "groups": [m.id for m in read.members if m.type == "group"],
        "scope_all": read.scope.all,
        "rooms": read.scope.rooms,
        "room_groups": read.scope.room_groups,
    }
    return role, read, values


@pages.get("/t/{tenant_id}/roles/{role_id}/assignments/{assignment_id}", name="portal.assignment")
def assignment_edit(ctx: TenantCtx, role_id: uuid.UUID, assignment_id: uuid.UUID) -> Response:
    role, read, values = _current_values(ctx, assignment_id, role_id)
    if not may_manage(ctx.access) or not _owns(ctx, role.kind):
        raise Forbidden("assignments of partner roles are managed by the partner")
    return _assignment_form(ctx, role, read, values, {})


@pages.post("/t/{tenant_id}/roles/{role_id}/assignments/{assignment_id}")
@audited(Category.ASSIGNMENT, Operation.UPDATE)
def assignment_update(
    ctx: TenantCtx, role_id: uuid.UUID, assignment_id: uuid.UUID, form: FormDep
) -> Response:
    values = _assignment_values(form)
    if pickers.searching(form, *PICKERS):  # a chooser's Search or page: nothing is saved
        role, read, _ = _current_values(ctx, assignment_id, role_id)
        if not may_manage(ctx.access) or not _owns(ctx, role.kind):
            raise Forbidden("assignments of partner roles are managed by the partner")
        return _assignment_form(ctx, role, read, values, {}, form)
    try:
        role, _ = service.visible_assignment(ctx.session, ctx.access, assignment_id, role_id)
        body = _assignment_body(values, scope=role.kind != "partner_builtin")
        done = apply_or_hold(
            ctx.session,
            ctx.access,
            "assignment.update",
            validate(AssignmentUpdate, body),
            assignment_id=assignment_id,
            role_id=role_id,
        )
    except AppError as exc:
        errors = _assignment_errors(exc)

        def again(s: Session) -> Response:
            c = ctx.with_session(s)
            role, read, _ = _current_values(c, assignment_id, role_id)
            return _assignment_form(c, role, read, values, errors)

        raise FormRefused(exc, again) from exc
    if isinstance(done, ApprovalRequest):
        return held(ctx.request, done)
    return redirect(ctx.url("role", role_id=str(role_id)) + "?done=saved")


@pages.get(
    "/t/{tenant_id}/roles/{role_id}/assignments/{assignment_id}/delete", name="portal.assignment_delete"
)
def assignment_delete_confirm(ctx: TenantCtx, role_id: uuid.UUID, assignment_id: uuid.UUID) -> Response:
    role, assignment = service.visible_assignment(ctx.session, ctx.access, assignment_id, role_id)
    service.require_roles(ctx.access, Permission.ROLES_MODIFY)
    return ctx.page(
        "confirm.html",
        current="roles",
        title=f"Delete the assignment {assignment.name}?",
        text=f"Its members lose the role {role.name} over its scope on their next request.",
        action=ctx.url("assignment_delete", role_id=str(role.id), assignment_id=str(assignment.id)),
        button="Delete assignment",
        cancel=ctx.url("role", role_id=str(role.id)),
    )


@pages.post("/t/{tenant_id}/roles/{role_id}/assignments/{assignment_id}/delete")
@audited(Category.ASSIGNMENT, Operation.DELETE)
def assignment_delete(ctx: TenantCtx, role_id: uuid.UUID, assignment_id: uuid.UUID) -> Response:
    done = apply_or_hold(
        ctx.session, ctx.access, "assignment.delete", assignment_id=assignment_id, role_id=role_id
    )
    if isinstance(done, ApprovalRequest):
        return held(ctx.request, done)
    return redirect(ctx.url("role", role_id=str(role_id)) + "?done=unassigned")
