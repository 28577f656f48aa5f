"""Approval requests (partner side): the changes a partner user asked for where a customer's
change control holds them — across customers or for one (Customer filter), with their status
and outcome, each request's page with its before/after, and Cancel on the user's own pending
requests — through ``approvals.service`` (``partner_query``, ``partner_request``, ``cancel``),
the API's own functions. A link's Primary admins also see the requests of the link's other
users, as in the API. Any request id the user may not see is the same 404 as a missing one.

``held`` is where a portal page sends a partner user whose change was held instead of
applied: the request's page, saying that the change waits for the customer's approval."""

from __future__ import annotations

import uuid

from fastapi import Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.approvals import policy, service, visibility
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.audit.service import Category, Operation
from roomwarden.kit.api import SessionDep, audited
from roomwarden.kit.errors import AppError
from roomwarden.kit.time import utcnow
from roomwarden.portal.approvals import (
    ACTION_NAMES,
    EVENT_NAMES,
    STATUS_NAMES,
    TARGET_NAMES,
    diff_rows,
    page_of,
    partner_names,
    room_names,
    status_of,
)
from roomwarden.portal.forms import errors_of
from roomwarden.portal.urls import path_for
from roomwarden.portal.web import (
    FormRefused,
    parse_uuid,
    portal_router,
    redirect,
    render,
    session_of,
)

pages = portal_router()


def held(request: Request, req: ApprovalRequest) -> Response:
    """A change the customer's change control held: the request's page says it is waiting."""
    path = path_for(request.app, "portal.partner_approval_request", request_id=str(req.id))
    return redirect(path + "?done=held")


def _customers(session: Session, stmt: object) -> list[tuple[str, str]]:
    """The customers of the requests the user may see, by name: the Customer filter's choices."""
    ids = set(session.scalars(stmt.with_only_columns(ApprovalRequest.tenant_id).distinct()))  # type: ignore[attr-defined]
    names = partner_names(session, ids)
    return sorted(((str(i), n) for i, n in names.items()), key=lambda kv: kv[1].lower())


@pages.get("/partner/approval-requests", name="portal.partner_approval_requests")
def partner_requests_page(
    request: Request,
    session: SessionDep,
    customer: str = Query("", max_length=36),
    status: str = Query("", max_length=20),
    cursor: str = Query("", max_length=64),
    done: str = Query("", max_length=20),
) -> Response:
    principal = session_of(request).principal
    errors: dict[str, str] = {}
    if status and status not in STATUS_NAMES:
        errors["status"] = "Choose a status from the list."
    customer_id = parse_uuid(customer)
    if customer and customer_id is None:
        errors["customer"] = "Choose a customer from the list."
    items: list[ApprovalRequest] = []
    next_cursor = None
    if not errors:
        stmt = visibility.partner_query(session, principal, customer_id=customer_id, status=status or None)
        items, next_cursor = page_of(session, stmt, cursor)
    filters = {"customer": customer, "status": status}
    now = utcnow()
    return render(
        request,
        session,
        "approvals_partner.html",
        status=422 if errors else 200,
        current="approval_requests",
        items=[(r, status_of(r, now)) for r in items],
        next_cursor=next_cursor,
        first_page=bool(cursor),
        errors=errors,
        filters=filters,
        query={k: v for k, v in filters.items() if v},
        customer_names=partner_names(session, {r.tenant_id for r in items}),
        customer_choices=_customers(session, visibility.partner_query(session, principal)),
        user_id=principal.user_id,
        status_names=STATUS_NAMES,
        action_names=ACTION_NAMES,
        event_names=EVENT_NAMES,
        list_url=path_for(request.app, "portal.partner_approval_requests"),
        done=done,
    )


def _detail(
    request: Request, session: Session, request_id: uuid.UUID, errors: dict[str, str], done: str = ""
) -> Response:
    principal = session_of(request).principal
    req = visibility.partner_request(session, principal, request_id)
    state = status_of(req)
    rooms = room_names(session, req.tenant_id, {req.room_id} - {None})  # type: ignore[arg-type]
    names = partner_names(session, {req.tenant_id})
    return render(
        request,
        session,
        "approvals_partner_detail.html",
        status=409 if errors else 200,
        current="approval_requests",
        req=req,
        state=state,
        rows=diff_rows(req, rooms.get(req.room_id) if req.room_id else None, session),
        customer_name=names.get(req.tenant_id, ""),
        may_cancel=state == policy.PENDING and req.requester_user_id == principal.user_id,
        own=req.requester_user_id == principal.user_id,
        status_names=STATUS_NAMES,
        event_names=EVENT_NAMES,
        action_names=ACTION_NAMES,
        target_names=TARGET_NAMES,
        list_url=path_for(request.app, "portal.partner_approval_requests"),
        errors=errors,
        done=done,
    )


@pages.get("/partner/approval-requests/{request_id}", name="portal.partner_approval_request")
def partner_request_page(
    request: Request, session: SessionDep, request_id: uuid.UUID, done: str = Query("", max_length=20)
) -> Response:
    return _detail(request, session, request_id, {}, done)


def _request_customer(request: Request, session: SessionDep, request_id: uuid.UUID) -> None:
    """A refused cancellation is written to the log of the customer the request belongs to,
    once the request is known to be one of the caller's tenant (as the API's route does)."""
    active = getattr(request.state, "web_session", None)
    if active is None:
        return
    request.state.audit_tenant_id = session.scalar(
        select(ApprovalRequest.tenant_id).where(
            ApprovalRequest.id == request_id,
            ApprovalRequest.partner_tenant_id == active.principal.tenant_id,
        )
    )


@pages.post(
    "/partner/approval-requests/{request_id}/cancel",
    name="portal.partner_approval_cancel",
    dependencies=[Depends(_request_customer)],
)
@audited(Category.APPROVAL_REQUEST, Operation.UPDATE)
def partner_request_cancel(request: Request, session: SessionDep, request_id: uuid.UUID) -> Response:
    principal = session_of(request).principal
    try:
        outcome = service.cancel(session, principal, request_id, None)
    except AppError as exc:
        if exc.status == 404:
            raise
        errors = errors_of(exc)
        raise FormRefused(exc, lambda s: _detail(request, s, request_id, errors)) from exc
    done = "cancelled" if outcome.problem is None else "expired"
    path = path_for(request.app, "portal.partner_approval_request", request_id=str(request_id))
    return redirect(f"{path}?done={done}")
