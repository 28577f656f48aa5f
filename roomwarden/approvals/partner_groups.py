"""A partner's security group named by a customer's partner role assignments: a change of its
members changes who holds the customer's partner roles, so it is that customer's
``partner_role.change``, whoever makes it in the partner's own directory.

Registered into the directory (``identity.extensions.group_members_change``): before a
group's members change, every active link whose partner role assignments name the group is
found. Under ``manual`` the change is held — an approval request in that customer's queue,
and the members stay as they are until a customer reviewer approves it (the change is then
applied by ``apply``, re-checked like any held change). Under ``auto`` it applies at once.
Either way every such customer's log records it. A group that several customers review is
not changed at all (409): one customer's approval must not decide for another; give each
customer a group of its own.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from roomwarden.access.models import AssignmentMember, Role, RoleAssignment
from roomwarden.approvals import filing, policy
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.audit.service import Actor, Auditor, Category, Operation, record
from roomwarden.identity import service as directory
from roomwarden.identity.models import SecurityGroup, User
from roomwarden.kit.errors import Conflict, Forbidden, NotFound
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import PartnerLink, live_link

ACTION = "group_members.update"
TARGET = "partner_group"


def links_naming(session: Session, group: SecurityGroup) -> list[PartnerLink]:
    """The active links of the group's tenant (as the partner) whose partner role assignments
    name the group, locked."""
    named = exists(
        select(AssignmentMember.id)
        .join(
            RoleAssignment,
            (RoleAssignment.id == AssignmentMember.assignment_id)
            & (RoleAssignment.tenant_id == AssignmentMember.tenant_id),
        )
        .join(Role, Role.id == RoleAssignment.role_id)
        .where(AssignmentMember.group_id == group.id, Role.partner_link_id == PartnerLink.id)
    )
    stmt = (
        select(PartnerLink)
        .where(PartnerLink.partner_tenant_id == group.tenant_id, live_link(utcnow()), named)
        .order_by(PartnerLink.id)
        .with_for_update()
    )
    return list(session.scalars(stmt))


def _reviewed(link: PartnerLink) -> bool:
    return bool(policy.held_events(link.approval_policy, [policy.PARTNER_ROLE_CHANGE]))


def on_members_change(
    session: Session, access: Auditor, group: SecurityGroup, wanted: list[uuid.UUID], current: list[uuid.UUID]
) -> bool:
    links = links_naming(session, group)
    if not links:
        return False
    reviewing = [link for link in links if _reviewed(link)]
    if len(reviewing) > 1:
        raise Conflict(
            "this group holds partner roles of several customers that review partner role changes: "
            "its members cannot change on one customer's approval; use a group for each customer"
        )
    added = sorted(set(wanted) - set(current))
    removed = sorted(set(current) - set(wanted))
    if not reviewing:
        record_in_customers(session, links, access.actor, group, added, removed)
        return False
    _hold(session, access.actor, reviewing[0], group, wanted, current)
    return True


def record_in_customers(
    session: Session,
    links: list[PartnerLink],
    actor: Actor,
    group: SecurityGroup,
    added: list[uuid.UUID],
    removed: list[uuid.UUID],
    **extra: Any,
) -> None:
    for link in links:
        record(
            session,
            tenant_id=link.tenant_id,
            actor=actor,
            category=Category.SECURITY_GROUP,
            operation=Operation.UPDATE,
            object_name=f"partner group {group.name}",
            object_id=group.id,
            details={
                "partner_tenant_id": str(group.tenant_id),
                "link_id": str(link.id),
                "event": policy.PARTNER_ROLE_CHANGE,
                "members_added": [str(u) for u in added],
                "members_removed": [str(u) for u in removed],
                **extra,
            },
        )


def _hold(
    session: Session,
    actor: Actor,
    link: PartnerLink,
    group: SecurityGroup,
    wanted: list[uuid.UUID],
    current: list[uuid.UUID],
) -> ApprovalRequest:
    if actor.user_id is None:
        raise Forbidden("only a user of the partner can propose a change its customer reviews")
    now = utcnow()
    req = ApprovalRequest(
        tenant_id=link.tenant_id,
        link_id=link.id,
        partner_tenant_id=link.partner_tenant_id,
        requester_user_id=actor.user_id,
        requester_upn=actor.upn or "",
        requester_name=actor.display_name or actor.upn or "",
        requester_mfa=False,
        event=policy.PARTNER_ROLE_CHANGE,
        events=[policy.PARTNER_ROLE_CHANGE],
        action=ACTION,
        target_type=TARGET,
        target_id=group.id,
        target_name=group.name[:400],
        room_id=None,
        change={"params": {"group_id": str(group.id)}, "body": {"member_ids": [str(u) for u in wanted]}},
        snapshot={"name": group.name, "member_ids": [str(u) for u in current]},
        proposed={"name": group.name, "member_ids": [str(u) for u in wanted]},
        status=policy.PENDING,
        created_at=now,
        expires_at=policy.expires_at(now, link.approval_expires_in_days),
    )
    return filing.file(session, req, actor)


def snapshot(
    session: Session, tenant_id: uuid.UUID, group_id: uuid.UUID, lock: bool
) -> dict[str, Any] | None:
    """The group as a customer's request sees it: a group of one of the customer's partners."""
    stmt = select(SecurityGroup).where(
        SecurityGroup.id == group_id,
        SecurityGroup.tenant_id.in_(
            select(PartnerLink.partner_tenant_id).where(PartnerLink.tenant_id == tenant_id)
        ),
    )
    if lock:
        stmt = stmt.with_for_update()
    group = session.scalar(stmt)
    if group is None:
        return None
    return {"name": group.name, "member_ids": [str(u) for u in directory.member_ids(session, group.id)]}


def apply(
    session: Session,
    requester: User,
    approval: dict[str, Any],
    group_id: uuid.UUID,
    member_ids: list[uuid.UUID],
) -> SecurityGroup:
    """Apply an approved change: the requester must still be a Global admin of the partner,
    and every member still a user of it. Recorded in the partner's log and in every
    customer's whose roles the group holds."""
    group = session.scalar(select(SecurityGroup).where(SecurityGroup.id == group_id).with_for_update())
    if group is None or group.tenant_id != requester.tenant_id:
        raise NotFound("the partner group no longer exists")
    if not (requester.is_active and requester.is_global_admin):
        raise Forbidden("the requesting partner user is no longer a Global admin of the partner")
    wanted = directory.check_users(session, group.tenant_id, member_ids)
    added, removed = directory.set_group_members(session, group, wanted)
    actor = Actor(requester.id, requester.tenant_id, requester.upn, requester.display_name)
    changes = {"members_added": [str(u) for u in added], "members_removed": [str(u) for u in removed]}
    record(
        session,
        tenant_id=group.tenant_id,
        actor=actor,
        category=Category.SECURITY_GROUP,
        operation=Operation.UPDATE,
        object_name=group.name,
        object_id=group.id,
        details={**changes, "approval": approval},
    )
    links = links_naming(session, group)
    record_in_customers(session, links, actor, group, added, removed, approval=approval)
    return group
