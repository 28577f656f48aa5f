"""Just-in-time elevation's records (SPEC §4): an eligible partner assignment, its members'
activations, their start, their end (at ``ends_at``, early by the customer or the member, or
with the link), and who may list or end them. The resolver grants an eligible assignment's role
only while ``models.live_elevation`` holds; holding an activation for the customer's approval
is change control's (``approvals/elevations.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from roomwarden.access.mfa import lenient_customers
from roomwarden.access.models import AssignmentMember, Role, RoleAssignment
from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import resolve_access
from roomwarden.access.scopes import read_scopes
from roomwarden.audit.service import SYSTEM_ACTOR, Actor, Category, Operation, record
from roomwarden.identity.models import SecurityGroupMember, User
from roomwarden.identity.principal import Principal
from roomwarden.kit.errors import Conflict, Forbidden, Invalid, NotFound
from roomwarden.kit.time import utcnow
from roomwarden.partners import events
from roomwarden.partners.models import Elevation, PartnerLink, live_elevation, live_link
from roomwarden.partners.schemas import ActivationCreate, ActivationRead, EligibleAssignmentRead
from roomwarden.tenants.models import Tenant


def eligible_target(
    session: Session,
    principal: Principal,
    tenant_id: uuid.UUID,
    assignment_id: uuid.UUID,
    *,
    lock: bool = False,
) -> tuple[PartnerLink, Role, RoleAssignment]:
    """The eligible assignment ``principal`` may activate in customer ``tenant_id``: one of
    the partner's roles in its live link there, naming the principal directly or through one
    of its groups. Anything else is as absent as a missing one (404). ``lock`` locks the
    assignment, so two activations of it by one member run one after the other."""
    now = utcnow()
    groups = select(SecurityGroupMember.group_id).where(SecurityGroupMember.user_id == principal.user_id)
    member = (
        select(AssignmentMember.id)
        .where(
            AssignmentMember.assignment_id == RoleAssignment.id,
            or_(AssignmentMember.user_id == principal.user_id, AssignmentMember.group_id.in_(groups)),
        )
        .exists()
    )
    stmt = (
        select(RoleAssignment)
        .join(Role, Role.id == RoleAssignment.role_id)
        .join(PartnerLink, PartnerLink.id == Role.partner_link_id)
        .where(
            RoleAssignment.tenant_id == tenant_id,
            RoleAssignment.id == assignment_id,
            RoleAssignment.activation == "eligible",
            PartnerLink.tenant_id == tenant_id,
            PartnerLink.partner_tenant_id == principal.tenant_id,
            live_link(now),
            member,
        )
    )
    if lock:
        stmt = stmt.with_for_update(of=RoleAssignment).execution_options(populate_existing=True)
    assignment = session.scalar(stmt)
    if assignment is None:
        raise NotFound("assignment not found")
    role = session.get_one(Role, assignment.role_id)
    assert role.partner_link_id is not None
    return session.get_one(PartnerLink, role.partner_link_id), role, assignment


def check_minutes(link: PartnerLink, minutes: int) -> None:
    if minutes > link.max_elevation_minutes:
        raise Invalid(
            f"minutes: at most {link.max_elevation_minutes} for this customer (max_elevation_minutes)"
        )


def retire_ran_out(session: Session, assignment_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> None:
    """Activations of this member past their end become ``ended`` (they granted nothing
    already), so the one-active-activation index admits a new one."""
    for elevation in session.scalars(
        select(Elevation)
        .where(
            Elevation.assignment_id == assignment_id,
            Elevation.user_id == user_id,
            Elevation.status == "active",
            Elevation.ends_at <= now,
        )
        .with_for_update()
    ).all():
        end(session, elevation, elevation.ends_at, SYSTEM_ACTOR, RAN_OUT)


def ran_out(session: Session, now: datetime, *, limit: int = 200) -> int:
    """One pass of the ``partners.expiry`` job: activations whose time ran out are ended as of
    their end, recorded and announced (``elevation.ended``) like one ended early. They granted
    nothing from their end on already (``live_elevation``); this is the bookkeeping. Rows
    another transaction holds are left for the next pass."""
    rows = session.scalars(
        select(Elevation)
        .where(Elevation.status == "active", Elevation.ends_at <= now)
        .order_by(Elevation.ends_at, Elevation.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for elevation in rows:
        end(session, elevation, elevation.ends_at, SYSTEM_ACTOR, RAN_OUT)
    return len(rows)


def running(session: Session, assignment_id: uuid.UUID, user_id: uuid.UUID) -> Elevation | None:
    return session.scalar(
        select(Elevation).where(
            Elevation.assignment_id == assignment_id,
            Elevation.user_id == user_id,
            Elevation.status == "active",
        )
    )


def _label(role: Role, assignment: RoleAssignment) -> str:
    return f"{role.name}: {assignment.name}"


def start(
    session: Session,
    principal: Principal,
    link: PartnerLink,
    role: Role,
    assignment: RoleAssignment,
    data: ActivationCreate,
    now: datetime,
    *,
    approved_by: Principal | None = None,
    request_id: uuid.UUID | None = None,
) -> Elevation:
    """Start the clock: the member holds the role over the assignment's scope until
    ``now + minutes``. A running activation of the same member answers 409."""
    retire_ran_out(session, assignment.id, principal.user_id, now)
    if (current := running(session, assignment.id, principal.user_id)) is not None:
        raise Conflict(f"this assignment is already active for you until {current.ends_at.isoformat()}")
    elevation = Elevation(
        tenant_id=link.tenant_id,
        link_id=link.id,
        assignment_id=assignment.id,
        user_id=principal.user_id,
        minutes=data.minutes,
        justification=data.justification,
        status="active",
        starts_at=now,
        ends_at=now + timedelta(minutes=data.minutes),
        approved_by_user_id=approved_by.user_id if approved_by else None,
        approved_by_upn=approved_by.upn if approved_by else None,
        request_id=request_id,
    )
    try:
        with session.begin_nested():
            session.add(elevation)
            session.flush()
    except IntegrityError:
        raise Conflict("this assignment is already active for you") from None
    record(
        session,
        tenant_id=link.tenant_id,
        actor=principal.actor,
        category=Category.ASSIGNMENT,
        operation=Operation.UPDATE,
        object_name=_label(role, assignment),
        object_id=assignment.id,
        details={
            "elevation": "activated",
            "elevation_id": str(elevation.id),
            "minutes": data.minutes,
            "justification": data.justification,
            "starts_at": elevation.starts_at.isoformat(),
            "ends_at": elevation.ends_at.isoformat(),
            **(
                {"approved_by": str(approved_by.user_id), "approval_request_id": str(request_id)}
                if approved_by
                else {}
            ),
        },
    )
    events.elevation_activated.emit(
        events.ElevationActivated(
            session, elevation.id, link.tenant_id, link.partner_tenant_id, principal.user_id
        )
    )
    return elevation


#: why an activation ended when nobody ended it
RAN_OUT = "its time ran out"


def end(session: Session, elevation: Elevation, now: datetime, actor: Actor, reason: str) -> None:
    """End a running activation at ``now`` (the caller holds its lock); the record says who
    and why."""
    elevation.status, elevation.ended_at, elevation.end_reason = "ended", now, reason[:200]
    elevation.ended_by_user_id = actor.user_id
    session.flush()
    assignment = session.get_one(RoleAssignment, elevation.assignment_id)
    role = session.get_one(Role, assignment.role_id)
    record(
        session,
        tenant_id=elevation.tenant_id,
        actor=actor,
        category=Category.ASSIGNMENT,
        operation=Operation.UPDATE,
        object_name=_label(role, assignment),
        object_id=assignment.id,
        details={"elevation": "ended", "elevation_id": str(elevation.id), "reason": reason},
    )
    link = session.get_one(PartnerLink, elevation.link_id)
    events.elevation_ended.emit(
        events.ElevationEnded(
            session, elevation.id, link.tenant_id, link.partner_tenant_id, elevation.user_id
        )
    )


def end_of_link(session: Session, link: PartnerLink, now: datetime, reason: str) -> int:
    """End the link's running activations (its expiry): each is recorded."""
    rows = session.scalars(
        select(Elevation)
        .where(Elevation.link_id == link.id, Elevation.status == "active", Elevation.ends_at > now)
        .order_by(Elevation.id)
        .with_for_update()
    ).all()
    for elevation in rows:
        end(session, elevation, now, SYSTEM_ACTOR, reason)
    return len(rows)


