"""The rule that a link's Primary admins always keep a member, applied wherever a member
could disappear (deleting a user or a security group)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roomwarden.access.models import AssignmentMember, Role, RoleAssignment
from roomwarden.kit.errors import Conflict


def guard_primary_admins(
    session: Session, *, user_id: uuid.UUID | None = None, group_id: uuid.UUID | None = None
) -> None:
    """Refuse to delete a user or security group that is the last member of some link's
    Primary admins. The assignments are locked first, so concurrent removals queue and the
    second one counts what the first left."""
    column = AssignmentMember.user_id if user_id is not None else AssignmentMember.group_id
    target = user_id if user_id is not None else group_id
    assignment_ids = session.scalars(
        select(RoleAssignment.id)
        .join(Role, Role.id == RoleAssignment.role_id)
        .join(AssignmentMember, AssignmentMember.assignment_id == RoleAssignment.id)
        .where(Role.kind == "partner_builtin", column == target)
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
        members = session.scalar(
            select(func.count())
            .select_from(AssignmentMember)
            .where(AssignmentMember.assignment_id == assignment_id)
        )
        still_named = session.scalar(
            select(func.count())
            .select_from(AssignmentMember)
            .where(AssignmentMember.assignment_id == assignment_id, column == target)
        )
        if still_named and (members or 0) <= 1:
            raise Conflict("this is the last Primary admin of a customer link: name another one first")
