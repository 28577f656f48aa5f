"""Filing a held change and announcing a request's state: what every kind of approval request
does alike, whether it holds a room change (``service.hold``), an activation of an eligible
assignment (``elevations``) or a partner group's members (``partner_groups``).

A new request is written, recorded in the customer's audit log as an approval request created,
announced to webhook subscribers as ``approval.requested`` and mailed to the reviewers, in
the transaction that holds the change. Each decision announces the new state
(``approval.approved``, ``approval.rejected``, ...) through :func:`announce`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from roomwarden.approvals import notices, policy
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.audit.service import Actor, Auditor, Category, Operation, record
from roomwarden.events import service as outbox


def label(req: ApprovalRequest) -> str:
    """The request as the audit log names it: what it does, to what."""
    return f"{req.action}: {req.target_name}"


def announce(session: Session, req: ApprovalRequest) -> None:
    """``approval.*``: the request's new state, for the customer and the link's partner."""
    outbox.emit(
        session,
        "approval.requested" if req.status == policy.PENDING else f"approval.{req.status}",
        tenant_id=req.tenant_id,
        room_id=req.room_id,
        link_id=req.link_id,
        partner_tenant_id=req.partner_tenant_id,
        data={
            "approval_request_id": req.id,
            "link_id": req.link_id,
            "event": req.event,
            "status": req.status,
        },
    )


def file(session: Session, req: ApprovalRequest, by: Actor | Auditor) -> ApprovalRequest:
    """Write a new pending request and tell everyone who must know of it. ``by`` records it in
    the customer's log: the requester's access there (which names the role that allowed the
    change), or the requester alone when the request is not made through an access there."""
    session.add(req)
    session.flush()
    announce(session, req)
    details = {
        "event": req.event,
        "events": req.events,
        "action": req.action,
        "status": req.status,
        "change": req.change,
        "expires_at": req.expires_at.isoformat(),
    }
    if isinstance(by, Actor):
        record(
            session,
            tenant_id=req.tenant_id,
            actor=by,
            category=Category.APPROVAL_REQUEST,
            operation=Operation.CREATE,
            object_name=label(req),
            object_id=req.id,
            details=details,
        )
    else:
        by.audit(session, Category.APPROVAL_REQUEST, Operation.CREATE, label(req), req.id, details)
    notices.notify_reviewers(session, req)
    return req