# -- who sees and ends them -----------------------------------------------------------------------


def _customer_may(session: Session, principal: Principal, tenant_id: uuid.UUID, perms: Sequence[P]) -> bool:
    access = resolve_access(session, principal, tenant_id)
    return any(access.tenant_wide(p) for p in perms)


def activations_query(session: Session, principal: Principal, tenant_id: uuid.UUID) -> Select[Elevation]:
    """A customer's users with ``partners.manage``, ``approvals.review`` or ``roles.view``
    over all rooms see every activation in their tenant (403 otherwise); a partner user sees
    its own there, while the link is live; anyone else finds nothing to see (404)."""
    stmt = select(Elevation).where(Elevation.tenant_id == tenant_id)
    if principal.tenant_id == tenant_id:
        if not _customer_may(
            session, principal, tenant_id, (P.PARTNERS_MANAGE, P.APPROVALS_REVIEW, P.ROLES_VIEW)
        ):
            raise Forbidden("partners.manage, approvals.review or roles.view over all rooms is required")
        return stmt
    now = utcnow()
    linked = session.scalar(
        select(PartnerLink.id).where(
            PartnerLink.tenant_id == tenant_id,
            PartnerLink.partner_tenant_id == principal.tenant_id,
            live_link(now),
        )
    )
    if linked is None:
        raise NotFound("tenant not found")
    return stmt.where(Elevation.user_id == principal.user_id, Elevation.link_id == linked)


