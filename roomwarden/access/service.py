"""Roles and role assignments (SPEC §2-3).

A customer principal with ``roles.*`` over all rooms manages the tenant's own roles and
sees every role, partner roles included. A partner principal's ``roles.*`` reach only the
partner roles of its own link (managed by ``partners``), never the customer's roles.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, delete, select
from sqlalchemy.orm import Session

from roomwarden.access.extensions import delegation_change, partner_roles
from roomwarden.access.models import AssignmentMember, Role, RoleAssignment, RolePermission, Scope
from roomwarden.access.permissions import PARTNER_ADMIN, Permission
from roomwarden.access.privilege import require_within_own
from roomwarden.access.resolver import Access, Grant, RoomSet
from roomwarden.access.schemas import (
    AssignmentCreate,
    AssignmentRead,
    AssignmentUpdate,
    MemberRead,
    MemberRef,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    ScopeIn,
    ScopeRead,
)
from roomwarden.access.scopes import create_scope, delete_scopes, read_scopes, replace_scope, validate_scope
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.models import SecurityGroup, User
from roomwarden.kit import conditional
from roomwarden.kit.errors import Conflict, Forbidden, Invalid, NotFound
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import PartnerLink
from roomwarden.rooms.models import Room, RoomGroup
from roomwarden.tenants.models import Tenant

CATALOGUE_ORDER = {p: i for i, p in enumerate(Permission)}
CUSTOMER_KINDS = ("builtin", "custom")


# -- visibility -----------------------------------------------------------------------------


def require_roles(access: Access, perm: Permission) -> None:
    """Customer: ``roles.*`` over all rooms. Partner: ``roles.*`` from an assignment whose
    scope is the whole link (its meaning is the link's partner roles)."""
    if access.is_partner:
        grant = access.grants.get(perm)
        if grant is None or not grant.all_rooms:
            raise Forbidden(f"{perm.value} over the whole link is required")
        return
    access.require_tenant_wide(perm, "role")


def visible_roles(access: Access) -> ColumnElement[bool]:
    if access.link is not None:
        return Role.partner_link_id == access.link.id
    return Role.tenant_id == access.tenant_id


def list_roles_query(access: Access, kind: str | None = None) -> Select[Role]:
    require_roles(access, Permission.ROLES_VIEW)
    stmt = select(Role).where(Role.tenant_id == access.tenant_id, visible_roles(access))
    if kind:
        stmt = stmt.where(Role.kind == kind)
    return stmt


def visible_role(session: Session, access: Access, role_id: uuid.UUID, *, lock: bool = False) -> Role:
    require_roles(access, Permission.ROLES_VIEW)
    stmt = select(Role).where(Role.tenant_id == access.tenant_id, Role.id == role_id, visible_roles(access))
    if lock:  # re-read under the lock, whatever this session loaded before
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    role = session.scalar(stmt)
    if role is None:
        raise NotFound("role not found")
    return role


def permissions_of(session: Session, role_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Permission]]:
    out: dict[uuid.UUID, list[Permission]] = {r: [] for r in role_ids}
    for rid, perm in session.execute(
        select(RolePermission.role_id, RolePermission.permission).where(
            RolePermission.role_id.in_(list(role_ids))
        )
    ):
        try:
            out[rid].append(Permission(perm))
        except ValueError:
            continue
    return {rid: sorted(perms, key=CATALOGUE_ORDER.__getitem__) for rid, perms in out.items()}


def role_reads(session: Session, roles: Sequence[Role]) -> list[RoleRead]:
    perms = permissions_of(session, [r.id for r in roles])
    partner_names = _partner_names(session, {r.partner_link_id for r in roles if r.partner_link_id})
    return [
        RoleRead(
            id=r.id,
            tenant_id=r.tenant_id,
            name=r.name,
            description=r.description,
            kind=r.kind,
            partner_link_id=r.partner_link_id,
            partner_name=partner_names.get(r.partner_link_id) if r.partner_link_id else None,
            permissions=perms[r.id],
            created_at=r.created_at,
            updated_at=r.updated_at,
            version=r.version,
        )
        for r in roles
    ]


