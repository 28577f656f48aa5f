"""Just-in-time elevation (SPEC §4): a member of an eligible partner assignment activates it
(held for the customer's approval unless ``elevation.activate`` is ``auto``); activations are
listed and ended early, by the customer or the member."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import Depends, Response

from roomwarden.access.mfa import require_second_factor
from roomwarden.access.resolver import active_link
from roomwarden.approvals import elevations
from roomwarden.approvals.http import HELD, held_or
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.deps import PrincipalDep
from roomwarden.kit.api import SessionDep, audited
from roomwarden.kit.errors import NotFound
from roomwarden.kit.pagination import Page, PageDep, paginate
from roomwarden.kit.routing import router
from roomwarden.kit.time import utcnow
from roomwarden.partners import elevation
from roomwarden.partners.models import Elevation, live_elevation
from roomwarden.partners.schemas import ActivationCreate, ActivationRead, EligibleAssignmentRead


def _second_factor(session: SessionDep, principal: PrincipalDep, tenant_id: uuid.UUID) -> None:
    """The customer's rule on a second factor, for a partner user of a live link, before
    anything else is read (as ``AccessDep`` does for the other customer paths)."""
    if principal.tenant_id != tenant_id and active_link(session, tenant_id, principal.tenant_id) is not None:
        require_second_factor(session, principal, tenant_id)


customer = router(
    prefix="/api/v1/tenants/{tenant_id}", tags=["elevation"], dependencies=[Depends(_second_factor)]
)
partner = router(prefix="/api/v1/partner", tags=["elevation"])


@customer.post(
    "/assignments/{assignment_id}/activate", response_model=ActivationRead, status_code=201, responses=HELD
)
@audited(Category.ASSIGNMENT, Operation.UPDATE)
def activate_assignment(
    session: SessionDep,
    principal: PrincipalDep,
    tenant_id: uuid.UUID,
    assignment_id: uuid.UUID,
    body: ActivationCreate,
) -> ActivationRead | Response:
    """Activate an eligible assignment of which the caller is a member, for `minutes` (5 to
    the link's `max_elevation_minutes`) with a `justification`. Under the link's default
    change control (`elevation.activate`: `manual`) the answer is 202 with the approval request,
    and the customer's approval starts the clock."""
    done = elevations.activate(session, principal, tenant_id, assignment_id, body)
    return held_or(session, done, lambda e: elevation.activation_reads(session, [e], utcnow())[0])


@customer.get("/activations", response_model=Page[ActivationRead])
def list_activations(
    session: SessionDep,
    principal: PrincipalDep,
    tenant_id: uuid.UUID,
    pages: PageDep,
    status: Literal["active", "ended"] | None = None,
) -> Page[ActivationRead]:
    """Activations in this customer: all of them for its users with `partners.manage`,
    `approvals.review` or `roles.view` over all rooms; a partner user's own for that user."""
    stmt = elevation.activations_query(session, principal, tenant_id)
    now = utcnow()
    if status == "active":
        stmt = stmt.where(live_elevation(now))
    elif status == "ended":
        stmt = stmt.where(~live_elevation(now))
    page = paginate(session, stmt, Elevation.id, pages, lambda e: e)
    return Page[ActivationRead](
        items=elevation.activation_reads(session, page.items, now), next_cursor=page.next_cursor
    )


@customer.get("/activations/{activation_id}", response_model=ActivationRead)
def get_activation(
    session: SessionDep, principal: PrincipalDep, tenant_id: uuid.UUID, activation_id: uuid.UUID
) -> ActivationRead:
    stmt = elevation.activations_query(session, principal, tenant_id).where(Elevation.id == activation_id)
    found = session.scalar(stmt)
    if found is None:
        raise NotFound("activation not found")
    return elevation.activation_reads(session, [found], utcnow())[0]


@customer.delete("/activations/{activation_id}", status_code=204)
@audited(Category.ASSIGNMENT, Operation.UPDATE)
def end_activation(
    session: SessionDep, principal: PrincipalDep, tenant_id: uuid.UUID, activation_id: uuid.UUID
) -> None:
    """End a running activation early: the customer (`partners.manage` or `approvals.review`
    over all rooms) or the member itself. An activation that has ended answers 409."""
    elevation.end_early(session, principal, tenant_id, activation_id)


@partner.get("/eligible-assignments", response_model=Page[EligibleAssignmentRead])
def eligible_assignments(
    session: SessionDep, principal: PrincipalDep, pages: PageDep
) -> Page[EligibleAssignmentRead]:
    """The eligible assignments naming the caller, across its customers, each with the
    activation that runs now, if any."""
    stmt = elevation.eligible_query(principal)
    page = paginate(session, stmt, elevation.ELIGIBLE_KEY, pages, lambda a: a)
    return Page[EligibleAssignmentRead](
        items=elevation.eligible_reads(session, principal, page.items), next_cursor=page.next_cursor
    )
