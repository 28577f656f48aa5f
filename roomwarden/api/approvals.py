from __future__ import annotations

import uuid
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from roomwarden.access.deps import AccessDep
from roomwarden.approvals import service, visibility
from roomwarden.approvals.http import outcome_response, request_reads
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.approvals.schemas import ApprovalRequestRead, CancelBody, Event, RejectBody, Status
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.deps import PrincipalDep
from roomwarden.kit.api import SessionDep, audited
from roomwarden.kit.pagination import Page, PageDep, PageParams, paginate
from roomwarden.kit.routing import router

customer = router(prefix="/api/v1/tenants/{tenant_id}/approval-requests", tags=["approvals"])
partner = router(prefix="/api/v1/partner/approval-requests", tags=["approvals (partner side)"])
DECIDED: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Already decided; or ended failed or expired by this decision "
        "(committed; the body carries the request as `approval_request`)"
    }
}


def _page(session: Session, stmt: Select[ApprovalRequest], pages: PageParams) -> Page[ApprovalRequestRead]:
    page = paginate(session, stmt, ApprovalRequest.id, pages, lambda r: r)
    return Page[ApprovalRequestRead](items=request_reads(session, page.items), next_cursor=page.next_cursor)


# -- customer side ------------------------------------------------------------------------------


@customer.get("", response_model=Page[ApprovalRequestRead])
def list_requests(
    session: SessionDep,
    access: AccessDep,
    pages: PageDep,
    status: Status | None = None,
    event: Event | None = None,
    partner_id: uuid.UUID | None = None,
    room_id: uuid.UUID | None = None,
) -> Page[ApprovalRequestRead]:
    """Requests held for this customer's decision (a reviewer scoped to some rooms sees the
    requests on those rooms), oldest first; filters combine."""
    stmt = visibility.customer_query(
        access, status=status, event=event, partner_id=partner_id, room_id=room_id
    )
    return _page(session, stmt, pages)


@customer.get("/{request_id}", response_model=ApprovalRequestRead)
def get_request(session: SessionDep, access: AccessDep, request_id: uuid.UUID) -> ApprovalRequestRead:
    return request_reads(session, [visibility.customer_request(session, access, request_id)])[0]


@customer.post("/{request_id}/approve", response_model=ApprovalRequestRead, responses=DECIDED)
@audited(Category.APPROVAL_REQUEST, Operation.APPROVE)
def approve_request(
    session: SessionDep, access: AccessDep, request_id: uuid.UUID
) -> Response | ApprovalRequestRead:
    """Apply the held change now, as its requester, if the requester may still make it and
    its target has not changed; otherwise the request ends ``failed`` (409) with the reason."""
    return outcome_response(session, service.approve(session, access, request_id))


@customer.post("/{request_id}/reject", response_model=ApprovalRequestRead, responses=DECIDED)
@audited(Category.APPROVAL_REQUEST, Operation.REJECT)
def reject_request(
    session: SessionDep, access: AccessDep, request_id: uuid.UUID, body: RejectBody
) -> Response | ApprovalRequestRead:
    return outcome_response(session, service.reject(session, access, request_id, body.reason))


# -- partner side -------------------------------------------------------------------------------


def _request_customer(
    request: Request, session: SessionDep, principal: PrincipalDep, request_id: uuid.UUID
) -> None:
    """A refused cancellation is written to the log of the customer the request belongs to,
    once the request is known to be one of the caller's tenant."""
    request.state.audit_tenant_id = session.scalar(
        select(ApprovalRequest.tenant_id).where(
            ApprovalRequest.id == request_id, ApprovalRequest.partner_tenant_id == principal.tenant_id
        )
    )


@partner.get("", response_model=Page[ApprovalRequestRead])
def partner_requests(
    session: SessionDep,
    principal: PrincipalDep,
    pages: PageDep,
    customer_id: uuid.UUID | None = None,
    status: Status | None = None,
    event: Event | None = None,
) -> Page[ApprovalRequestRead]:
    """The caller's requests (and, for a link's Primary admins, every request of that link),
    across customers or for one. A customer that requires a second factor the sign-in lacked
    is left out, and naming it answers 403."""
    stmt = visibility.partner_query(session, principal, customer_id=customer_id, status=status, event=event)
    return _page(session, stmt, pages)


@partner.get("/{request_id}", response_model=ApprovalRequestRead)
def partner_request(
    session: SessionDep, principal: PrincipalDep, request_id: uuid.UUID
) -> ApprovalRequestRead:
    return request_reads(session, [visibility.partner_request(session, principal, request_id)])[0]


@partner.post(
    "/{request_id}/cancel",
    response_model=ApprovalRequestRead,
    responses=DECIDED,
    dependencies=[Depends(_request_customer)],
)
@audited(Category.APPROVAL_REQUEST, Operation.UPDATE)
def cancel_request(
    session: SessionDep,
    principal: PrincipalDep,
    request_id: uuid.UUID,
    body: CancelBody | None = None,
) -> Response | ApprovalRequestRead:
    return outcome_response(
        session, service.cancel(session, principal, request_id, body.reason if body else None)
    )