def visible(
    session: Session, principal: Principal, tenant_id: uuid.UUID, elevation_id: uuid.UUID
) -> Elevation:
    stmt = activations_query(session, principal, tenant_id).where(Elevation.id == elevation_id)
    elevation = session.scalar(stmt.with_for_update().execution_options(populate_existing=True))
    if elevation is None:
        raise NotFound("activation not found")
    return elevation


def end_early(
    session: Session, principal: Principal, tenant_id: uuid.UUID, elevation_id: uuid.UUID
) -> Elevation:
    """The customer (``partners.manage`` or ``approvals.review`` over all rooms) or the member
    itself ends a running activation; it holds nothing again on the next request. An
    activation that has already ended answers 409."""
    elevation = visible(session, principal, tenant_id, elevation_id)
    if principal.tenant_id == tenant_id and not _customer_may(
        session, principal, tenant_id, (P.PARTNERS_MANAGE, P.APPROVALS_REVIEW)
    ):
        raise Forbidden("partners.manage or approvals.review over all rooms is required")
    now = utcnow()
    if not elevation.live(now):
        raise Conflict("the activation has already ended")
    who = "the customer" if principal.tenant_id == tenant_id else "the member"
    end(session, elevation, now, principal.actor, f"ended early by {who}")
    return elevation


