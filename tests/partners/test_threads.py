"""Real concurrency on the service functions: threads, each with its own database transaction,
released together by a barrier so their transactions truly overlap. On PostgreSQL the row locks
decide; on SQLite the write lock serialises the same transactions, and the outcome must be the
same."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from roomwarden.access import service as access_service
from roomwarden.access.models import AssignmentMember, RoleAssignment
from roomwarden.access.resolver import resolve_access
from roomwarden.access.schemas import AssignmentUpdate, MemberRef, ScopeIn
from roomwarden.audit.models import AuditRecord
from roomwarden.identity import service as identity
from roomwarden.identity.models import User
from roomwarden.identity.principal import Principal
from roomwarden.identity.schemas import UserUpdate
from roomwarden.kit.errors import AppError
from roomwarden.partners import invitations, links
from roomwarden.partners.models import PartnerInvitation, PartnerLink
from roomwarden.partners.schemas import AcceptInvitation, InvitationCreate
from tests.factories import TenantH, UserH, World
from tests.partners.helpers import accept, invite

ROUNDS = 4


def principal(user: UserH, ga: bool = False) -> Principal:
    return Principal(uuid.UUID(user.id), uuid.UUID(user.tenant_id), user.upn, user.upn, ga)


def together(world: World, calls: list[Callable[[Session], Any]]) -> list[int]:
    """Run each call in its own transaction, all released at once; return each outcome as
    an HTTP status (200 for success)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[int] = [0] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            with world.transaction() as session:
                calls[i](session)
            outcomes[i] = 200
        except AppError as exc:
            outcomes[i] = exc.status
        except IntegrityError:  # answered 409 by the API
            outcomes[i] = 409

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(not t.is_alive() for t in threads), "a transaction never finished (deadlock?)"
    return sorted(outcomes)


def _count(world: World, stmt: Any) -> int:
    with world.transaction(write=False) as session:
        return session.scalar(stmt) or 0


def _as_customer(c: TenantH) -> Callable[[Session], Any]:
    return lambda session: resolve_access(session, principal(c.admin, ga=True), uuid.UUID(c.id))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_accepts_establish_exactly_one_link(world: World, round_: int) -> None:
    c, p = world.tenant(), world.tenant()
    reviewers = [p.admin, *(world.user(p, ga=True) for _ in range(4))]
    inv_id = uuid.UUID(invite(world, c, p)["id"])
    outcomes = together(
        world,
        [
            lambda s, u=u: invitations.accept(s, principal(u, ga=True), inv_id, AcceptInvitation())
            for u in reviewers
        ],
    )
    assert outcomes == [200] + [409] * (len(reviewers) - 1)
    assert _count(world, select(func.count()).where(PartnerLink.tenant_id == uuid.UUID(c.id))) == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_invitations_to_one_partner_leave_one_pending(world: World, round_: int) -> None:
    c, p = world.tenant(), world.tenant()
    body = InvitationCreate(
        partner_domain=p.domain, expires_in_days=3, scope=ScopeIn(all=True), terms_accepted=True
    )
    outcomes = together(
        world,
        [lambda s: invitations.create_invitation(s, _as_customer(c)(s), body) for _ in range(4)],
    )
    assert outcomes == [200, 409, 409, 409]
    pending = select(func.count()).where(
        PartnerInvitation.tenant_id == uuid.UUID(c.id), PartnerInvitation.status == "pending"
    )
    assert _count(world, pending) == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_accept_racing_revoke_and_deny_decides_once(world: World, round_: int) -> None:
    c, p = world.tenant(), world.tenant()
    inv_id = uuid.UUID(invite(world, c, p)["id"])
    outcomes = together(
        world,
        [
            lambda s: invitations.accept(s, principal(p.admin, ga=True), inv_id, AcceptInvitation()),
            lambda s: invitations.revoke(s, _as_customer(c)(s), inv_id),
            lambda s: invitations.deny(s, principal(p.admin, ga=True), inv_id),
        ],
    )
    assert outcomes == [200, 409, 409]
    with world.transaction(write=False) as session:
        inv = session.get_one(PartnerInvitation, inv_id)
        active = session.scalar(
            select(func.count()).where(PartnerLink.tenant_id == inv.tenant_id, PartnerLink.status == "active")
        )
    assert (inv.status == "accepted") == (active == 1) and inv.status in ("accepted", "revoked", "denied")


