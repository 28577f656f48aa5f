"""The rule that a link's Primary admins always keep a member, applied wherever a member
could disappear: deleting or deactivating a user, deleting a security group, or replacing the
assignment's members.

A *live* member is a security group (whatever its membership) or an active user: a
deactivated user cannot sign in, so a Primary admins assignment naming only deactivated users
would leave the link without an administrator.

Lock order: every path that can take the last live member away locks the Primary admins
assignment rows *before* any user or group row, so racing removals queue on the assignment and
the later one counts what the earlier one left (409), instead of deadlocking.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.models import AssignmentMember, Role, RoleAssignment
from roomwarden.access.resolver import Access
from roomwarden.access.schemas import MemberRef
from roomwarden.identity.models import SecurityGroupMember, User
from roomwarden.kit.errors import Conflict, Forbidden, Invalid

LAST_PRIMARY_ADMIN = "this is the last Primary admin of a customer link: name another one first"


def _live(member_is_not_target: ColumnElement[bool]) -> ColumnElement[bool]:
    active_users = select(User.id).where(User.is_active)
    return and_(
        member_is_not_target,
        or_(AssignmentMember.group_id.is_not(None), AssignmentMember.user_id.in_(active_users)),
    )


def guard_primary_admins(
    session: Session,
    *,
    member_tenant_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
) -> None:
    """Refuse (409) to delete or deactivate a user, or delete a security group, of
    ``member_tenant_id`` when it is the last live member of some link's Primary admins.
    Call it before locking the user or group row (see the lock order above)."""
    if (user_id is None) == (group_id is None):
        raise ValueError("name exactly one of user_id and group_id")
    column = AssignmentMember.user_id if user_id is not None else AssignmentMember.group_id
    target = user_id if user_id is not None else group_id
    assignment_ids = session.scalars(
        select(RoleAssignment.id)
        .join(Role, Role.id == RoleAssignment.role_id)
        .join(AssignmentMember, AssignmentMember.assignment_id == RoleAssignment.id)
        .where(
            Role.kind == "partner_builtin",
            column == target,
            AssignmentMember.member_tenant_id == member_tenant_id,
        )
        .order_by(RoleAssignment.id)
    ).all()
    if not assignment_ids:
        return
    session.execute(
        select(RoleAssignment.id)
        .where(RoleAssignment.id.in_(assignment_ids))
        .order_by(RoleAssignment.id)
        .with_for_update()
    ).all()
    for assignment_id in assignment_ids:
        in_assignment = AssignmentMember.assignment_id == assignment_id
        still_named = session.scalar(
            select(func.count()).select_from(AssignmentMember).where(in_assignment, column == target)
        )
        others = session.scalar(
            select(func.count())
            .select_from(AssignmentMember)
            .where(in_assignment, _live(or_(column.is_(None), column != target)))
        )
        if still_named and not others:
            raise Conflict(LAST_PRIMARY_ADMIN)


def require_live_member(session: Session, members: Sequence[MemberRef]) -> None:
    """The Primary admins must name a security group or an active user (422 otherwise)."""
    if any(m.type == "group" for m in members):
        return
    users = [m.id for m in members]
    if not session.scalar(select(func.count()).where(User.id.in_(users), User.is_active)):
        raise Invalid("the Primary admins need at least one active user or a security group")


def holds_primary_admins(session: Session, user_id: uuid.UUID, link_id: uuid.UUID) -> bool:
    """Whether the user is named by the link's Primary admins, directly or through a group."""
    groups = select(SecurityGroupMember.group_id).where(SecurityGroupMember.user_id == user_id)
    found = session.scalar(
        select(func.count())
        .select_from(AssignmentMember)
        .join(RoleAssignment, RoleAssignment.id == AssignmentMember.assignment_id)
        .join(Role, Role.id == RoleAssignment.role_id)
        .where(
            Role.partner_link_id == link_id,
            Role.kind == "partner_builtin",
            or_(AssignmentMember.user_id == user_id, AssignmentMember.group_id.in_(groups)),
        )
    )
    return bool(found)


def require_primary_admin(session: Session, access: Access, role: Role) -> None:
    """Only the Primary admins change who the Primary admins are: no other partner role,
    whatever its permissions, can take the link from them (403)."""
    if role.partner_link_id is None or not holds_primary_admins(
        session, access.principal.user_id, role.partner_link_id
    ):
        raise Forbidden("only the link's Primary admins change who the Primary admins are")