def _partner_names(session: Session, link_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The partner tenant's name for each link, so a partner role reads as whose it is."""
    if not link_ids:
        return {}
    rows = session.execute(
        select(PartnerLink.id, Tenant.name)
        .join(Tenant, Tenant.id == PartnerLink.partner_tenant_id)
        .where(PartnerLink.id.in_(link_ids))
    )
    return dict(rows.all())


# -- roles ------------------------------------------------------------------------------------


def _name_free(
    session: Session, role: Role | None, tenant_id: uuid.UUID, link_id: uuid.UUID | None, name: str
) -> None:
    stmt = select(Role.id).where(Role.tenant_id == tenant_id, Role.name == name)
    stmt = stmt.where(Role.partner_link_id.is_(None) if link_id is None else Role.partner_link_id == link_id)
    if role is not None:
        stmt = stmt.where(Role.id != role.id)
    if session.scalar(stmt) is not None:
        raise Conflict("a role with this name already exists")


def set_permissions(session: Session, role: Role, perms: Sequence[Permission]) -> None:
    session.execute(delete(RolePermission).where(RolePermission.role_id == role.id))
    session.add_all(
        RolePermission(tenant_id=role.tenant_id, role_id=role.id, permission=p.value)
        for p in sorted(set(perms))
    )
    session.flush()


def create_role(session: Session, access: Access, data: RoleCreate) -> Role:
    """A customer creates a custom role; a partner user (``roles.modify`` over its whole link)
    creates a custom partner role inside its link, from Partner admin permissions only."""
    require_roles(access, Permission.ROLES_VIEW)
    require_roles(access, Permission.ROLES_MODIFY)
    check_role_permissions(access, data.permissions)
    require_within_own(session, access, data.permissions)
    link_id = access.link.id if access.link is not None else None
    _name_free(session, None, access.tenant_id, link_id, data.name)
    role = Role(
        tenant_id=access.tenant_id,
        name=data.name,
        description=data.description,
        kind="partner_custom" if link_id else "custom",
        partner_link_id=link_id,
    )
    session.add(role)
    session.flush()
    set_permissions(session, role, data.permissions)
    access.audit(
        session,
        Category.ROLE,
        Operation.CREATE,
        role.name,
        role.id,
        {"permissions": sorted(p.value for p in set(data.permissions))},
    )
    return role


def update_role(session: Session, access: Access, role_id: uuid.UUID, data: RoleUpdate) -> Role:
    role = visible_role(session, access, role_id, lock=True)
    require_roles(access, Permission.ROLES_MODIFY)
    partner_roles().refuse_role_edit(role)
    if role.kind == "builtin":
        raise Forbidden("built-in roles cannot be edited")
    if access.is_partner != (role.kind == "partner_custom"):
        raise Forbidden(
            "this role is managed by the partner" if role.kind == "partner_custom" else "not permitted"
        )
    before = permissions_of(session, [role.id])[role.id]
    if "permissions" in data.model_fields_set:
        check_role_permissions(access, data.permissions)
    after = data.permissions if "permissions" in data.model_fields_set else []
    require_within_own(session, access, [*before, *after], assignment_scopes(session, role))
    conditional.check(session, role, "role")
    changes: dict[str, object] = {}
    if "name" in data.model_fields_set and data.name != role.name:
        _name_free(session, role, role.tenant_id, role.partner_link_id, data.name)
        changes["name"] = {"from": role.name, "to": data.name}
        role.name = data.name
    if "description" in data.model_fields_set and data.description != role.description:
        changes["description"] = {"from": role.description, "to": data.description}
        role.description = data.description
    if "permissions" in data.model_fields_set:
        set_permissions(session, role, data.permissions)
        after = sorted(set(data.permissions), key=CATALOGUE_ORDER.__getitem__)
        if before != after:
            changes["permissions"] = {"from": [p.value for p in before], "to": [p.value for p in after]}
    conditional.bump(role)
    session.flush()
    access.audit(session, Category.ROLE, Operation.UPDATE, role.name, role.id, changes)
    return role


def assignment_scopes(session: Session, role: Role) -> list[ScopeRead]:
    """The scopes a role is given over: one per assignment."""
    scope_ids = session.scalars(
        select(RoleAssignment.scope_id).where(RoleAssignment.role_id == role.id)
    ).all()
    return list(read_scopes(session, scope_ids).values())


def _role_reach(
    session: Session, role: Role, *scope_ids: uuid.UUID
) -> tuple[list[Permission], list[ScopeRead]]:
    return permissions_of(session, [role.id])[role.id], list(read_scopes(session, scope_ids).values())


def check_role_permissions(access: Access, perms: Sequence[Permission]) -> None:
    if access.is_partner and (extra := sorted(p.value for p in set(perms) - PARTNER_ADMIN)):
        raise Invalid(f"not a Partner admin permission: {', '.join(extra)}")


def delete_role(session: Session, access: Access, role_id: uuid.UUID) -> None:
    """Deleting a role removes its assignments. The customer may delete any partner role
    of its tenant; a partner only custom roles of its own link."""
    role = visible_role(session, access, role_id, lock=True)
    require_roles(access, Permission.ROLES_MODIFY)
    if role.kind == "builtin":
        raise Forbidden("built-in roles cannot be deleted")
    partner_roles().refuse_role_deletion(access, role)
    if access.is_partner or role.kind in CUSTOMER_KINDS:  # the customer may always remove partner roles
        perms = permissions_of(session, [role.id])[role.id]
        require_within_own(session, access, perms, assignment_scopes(session, role))
    conditional.check(session, role, "role")
    assignments = session.execute(
        select(RoleAssignment.id, RoleAssignment.scope_id).where(RoleAssignment.role_id == role.id)
    ).all()
    session.execute(delete(RoleAssignment).where(RoleAssignment.role_id == role.id))
    delete_scopes(session, [a.scope_id for a in assignments])
    name = role.name
    session.delete(role)
    session.flush()
    access.audit(
        session,
        Category.ROLE,
        Operation.DELETE,
        name,
        role_id,
        {
            "kind": role.kind,
            "assignments_removed": len(assignments),
            "partner_link_id": str(role.partner_link_id) if role.partner_link_id else None,
        },
    )


# -- assignments ------------------------------------------------------------------------------


def assignment_reads(session: Session, items: Sequence[RoleAssignment]) -> list[AssignmentRead]:
    ids = [a.id for a in items]
    members: dict[uuid.UUID, list[MemberRead]] = defaultdict(list)
    for aid, uid, gid, upn, display_name, group_name in session.execute(
        select(
            AssignmentMember.assignment_id,
            AssignmentMember.user_id,
            AssignmentMember.group_id,
            User.upn,
            User.display_name,
            SecurityGroup.name,
        )
        .outerjoin(User, User.id == AssignmentMember.user_id)
        .outerjoin(SecurityGroup, SecurityGroup.id == AssignmentMember.group_id)
        .where(AssignmentMember.assignment_id.in_(ids))
        .order_by(AssignmentMember.id)
    ):
        if uid:
            members[aid].append(MemberRead(type="user", id=uid, upn=upn, display_name=display_name))
        else:
            assert gid is not None  # a member is a user or a group (the one_member constraint)
            members[aid].append(MemberRead(type="group", id=gid, name=group_name))
    # The Primary admins' scope is "the whole link": it reads as the link's scope, which is
    # what the customer edits when it adds rooms to the partner's Primary admins (SPEC §4).
    shown = {a.id: a.scope_id for a in items} | dict(
        session.execute(
            select(RoleAssignment.id, PartnerLink.scope_id)
            .join(Role, Role.id == RoleAssignment.role_id)
            .join(PartnerLink, PartnerLink.id == Role.partner_link_id)
            .where(RoleAssignment.id.in_(ids), Role.kind == "partner_builtin")
        ).all()
    )
    scopes = read_scopes(session, list(shown.values()))
    return [
        AssignmentRead(
            id=a.id,
            tenant_id=a.tenant_id,
            role_id=a.role_id,
            name=a.name,
            description=a.description,
            email_notifications=a.email_notifications,
            activation=a.activation,
            members=members[a.id],
            scope=scopes[shown[a.id]],
            created_at=a.created_at,
            updated_at=a.updated_at,
            version=a.version,
        )
        for a in items
    ]


def assignments_query(role: Role) -> Select[RoleAssignment]:
    return select(RoleAssignment).where(RoleAssignment.role_id == role.id)


def visible_assignment(
    session: Session,
    access: Access,
    assignment_id: uuid.UUID,
    role_id: uuid.UUID | None = None,
    *,
    lock: bool = False,
) -> tuple[Role, RoleAssignment]:
    require_roles(access, Permission.ROLES_VIEW)
    stmt = (
        select(RoleAssignment, Role)
        .join(Role, Role.id == RoleAssignment.role_id)
        .where(
            RoleAssignment.tenant_id == access.tenant_id,
            RoleAssignment.id == assignment_id,
            visible_roles(access),
        )
    )
    if role_id is not None:
        stmt = stmt.where(Role.id == role_id)
    if lock:
        stmt = stmt.with_for_update(of=RoleAssignment).execution_options(populate_existing=True)
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound("assignment not found")
    return row[1], row[0]


def _require_manage(access: Access, role: Role) -> None:
    require_roles(access, Permission.ROLES_MODIFY)
    if not access.is_partner and role.kind not in CUSTOMER_KINDS:
        raise Forbidden("assignments of partner roles are managed by the partner")


def check_members(session: Session, tenant_id: uuid.UUID, members: Sequence[MemberRef]) -> list[MemberRef]:
    """Members must be users or security groups of ``tenant_id``; others read as unknown."""
    users = sorted({m.id for m in members if m.type == "user"})
    groups = sorted({m.id for m in members if m.type == "group"})
    found_users = set(session.scalars(select(User.id).where(User.tenant_id == tenant_id, User.id.in_(users))))
    found_groups = set(
        session.scalars(
            select(SecurityGroup.id).where(SecurityGroup.tenant_id == tenant_id, SecurityGroup.id.in_(groups))
        )
    )
    missing = [f"user {u}" for u in users if u not in found_users]
    missing += [f"group {g}" for g in groups if g not in found_groups]
    if missing:
        raise Invalid(f"no such member in the members' tenant: {', '.join(missing)}")
    return [MemberRef(type="user", id=u) for u in users] + [MemberRef(type="group", id=g) for g in groups]


def set_members(
    session: Session, assignment: RoleAssignment, member_tenant_id: uuid.UUID, members: Sequence[MemberRef]
) -> None:
    session.execute(delete(AssignmentMember).where(AssignmentMember.assignment_id == assignment.id))
    session.add_all(
        AssignmentMember(
            tenant_id=assignment.tenant_id,
            assignment_id=assignment.id,
            member_tenant_id=member_tenant_id,
            user_id=m.id if m.type == "user" else None,
            group_id=m.id if m.type == "group" else None,
        )
        for m in members
    )
    session.flush()


def _member_tenant(access: Access) -> uuid.UUID:
    return access.link.partner_tenant_id if access.link is not None else access.tenant_id


def _check_scope(session: Session, access: Access, scope: ScopeIn) -> None:
    """A partner delegates only inside its link's scope."""
    link = access.link
    if link is None or link.all_rooms or scope.all:
        return
    within = RoomSet(access.tenant_id, Grant(all_rooms=True), link)
    if scope.rooms:
        inside = set(
            session.scalars(
                select(Room.id).where(
                    Room.tenant_id == access.tenant_id, Room.id.in_(scope.rooms), within.clause(Room.id)
                )
            )
        )
        if outside := sorted(str(r) for r in set(scope.rooms) - inside):
            raise Invalid(f"scope names no room with id: {', '.join(outside)}")
    if scope.room_groups:
        inside = set(
            session.scalars(
                select(RoomGroup.id).where(
                    RoomGroup.tenant_id == access.tenant_id,
                    RoomGroup.id.in_(scope.room_groups),
                    within.group_named(RoomGroup.id),
                )
            )
        )
        if outside := sorted(str(g) for g in set(scope.room_groups) - inside):
            raise Invalid(f"scope names no room group with id: {', '.join(outside)}")


def create_assignment(
    session: Session, access: Access, role_id: uuid.UUID, data: AssignmentCreate
) -> RoleAssignment:
    role = visible_role(session, access, role_id, lock=True)
    _require_manage(access, role)
    partner_roles().refuse_second_assignment(role)
    members = check_members(session, _member_tenant(access), data.members)
    _check_scope(session, access, data.scope)
    _check_activation(role, data.activation)
    perms = permissions_of(session, [role.id])[role.id]
    require_within_own(session, access, perms, [validate_scope(session, access.tenant_id, data.scope)])
    scope = create_scope(session, access.tenant_id, data.scope)
    assignment = RoleAssignment(
        tenant_id=access.tenant_id,
        role_id=role.id,
        scope_id=scope.id,
        name=data.name,
        description=data.description,
        email_notifications=data.email_notifications,
        activation=data.activation,
    )
    session.add(assignment)
    session.flush()
    set_members(session, assignment, _member_tenant(access), members)
    access.audit(
        session,
        Category.ASSIGNMENT,
        Operation.CREATE,
        f"{role.name}: {assignment.name}",
        assignment.id,
        {
            "role_id": str(role.id),
            "members": [m.model_dump(mode="json") for m in members],
            "scope": data.scope.model_dump(mode="json"),
            "activation": data.activation,
        },
    )
    return assignment


def _check_activation(role: Role, activation: str) -> None:
    """Only a partner's own roles may be eligible (activated for a while); the Primary admins
    stay permanent, since a link always has a live one."""
    if activation == "eligible" and (role.partner_link_id is None or partner_roles().is_primary_admins(role)):
        raise Invalid("only assignments of a partner's own roles can be eligible (activation)")


def update_assignment(
    session: Session,
    access: Access,
    assignment_id: uuid.UUID,
    data: AssignmentUpdate,
    role_id: uuid.UUID | None = None,
) -> RoleAssignment:
    rules = partner_roles()
    if not access.is_partner and "scope" in data.model_fields_set:
        role, assignment = visible_assignment(session, access, assignment_id, role_id)
        if rules.is_primary_admins(role):
            return _change_delegation(session, access, role, assignment, data)
    if access.link is not None and "members" in data.model_fields_set:
        # the Primary admins' lock comes before the assignment's (partners/primary_admins.py)
        rules.lock_directory(session, access.link.partner_tenant_id)
    role, assignment = visible_assignment(session, access, assignment_id, role_id, lock=True)
    _require_manage(access, role)
    fields = data.model_fields_set
    if rules.is_primary_admins(role) and "members" in fields:
        rules.require_primary_admin(session, access, role)
    perms, scopes = _role_reach(session, role, assignment.scope_id)
    if "scope" in fields and not rules.is_primary_admins(role):
        _check_scope(session, access, data.scope)
        scopes.append(validate_scope(session, access.tenant_id, data.scope))
    require_within_own(session, access, perms, scopes)
    conditional.check(session, assignment, "assignment")
    changes: dict[str, object] = {}
    if "activation" in fields:
        _check_activation(role, data.activation)
    for field in ("name", "description", "email_notifications", "activation"):
        if field in fields and getattr(assignment, field) != getattr(data, field):
            changes[field] = {"from": getattr(assignment, field), "to": getattr(data, field)}
            setattr(assignment, field, getattr(data, field))
    if "members" in fields:
        members = check_members(session, _member_tenant(access), data.members)
        if rules.is_primary_admins(role):
            rules.change_members(session, access, role, members)
        set_members(session, assignment, _member_tenant(access), members)
        changes["members"] = [m.model_dump(mode="json") for m in members]
    if "scope" in fields:
        rules.refuse_scope_change(role)
        replace_scope(session, session.get_one(Scope, assignment.scope_id), data.scope)
        changes["scope"] = data.scope.model_dump(mode="json")
    assignment.updated_at = utcnow()
    conditional.bump(assignment)
    session.flush()
    access.audit(
        session,
        Category.ASSIGNMENT,
        Operation.UPDATE,
        f"{role.name}: {assignment.name}",
        assignment.id,
        changes,
    )
    return assignment


def _change_delegation(
    session: Session, access: Access, role: Role, assignment: RoleAssignment, data: AssignmentUpdate
) -> RoleAssignment:
    """The customer edits the scope of a partner's Primary admins assignment (the seed's "add
    rooms to the partner admin role"): that is a change of the link's delegation, with the
    rules, locks and audit record of the link's own (``extensions.delegation_change``).
    Everything else about a partner role stays the partner's."""
    if data.model_fields_set != {"scope"}:
        raise Forbidden("assignments of partner roles are managed by the partner; only the scope is yours")
    if role.partner_link_id is None:  # a partner_builtin role always belongs to a link
        raise NotFound("assignment not found")
    locked = visible_assignment(session, access, assignment.id, lock=True)[1]
    conditional.check(session, locked, "assignment")
    delegation_change()(session, access, role.partner_link_id, data.scope)
    conditional.bump(locked)
    session.flush()
    return locked


def delete_assignment(
    session: Session, access: Access, assignment_id: uuid.UUID, role_id: uuid.UUID | None = None
) -> None:
    role, assignment = visible_assignment(session, access, assignment_id, role_id, lock=True)
    _require_manage(access, role)
    partner_roles().refuse_assignment_deletion(role)
    require_within_own(session, access, *_role_reach(session, role, assignment.scope_id))
    conditional.check(session, assignment, "assignment")
    name, scope_id = assignment.name, assignment.scope_id
    session.delete(assignment)
    session.flush()
    delete_scopes(session, [scope_id])
    access.audit(session, Category.ASSIGNMENT, Operation.DELETE, f"{role.name}: {name}", assignment_id)
