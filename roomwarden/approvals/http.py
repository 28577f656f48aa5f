"""How approval requests are shown over HTTP, and the ``202 Accepted`` of a held change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import JSONResponse, Response

from roomwarden.approvals import policy
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.approvals.schemas import ApprovalRequestRead, FieldChange, Person, Target
from roomwarden.approvals.service import Outcome
from roomwarden.approvals.visibility import effective_status
from roomwarden.identity.models import User
from roomwarden.kit.api import problem_response
from roomwarden.kit.time import utcnow
from roomwarden.tenants.models import Tenant

#: the OpenAPI ``responses`` of an operation whose change may be held for approval
HELD: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Held for approval: the partner link's change control is manual for this event",
        "model": ApprovalRequestRead,
    }
}


def request_reads(session: Session, reqs: Sequence[ApprovalRequest]) -> list[ApprovalRequestRead]:
    tenant_ids = {r.tenant_id for r in reqs} | {r.partner_tenant_id for r in reqs}
    names = dict(session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(tenant_ids))).all())
    deciders = {r.decided_by_user_id for r in reqs if r.decided_by_user_id}
    people = {u.id: u.display_name for u in session.scalars(select(User).where(User.id.in_(deciders)))}
    now = utcnow()
    return [
        ApprovalRequestRead(
            id=r.id,
            status=effective_status(r, now),  # type: ignore[arg-type]
            event=r.event,  # type: ignore[arg-type]
            events=r.events,  # type: ignore[arg-type]
            action=r.action,
            customer_id=r.tenant_id,
            customer_name=names.get(r.tenant_id, ""),
            partner_id=r.partner_tenant_id,
            partner_name=names.get(r.partner_tenant_id, ""),
            link_id=r.link_id,
            requester=Person(
                user_id=r.requester_user_id,
                tenant_id=r.partner_tenant_id,
                upn=r.requester_upn,
                display_name=r.requester_name,
            ),
            target=Target(type=r.target_type, id=r.target_id, name=r.target_name),
            room_id=r.room_id,
            change=r.change,
            before=r.snapshot,
            after=r.proposed,
            diff=[FieldChange(**d) for d in policy.diff(r.snapshot, r.proposed)],
            reason=r.reason,
            created_at=r.created_at,
            expires_at=r.expires_at,
            decided_at=r.decided_at,
            decided_by=(
                Person(
                    user_id=r.decided_by_user_id,
                    tenant_id=r.decided_by_tenant_id,
                    upn=r.decided_by_upn,
                    display_name=people.get(r.decided_by_user_id),
                )
                if r.decided_by_user_id
                else None
            ),
            result_id=r.result_id,
        )
        for r in reqs
    ]


def held_or(session: Session, result: Any, render: Callable[[Any], Any]) -> Any:
    """The direct path's answer, or ``202 Accepted`` with the request when it was held."""
    if not isinstance(result, ApprovalRequest):
        return render(result)
    read = request_reads(session, [result])[0]
    return JSONResponse(
        read.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/api/v1/partner/approval-requests/{result.id}"},
    )


def outcome_response(session: Session, outcome: Outcome) -> Response | ApprovalRequestRead:
    """A decision's answer: the request, or 409 problem+json with the request when the decision
    ended it otherwise (failed, expired) — that ending is committed all the same."""
    read = request_reads(session, [outcome.request])[0]
    if outcome.problem is None:
        return read
    body = {**outcome.problem.problem(), "approval_request": read.model_dump(mode="json")}
    return problem_response(outcome.problem.status, body)