def activation_reads(session: Session, rows: Sequence[Elevation], now: datetime) -> list[ActivationRead]:
    assignments = {
        a.id: a
        for a in session.scalars(
            select(RoleAssignment).where(RoleAssignment.id.in_({e.assignment_id for e in rows}))
        )
    }
    roles = {
        r.id: r
        for r in session.scalars(select(Role).where(Role.id.in_({a.role_id for a in assignments.values()})))
    }
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({e.user_id for e in rows})))}
    links = {
        x.id: x
        for x in session.scalars(select(PartnerLink).where(PartnerLink.id.in_({e.link_id for e in rows})))
    }
    scopes = read_scopes(session, [a.scope_id for a in assignments.values()])
    out = []
    for e in rows:
        a, u = assignments[e.assignment_id], users[e.user_id]
        out.append(
            ActivationRead(
                id=e.id,
                customer_id=e.tenant_id,
                link_id=e.link_id,
                partner_id=links[e.link_id].partner_tenant_id,
                assignment_id=a.id,
                assignment_name=a.name,
                role_id=a.role_id,
                role_name=roles[a.role_id].name,
                user_id=u.id,
                upn=u.upn,
                display_name=u.display_name,
                scope=scopes[a.scope_id],
                minutes=e.minutes,
                justification=e.justification,
                status="active" if e.live(now) else "ended",
                starts_at=e.starts_at,
                ends_at=e.ends_at,
                ended_at=e.ended_at if e.ended_at is not None else (e.ends_at if e.ends_at <= now else None),
                end_reason=e.end_reason or ("its time ran out" if e.ends_at <= now else None),
                approved_by_user_id=e.approved_by_user_id,
                approved_by_upn=e.approved_by_upn,
                approval_request_id=e.request_id,
            )
        )
    return out


# -- the partner user's eligible assignments ------------------------------------------------------

ELIGIBLE_KEY = RoleAssignment.id


def eligible_query(principal: Principal) -> Select[RoleAssignment]:
    """The eligible assignments naming ``principal`` (directly or through a group) in the live
    links of its tenant (leaving out customers whose second-factor rule the sign-in fails)."""
    groups = select(SecurityGroupMember.group_id).where(SecurityGroupMember.user_id == principal.user_id)
    member = (
        select(AssignmentMember.id)
        .where(
            AssignmentMember.assignment_id == RoleAssignment.id,
            or_(AssignmentMember.user_id == principal.user_id, AssignmentMember.group_id.in_(groups)),
        )
        .exists()
    )
    return (
        select(RoleAssignment)
        .join(Role, Role.id == RoleAssignment.role_id)
        .join(PartnerLink, PartnerLink.id == Role.partner_link_id)
        .where(
            RoleAssignment.activation == "eligible",
            PartnerLink.partner_tenant_id == principal.tenant_id,
            live_link(utcnow()),
            member,
            lenient_customers(principal, PartnerLink.tenant_id),
        )
    )


def eligible_reads(
    session: Session, principal: Principal, items: Sequence[RoleAssignment]
) -> list[EligibleAssignmentRead]:
    now = utcnow()
    roles = {r.id: r for r in session.scalars(select(Role).where(Role.id.in_({a.role_id for a in items})))}
    links = {
        x.id: x
        for x in session.scalars(
            select(PartnerLink).where(PartnerLink.id.in_({r.partner_link_id for r in roles.values()}))
        )
    }
    names = dict(
        session.execute(
            select(Tenant.id, Tenant.name).where(Tenant.id.in_({x.tenant_id for x in links.values()}))
        ).all()
    )
    scopes = read_scopes(session, [a.scope_id for a in items])
    runs = session.scalars(
        select(Elevation).where(
            Elevation.assignment_id.in_([a.id for a in items]),
            Elevation.user_id == principal.user_id,
            live_elevation(now),
        )
    ).all()
    active = {e.assignment_id: r for e, r in zip(runs, activation_reads(session, runs, now), strict=True)}
    out = []
    for a in items:
        role = roles[a.role_id]
        assert role.partner_link_id is not None
        link = links[role.partner_link_id]
        out.append(
            EligibleAssignmentRead(
                assignment_id=a.id,
                assignment_name=a.name,
                role_id=role.id,
                role_name=role.name,
                customer_id=link.tenant_id,
                customer_name=names[link.tenant_id],
                link_id=link.id,
                max_elevation_minutes=link.max_elevation_minutes,
                scope=scopes[a.scope_id],
                active=active.get(a.id),
            )
        )
    return out
