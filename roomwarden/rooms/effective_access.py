"""Effective access (SPEC §8 ``access/explain``): which permissions a user holds on one room
and through what — the role, the assignment, how its scope reaches the room, how the user is
a member, and, for a partner user, the link.

It reads the same rows as ``resolver.resolve_access`` but keeps every path instead of folding
them into grants; tests check that the two always agree.

Who may ask: whoever may read the tenant's roles over all rooms (for a partner, the link's
partner roles over the whole link). The named user must be one the caller can see — a user of
the tenant, or a user of a partner of an active link; a partner caller sees only its own
tenant's users — and the room one the caller may view; anything else answers 404, exactly as
an id that does not exist.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.models import AssignmentMember, Role, RoleAssignment, Scope, ScopeGroup, ScopeRoom
from roomwarden.access.permissions import ALL_PERMISSIONS, PARTNER_ADMIN, Permission
from roomwarden.access.resolver import Access, LinkInfo, active_link, scope_room_ids
from roomwarden.access.schemas import (
    ExplainLink,
    ExplainReason,
    ExplainRole,
    ExplainRoom,
    ExplainScope,
    ExplainUser,
    Explanation,
    Named,
)
from roomwarden.access.service import CATALOGUE_ORDER, permissions_of, require_roles
from roomwarden.identity.models import SecurityGroup, SecurityGroupMember, User
from roomwarden.kit.errors import NotFound
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import Elevation, PartnerLink, live_elevation, live_link
from roomwarden.rooms.models import Room, RoomGroup, RoomGroupMember
from roomwarden.rooms.service import visible_room
from roomwarden.tenants.models import Tenant, TenantSettings

GLOBAL_ADMIN = "Global admin"


def explain(
    session: Session,
    access: Access,
    user_id: uuid.UUID,
    room_id: uuid.UUID,
    permission: Permission | None = None,
) -> Explanation:
    require_roles(access, Permission.ROLES_VIEW)
    room = visible_room(session, access, room_id)
    user = _visible_user(session, access, user_id)
    link = None
    if user.tenant_id != access.tenant_id:
        link = active_link(session, access.tenant_id, user.tenant_id)
        assert link is not None  # _visible_user admits partner users of an active link only
    reasons = _reasons(session, access.tenant_id, user, room, link)
    held = sorted({p for r in reasons for p in r.permissions}, key=CATALOGUE_ORDER.__getitem__)
    if permission is not None:
        reasons = [
            r.model_copy(update={"permissions": [permission]}) for r in reasons if permission in r.permissions
        ]
    return Explanation(
        user=ExplainUser(
            id=user.id,
            upn=user.upn,
            display_name=user.display_name,
            tenant_id=user.tenant_id,
            is_active=user.is_active,
            is_global_admin=user.is_global_admin and link is None,
        ),
        room=ExplainRoom(id=room.id, name=room.name),
        permission=permission,
        allowed=user.is_active and (permission in held if permission is not None else bool(held)),
        permissions=held,
        reasons=reasons,
        link=_link_read(session, access.tenant_id, room.id, link) if link is not None else None,
    )


def _visible_user(session: Session, access: Access, user_id: uuid.UUID) -> User:
    if access.link is not None:
        visible = User.tenant_id == access.link.partner_tenant_id
    else:
        partners = select(PartnerLink.partner_tenant_id).where(
            PartnerLink.tenant_id == access.tenant_id, live_link(utcnow())
        )
        visible = or_(User.tenant_id == access.tenant_id, User.tenant_id.in_(partners))
    user = session.scalar(select(User).where(User.id == user_id, visible))
    if user is None:
        raise NotFound("user not found")
    return user


@dataclass(frozen=True, slots=True)
class _Path:
    role: Role
    assignment: RoleAssignment
    scope_all: bool
    via: Named  # the user itself, or the security group it belongs to


def _reasons(
    session: Session, tenant_id: uuid.UUID, user: User, room: Room, link: LinkInfo | None
) -> list[ExplainReason]:
    if link is not None and not _in_link(session, room.id, link):
        return []
    allowed = PARTNER_ADMIN if link is not None else ALL_PERMISSIONS
    reasons: list[ExplainReason] = []
    if link is None and user.is_global_admin:
        reasons.append(
            ExplainReason(
                role=ExplainRole(id=None, name=GLOBAL_ADMIN, kind="global_admin"),
                assignment=None,
                scope=ExplainScope(all=True),
                via=Named(type="user", id=user.id, name=user.display_name),
                link_id=None,
                permissions=sorted(ALL_PERMISSIONS, key=CATALOGUE_ORDER.__getitem__),
            )
        )
    paths = _paths(session, tenant_id, user, link)
    perms = permissions_of(session, sorted({p.role.id for p in paths}))
    reach = _scope_reach(session, sorted({p.assignment.scope_id for p in paths if not p.scope_all}), room.id)
    for p in paths:
        granted = [x for x in perms[p.role.id] if x in allowed]
        scope = ExplainScope(all=True) if p.scope_all else reach.get(p.assignment.scope_id)
        if scope is None or not granted:
            continue
        reasons.append(
            ExplainReason(
                role=ExplainRole(id=p.role.id, name=p.role.name, kind=p.role.kind),
                assignment=Named(type="assignment", id=p.assignment.id, name=p.assignment.name),
                scope=scope,
                via=p.via,
                link_id=link.id if link is not None else None,
                permissions=granted,
            )
        )
    return reasons


def _paths(session: Session, tenant_id: uuid.UUID, user: User, link: LinkInfo | None) -> list[_Path]:
    """Every (assignment, membership) that names the user in ``tenant_id``: directly, or
    through one of its security groups; only the link's partner roles for a partner user."""
    groups = {
        gid: name
        for gid, name in session.execute(
            select(SecurityGroup.id, SecurityGroup.name)
            .join(SecurityGroupMember, SecurityGroupMember.group_id == SecurityGroup.id)
            .where(SecurityGroupMember.user_id == user.id)
        )
    }
    role_filter = Role.partner_link_id.is_(None) if link is None else Role.partner_link_id == link.id
    rows = session.execute(
        select(Role, RoleAssignment, Scope.all_rooms, AssignmentMember.user_id, AssignmentMember.group_id)
        .select_from(AssignmentMember)
        .join(
            RoleAssignment,
            and_(
                RoleAssignment.id == AssignmentMember.assignment_id,
                RoleAssignment.tenant_id == AssignmentMember.tenant_id,
            ),
        )
        .join(Role, and_(Role.id == RoleAssignment.role_id, role_filter))
        .join(Scope, Scope.id == RoleAssignment.scope_id)
        .where(
            AssignmentMember.tenant_id == tenant_id,
            or_(AssignmentMember.user_id == user.id, AssignmentMember.group_id.in_(list(groups))),
        )
        .order_by(Role.name, RoleAssignment.name, RoleAssignment.id, AssignmentMember.group_id)
    ).all()
    # An eligible partner assignment holds only while the user's activation of it runs.
    running = {
        e.assignment_id: e
        for e in session.scalars(
            select(Elevation).where(Elevation.user_id == user.id, live_elevation(utcnow()))
        )
    }
    paths, elevated = [], set()
    for role, assignment, scope_all, member_user, member_group in rows:
        if assignment.activation == "eligible":  # one reason however the user is a member
            if (run := running.get(assignment.id)) is None or assignment.id in elevated:
                continue
            elevated.add(assignment.id)
            name = f"activated until {run.ends_at:%Y-%m-%d %H:%M} UTC"
            paths.append(_Path(role, assignment, scope_all, Named(type="elevation", id=run.id, name=name)))
            continue
        if member_user is not None:
            via = Named(type="user", id=user.id, name=user.display_name)
        else:
            assert member_group is not None  # a member is a user or a group (the one_member constraint)
            via = Named(type="group", id=member_group, name=groups[member_group])
        paths.append(_Path(role, assignment, scope_all, via))
    return paths


