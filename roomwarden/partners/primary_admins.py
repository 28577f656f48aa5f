"""Every rule about a link's Primary admins, and the lock that keeps them (SPEC §4).

The rules:

1. Each active link has one ``Primary admins`` role (kind ``partner_builtin``) with the Partner
   admin column, created when the invitation is accepted (``establish``). Nobody edits it
   (403); the customer cannot delete it (409: removing the partner ends it) and the partner
   cannot either (403).
2. The role has exactly one assignment: a second one is refused (409), the one cannot be
   deleted (409), and its scope is always the whole link (422 from the partner; the customer's
   edit of that scope is a change of the link's delegation).
3. The assignment always keeps a **live** member: an active user of the partner tenant, named
   directly or through a named security group. A member list without one is invalid (422); a
   directory change that would take the last one away is refused (409).
4. Only the Primary admins change who the Primary admins are (403 for any other partner
   role, whatever it holds). The partner's Global admin acts through them: as one of them, or
   through the membership of a security group named as Primary admins.

The lock (issue 9, M1): liveness depends on rows of the *partner* tenant — users, their
``is_active``, security groups and their members — and on the assignment's member list. Every
path that can change any of them locks the partner tenant's row first (``lock_directory``,
``FOR NO KEY UPDATE``), then reads, changes, and checks what it left: deactivating or deleting a
user, changing a security group's members or deleting the group (``keeping_primary_admins``),
replacing the members and establishing a link (``require_live_members``). One lock, always
first, so racing changes queue and the later one sees what the earlier one left. Where a
transaction needs two tenant rows (accepting: the customer's, for its invitations, and the
partner's, for its directory) it locks both in id order (``lock_tenants``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.models import AssignmentMember, Role, RoleAssignment, Scope
from roomwarden.access.permissions import PARTNER_ADMIN, PRIMARY_ADMINS
from roomwarden.access.resolver import Access
from roomwarden.access.schemas import MemberRef
from roomwarden.access.service import set_members, set_permissions
from roomwarden.identity.models import SecurityGroupMember, User
from roomwarden.kit.errors import Conflict, Forbidden, Invalid
from roomwarden.partners.models import PartnerLink
from roomwarden.tenants.models import Tenant

KIND = "partner_builtin"
LAST_PRIMARY_ADMIN = "this would leave a customer link without a live Primary admin: name another one first"
NO_LIVE_MEMBER = "the Primary admins need at least one active user, named or in a named security group"

# -- the lock ---------------------------------------------------------------------------------


def lock_tenants(session: Session, *tenant_ids: uuid.UUID) -> None:
    """Lock tenant rows in id order. ``FOR NO KEY UPDATE``: rows that merely reference a
    tenant (audit records, rooms) are still written meanwhile, so the lock only orders the
    transactions that take it."""
    ids = sorted(set(tenant_ids))
    session.execute(
        select(Tenant.id).where(Tenant.id.in_(ids)).order_by(Tenant.id).with_for_update(key_share=True)
    )


def lock_directory(session: Session, tenant_id: uuid.UUID) -> None:
    """Taken first by every change to ``tenant_id``'s directory or to a Primary admins member
    list of which it is the partner (see the module's lock rule)."""
    lock_tenants(session, tenant_id)


# -- liveness ---------------------------------------------------------------------------------


def _live(assignment_id: SQLColumnExpression[uuid.UUID]) -> ColumnElement[bool]:
    """An active user named by the assignment, directly or through a named group."""
    direct = (
        select(AssignmentMember.id)
        .join(User, User.id == AssignmentMember.user_id)
        .where(AssignmentMember.assignment_id == assignment_id, User.is_active)
    )
    via_group = (
        select(AssignmentMember.id)
        .join(SecurityGroupMember, SecurityGroupMember.group_id == AssignmentMember.group_id)
        .join(User, User.id == SecurityGroupMember.user_id)
        .where(AssignmentMember.assignment_id == assignment_id, User.is_active)
    )
    return or_(exists(direct), exists(via_group))


def live_assignments(session: Session, partner_tenant_id: uuid.UUID) -> set[uuid.UUID]:
    """The Primary admins assignments of ``partner_tenant_id``'s active links that have a
    live member now."""
    rows = session.scalars(
        select(RoleAssignment.id)
        .join(Role, and_(Role.id == RoleAssignment.role_id, Role.kind == KIND))
        .join(PartnerLink, PartnerLink.id == Role.partner_link_id)
        .where(
            PartnerLink.partner_tenant_id == partner_tenant_id,
            PartnerLink.status == "active",
            _live(RoleAssignment.id),
        )
    )
    return set(rows)


@contextmanager
def keeping_primary_admins(session: Session, tenant_id: uuid.UUID) -> Iterator[None]:
    """Wrap a change to ``tenant_id``'s directory that could take a live member away
    (deactivating or deleting a user, changing or deleting a security group): the directory
    is locked first, and the change is refused (409) if any Primary admins assignment that
    had a live member has none afterwards."""
    lock_directory(session, tenant_id)
    before = live_assignments(session, tenant_id)
    yield
    if not before:
        return
    session.flush()
    if before - live_assignments(session, tenant_id):
        raise Conflict(LAST_PRIMARY_ADMIN)


def require_live_members(
    session: Session, partner_tenant_id: uuid.UUID, members: Sequence[MemberRef]
) -> None:
    """A Primary admins member list must reach an active user (422). Locks the partner's
    directory first, so no racing deactivation can empty what was just checked."""
    lock_directory(session, partner_tenant_id)
    users = [m.id for m in members if m.type == "user"]
    groups = [m.id for m in members if m.type == "group"]
    active = select(User.id).where(User.tenant_id == partner_tenant_id, User.is_active)
    direct = select(func.count()).where(User.id.in_(users), User.id.in_(active))
    via = (
        select(func.count())
        .select_from(SecurityGroupMember)
        .where(SecurityGroupMember.group_id.in_(groups), SecurityGroupMember.user_id.in_(active))
    )
    if not (session.scalar(direct) or (groups and session.scalar(via))):
        raise Invalid(NO_LIVE_MEMBER)


# -- who may change them -------------------------------------------------------------------------


def holds(session: Session, user_id: uuid.UUID, link_id: uuid.UUID) -> bool:
    """Whether the user is one of the link's Primary admins, directly or through a group."""
    groups = select(SecurityGroupMember.group_id).where(SecurityGroupMember.user_id == user_id)
    found = session.scalar(
        select(func.count())
        .select_from(AssignmentMember)
        .join(RoleAssignment, RoleAssignment.id == AssignmentMember.assignment_id)
        .join(Role, Role.id == RoleAssignment.role_id)
        .where(
            Role.partner_link_id == link_id,
            Role.kind == KIND,
            or_(AssignmentMember.user_id == user_id, AssignmentMember.group_id.in_(groups)),
        )
    )
    return bool(found)


def require_primary_admin(session: Session, access: Access, role: Role) -> None:
    if role.partner_link_id is None or not holds(session, access.principal.user_id, role.partner_link_id):
        raise Forbidden("only the link's Primary admins change who the Primary admins are")


def change_members(session: Session, access: Access, role: Role, members: Sequence[MemberRef]) -> None:
    """Rules 3 and 4 for a new member list; the caller then writes it."""
    require_primary_admin(session, access, role)
    if access.link is None:  # only a partner reaches here: the customer is refused earlier
        raise Forbidden("assignments of partner roles are managed by the partner")
    require_live_members(session, access.link.partner_tenant_id, members)


# -- the role and its one assignment ----------------------------------------------------------------


def is_primary_admins(role: Role) -> bool:
    return role.kind == KIND


def refuse_role_edit(role: Role) -> None:
    if is_primary_admins(role):
        raise Forbidden("the Primary admins role is built in and cannot be edited")


def refuse_role_deletion(access: Access, role: Role) -> None:
    if not is_primary_admins(role):
        return
    if access.is_partner:
        raise Forbidden("the Primary admins role cannot be deleted")
    raise Conflict("the Primary admins role lives as long as its link: remove the partner to end it")


def refuse_second_assignment(role: Role) -> None:
    if is_primary_admins(role):
        raise Conflict("the Primary admins role has exactly one assignment: change its members instead")


def refuse_assignment_deletion(role: Role) -> None:
    if is_primary_admins(role):
        raise Conflict("the Primary admins assignment cannot be deleted; change its members instead")


def refuse_scope_change(role: Role) -> None:
    if is_primary_admins(role):
        raise Invalid("the Primary admins scope is the link's scope, which the customer changes")


def establish(
    session: Session, link: PartnerLink, members: Sequence[MemberRef], description: str
) -> RoleAssignment:
    """Rule 1 and 2 at acceptance: the role, its permissions, its one assignment over the
    whole link, and its members (already checked by ``require_live_members``)."""
    role = Role(
        tenant_id=link.tenant_id,
        name=PRIMARY_ADMINS,
        kind=KIND,
        partner_link_id=link.id,
        description=description,
    )
    session.add(role)
    session.flush()
    set_permissions(session, role, sorted(PARTNER_ADMIN))
    whole_link = Scope(tenant_id=link.tenant_id, all_rooms=True)
    session.add(whole_link)
    session.flush()
    assignment = RoleAssignment(
        tenant_id=link.tenant_id, role_id=role.id, scope_id=whole_link.id, name=PRIMARY_ADMINS
    )
    session.add(assignment)
    session.flush()
    set_members(session, assignment, link.partner_tenant_id, members)
    return assignment
