"""Which role an action was allowed by, for the readable audit record (SPEC §6).

The permission an action needed follows from what it changed (category and operation);
a service may also name it. The record then names the principal's roles in the tenant (in
the link, for a partner user) that carry that permission, or "Global admin" for a tenant's
own Global admin, who needs no role.
"""

from __future__ import annotations

import uuid

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.models import AssignmentMember, Role, RoleAssignment, RolePermission
from roomwarden.access.permissions import Permission
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.models import SecurityGroupMember

GLOBAL_ADMIN = "Global admin"
P = Permission

_BY_OPERATION: dict[tuple[Category, Operation], Permission] = {
    (Category.ROOM, Operation.CREATE): P.ROOMS_CREATE,
    (Category.ENROLLMENT_KEY, Operation.UPDATE): P.ROOMS_RESET_KEY,
    (Category.ENROLLMENT_KEY, Operation.READ): P.ROOMS_DOWNLOAD_KEY,
    (Category.ROOM_GROUP, Operation.CREATE): P.GROUPS_CREATE,
    (Category.UPDATE_RING, Operation.CREATE): P.RINGS_CREATE,
    (Category.TICKET, Operation.CREATE): P.INCIDENTS_CREATE,
}
_BY_CATEGORY: dict[Category, Permission] = {
    Category.ROOM: P.ROOMS_MODIFY,
    Category.ROOM_GROUP: P.GROUPS_MODIFY,
    Category.UPDATE_RING: P.RINGS_MODIFY,
    Category.TICKET: P.TICKETS_UPDATE,
    Category.SETTINGS: P.SETTINGS_MODIFY,
    Category.ROLE: P.ROLES_MODIFY,
    Category.ASSIGNMENT: P.ROLES_MODIFY,
    Category.PARTNER_INVITATION: P.PARTNERS_MANAGE,
    Category.PARTNER: P.PARTNERS_MANAGE,
    Category.APPROVAL_REQUEST: P.APPROVALS_REVIEW,
    Category.AUDIT_LOG: P.AUDIT_EXPORT,
    Category.WEBHOOK: P.SETTINGS_MODIFY,
}


def needed_permission(category: str, operation: str) -> Permission | None:
    try:
        cat, op = Category(category), Operation(operation)
    except ValueError:
        return None
    return _BY_OPERATION.get((cat, op)) or _BY_CATEGORY.get(cat)


def allowed_by(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    own_global_admin: bool,
    partner_link_id: uuid.UUID | None,
    permission: Permission | None,
) -> str | None:
    """The names of the roles that allowed ``permission`` (comma-separated), or None."""
    if own_global_admin:
        return GLOBAL_ADMIN
    if permission is None:
        return None
    groups = select(SecurityGroupMember.group_id).where(SecurityGroupMember.user_id == user_id)
    member = or_(AssignmentMember.user_id == user_id, AssignmentMember.group_id.in_(groups))
    link = (
        Role.partner_link_id.is_(None) if partner_link_id is None else Role.partner_link_id == partner_link_id
    )
    names = session.scalars(
        select(Role.name)
        .distinct()
        .join(
            RolePermission,
            and_(RolePermission.role_id == Role.id, RolePermission.permission == permission.value),
        )
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .join(AssignmentMember, AssignmentMember.assignment_id == RoleAssignment.id)
        .where(Role.tenant_id == tenant_id, link, member)
        .order_by(Role.name)
    ).all()
    return ", ".join(names) or None