def _linked_with_admins(world: World, n: int) -> tuple[TenantH, TenantH, list[UserH], uuid.UUID]:
    c, p = world.tenant(), world.tenant()
    admins = [world.user(p) for _ in range(n)]
    lk = accept(world, p.admin, invite(world, c, p)["id"], [{"type": "user", "id": u.id} for u in admins])
    assert lk.status_code == 201, lk.text
    with world.transaction(write=False) as session:
        assignment = session.scalar(
            select(RoleAssignment.id).where(
                RoleAssignment.role_id == uuid.UUID(lk.json()["primary_admins_role_id"])
            )
        )
    assert assignment is not None
    return c, p, admins, assignment


def _members(world: World, assignment: uuid.UUID) -> int:
    return _count(world, select(func.count()).where(AssignmentMember.assignment_id == assignment))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_deletions_of_primary_admins_keep_the_last(world: World, round_: int) -> None:
    _c, p, admins, assignment = _linked_with_admins(world, 4)
    partner_ga = _as_customer(p)  # the partner's Global admin in its own directory
    outcomes = together(
        world,
        [lambda s, u=u: identity.delete_user(s, partner_ga(s), uuid.UUID(u.id)) for u in admins],
    )
    assert outcomes == [200, 200, 200, 409]
    assert _members(world, assignment) == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_racing_deletion_and_deactivation_keep_a_live_member(world: World, round_: int) -> None:
    _c, p, (a, b), assignment = _linked_with_admins(world, 2)
    partner_ga = _as_customer(p)
    outcomes = together(
        world,
        [
            lambda s: identity.delete_user(s, partner_ga(s), uuid.UUID(a.id)),
            lambda s: identity.update_user(s, partner_ga(s), uuid.UUID(b.id), UserUpdate(is_active=False)),
        ],
    )
    assert outcomes == [200, 409]
    with world.transaction(write=False) as session:
        live = session.scalar(
            select(func.count())
            .select_from(AssignmentMember)
            .join(User, User.id == AssignmentMember.user_id)
            .where(AssignmentMember.assignment_id == assignment, User.is_active)
        )
    assert live == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_replacing_members_racing_a_deletion_never_empties(world: World, round_: int) -> None:
    """The partner names only ``a`` while the partner's admin deletes ``a``: whichever goes
    first, the other is refused, and the Primary admins keep a member."""
    c, p, (a, b), assignment = _linked_with_admins(world, 2)
    partner_ga = _as_customer(p)

    def rename_to_a(s: Session) -> None:
        in_customer = resolve_access(s, principal(b), uuid.UUID(c.id))
        data = AssignmentUpdate(members=[MemberRef(type="user", id=uuid.UUID(a.id))])
        access_service.update_assignment(s, in_customer, assignment, data)

    outcomes = together(
        world,
        [rename_to_a, lambda s: identity.delete_user(s, partner_ga(s), uuid.UUID(a.id))],
    )
    assert outcomes in ([200, 409], [200, 422])
    assert _members(world, assignment) >= 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_both_sides_offboarding_at_once_end_the_link_once(world: World, round_: int) -> None:
    c, p = world.tenant(), world.tenant()
    lk = accept(world, p.admin, invite(world, c, p)["id"]).json()
    link_id = uuid.UUID(lk["id"])
    outcomes = together(
        world,
        [
            lambda s: links.offboard_by_customer(s, _as_customer(c)(s), link_id, True),
            lambda s: links.offboard_by_partner(s, principal(p.admin, ga=True), link_id, True),
        ],
    )
    assert outcomes in ([200, 404], [200, 409])  # the partner's view of an ended link is gone
    ended = select(func.count()).where(
        AuditRecord.tenant_id == uuid.UUID(c.id),
        AuditRecord.category == "Partner",
        AuditRecord.operation == "Delete",
    )
    assert _count(world, ended) == 1