def _scope_reach(
    session: Session, scope_ids: list[uuid.UUID], room_id: uuid.UUID
) -> dict[uuid.UUID, ExplainScope]:
    """For each listed scope that reaches the room: whether it lists the room itself, and
    which of its room groups currently hold it."""
    direct = set(
        session.scalars(
            select(ScopeRoom.scope_id).where(ScopeRoom.scope_id.in_(scope_ids), ScopeRoom.room_id == room_id)
        )
    )
    via_groups: dict[uuid.UUID, list[Named]] = defaultdict(list)
    for scope_id, gid, name in session.execute(
        select(ScopeGroup.scope_id, RoomGroup.id, RoomGroup.name)
        .join(RoomGroupMember, RoomGroupMember.group_id == ScopeGroup.group_id)
        .join(RoomGroup, RoomGroup.id == ScopeGroup.group_id)
        .where(ScopeGroup.scope_id.in_(scope_ids), RoomGroupMember.room_id == room_id)
        .order_by(RoomGroup.name, RoomGroup.id)
    ):
        via_groups[scope_id].append(Named(type="room_group", id=gid, name=name))
    return {
        sid: ExplainScope(all=False, room=sid in direct, room_groups=via_groups.get(sid, []))
        for sid in direct | via_groups.keys()
    }


def _in_link(session: Session, room_id: uuid.UUID, link: LinkInfo) -> bool:
    if link.all_rooms:
        return True
    stmt = select(Room.id).where(Room.id == room_id, Room.id.in_(scope_room_ids(frozenset({link.scope_id}))))
    return session.scalar(stmt) is not None


def _link_read(session: Session, tenant_id: uuid.UUID, room_id: uuid.UUID, link: LinkInfo) -> ExplainLink:
    partner_name = session.scalar(select(Tenant.name).where(Tenant.id == link.partner_tenant_id))
    requires_mfa = session.scalar(
        select(TenantSettings.require_mfa_for_partners).where(TenantSettings.tenant_id == tenant_id)
    )
    return ExplainLink(
        id=link.id,
        partner_id=link.partner_tenant_id,
        partner_name=partner_name or "",
        room_in_scope=_in_link(session, room_id, link),
        requires_mfa=bool(requires_mfa),
    )
