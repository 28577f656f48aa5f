"""Approvals (customer side): the requests change control holds for this tenant's review —
a list with Status, Event, Partner and Room filters (waiting requests first, newest first),
each request's page with its before/after, and Approve / Reject (with a reason) through
``approvals.service``, the API's own functions. A reviewer scoped to some rooms sees and
decides only the requests on those rooms; any other request id is the same 404 as a missing
one. The page also keeps, per partner, which kinds of change the link's policy holds.

The readable form of a request (names of events and actions, the before/after table) is
shared with the partner side's pages (``partner_approvals``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Query, Response
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.permissions import name_of as permission_name
from roomwarden.approvals import actions, policy, service, visibility
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.approvals.schemas import RejectBody
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.models import SecurityGroup, User
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError
from roomwarden.kit.pagination import decode_cursor, encode_cursor
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import PartnerLink, live_link
from roomwarden.partners.schemas import EVENTS
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.forms import FieldErrors, errors_of, ids, text, validate
from roomwarden.portal.listing import Found, Listing, fetch
from roomwarden.portal.web import FormRefused, parse_uuid, portal_router, redirect
from roomwarden.rooms.models import Room, RoomGroup
from roomwarden.tenants.models import Tenant

pages = portal_router()
PAGE_SIZE = 25

EVENT_NAMES = {
    "room.update": "Changes to a room",
    "update_ring.change": "Moving a room to another update ring",
    "incident.create": "Opening an incident",
    "ticket.update": "Updating a ticket",
    "partner_role.change": "Changing the partner's own roles",
    "elevation.activate": "Activating an eligible role",
}
ACTION_NAMES = {
    "room.update": "Change a room",
    "update_ring.update": "Change an update ring",
    "incident.create": "Open an incident",
    "ticket.update": "Update a ticket",
    "role.create": "Create a partner role",
    "role.update": "Change a partner role",
    "role.delete": "Delete a partner role",
    "assignment.create": "Assign a partner role",
    "assignment.update": "Change a partner role assignment",
    "assignment.delete": "Delete a partner role assignment",
    "group_members.update": "Change the members of a partner group that holds partner roles",
    "elevation.activate": "Activate an eligible partner role",
}
TARGET_NAMES = {
    "room": "Room",
    "update_ring": "Update ring",
    "ticket": "Ticket",
    "role": "Partner role",
    "assignment": "Role assignment",
    "partner_roles": "Partner roles",
    "partner_group": "Partner security group",
}
STATUS_NAMES = {
    "pending": "Waiting for a decision",
    "approved": "Approved",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
    "expired": "Expired",
    "failed": "Failed",
}
FIELD_NAMES = {
    "name": "Name",
    "resource_account": "Resource account",
    "country": "Country",
    "city": "City",
    "building": "Building",
    "health_state": "Health",
    "time_zone": "Time zone",
    "update_ring": "Update ring",
    "enrollment_state": "Enrollment",
    "deferral_days": "Deferral (days)",
    "paused": "Paused",
    "title": "Title",
    "description": "Description",
    "severity": "Severity",
    "status": "Status",
    "history_entries": "History entries",
    "comment": "Comment",
    "kind": "Kind",
    "permissions": "Permissions",
    "role": "Role",
    "email_notifications": "E-mail notifications",
    "members": "Members",
    "scope": "Scope",
    "room": "Room",
}
#: ids shown by name in another field of the same snapshot
NAMED_IDS = {"update_ring_id": "update_ring", "role_id": "role"}
HIDDEN_FIELDS = {"link_id"}


# -- a request, readably ------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    field: str
    before: str
    after: str


def _word(value: Any) -> Any:
    return str(value).replace("_", " ").capitalize() if isinstance(value, str) and value else value


#: How a stored value reads for people, by field: states as words, permissions by name.
VALUE_NAMES: dict[str, Any] = {
    "status": _word,
    "severity": _word,
    "health_state": _word,
    "enrollment_state": _word,
    "kind": _word,
    "activation": _word,
    "permissions": lambda v: sorted(permission_name(p) for p in v) if isinstance(v, list) else v,
}


def _named(key: str, value: Any) -> Any:
    name = VALUE_NAMES.get(key)
    return name(value) if name is not None and value is not None else value


def _value(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _ids_in(snapshots: list[dict[str, Any] | None]) -> dict[str, set[uuid.UUID]]:
    """The ids an assignment's members and scope name, by kind."""
    found: dict[str, set[uuid.UUID]] = {"user": set(), "group": set(), "room": set(), "room_group": set()}
    for snap in snapshots:
        for member in (snap or {}).get("members") or []:
            kind, _, raw = str(member).partition(":")
            if kind in found and (mid := _uuid(raw)):
                found[kind].add(mid)
        scope = (snap or {}).get("scope") or {}
        for kind, key in (("room", "rooms"), ("room_group", "room_groups")):
            found[kind].update(i for i in map(_uuid, scope.get(key) or []) if i)
    return found


def _uuid(raw: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


def _names(session: Session, req: ApprovalRequest, ids: dict[str, set[uuid.UUID]]) -> dict[uuid.UUID, str]:
    """Names for the ids of a partner-role change: the partner's users and security groups
    (its members), the customer's rooms and room groups (its scope)."""
    names: dict[uuid.UUID, str] = {}
    for id_, label, kind, extra in (
        (User.id, User.display_name, "user", (User.tenant_id == req.partner_tenant_id,)),
        (SecurityGroup.id, SecurityGroup.name, "group", (SecurityGroup.tenant_id == req.partner_tenant_id,)),
        (Room.id, Room.name, "room", (Room.tenant_id == req.tenant_id,)),
        (RoomGroup.id, RoomGroup.name, "room_group", (RoomGroup.tenant_id == req.tenant_id,)),
    ):
        if ids[kind]:
            stmt = select(id_, label).where(id_.in_(ids[kind]), *extra)
            names.update(dict(session.execute(stmt).all()))
    return names


def _members(value: Any, names: dict[uuid.UUID, str]) -> Any:
    out = []
    for member in value or []:
        kind, _, raw = str(member).partition(":")
        mid = _uuid(raw)
        name = names.get(mid) if mid else None
        out.append(f"{name or 'a removed ' + kind} ({'user' if kind == 'user' else 'security group'})")
    return sorted(out)


def _scope(value: Any, names: dict[uuid.UUID, str]) -> Any:
    if not isinstance(value, dict):
        return value
    if value.get("all"):
        return "All rooms of the link"
    parts = []
    for key, label in (("rooms", "Rooms"), ("room_groups", "Room groups")):
        gone = "a removed room" if key == "rooms" else "a removed room group"
        listed = [names.get(i, gone) if i else gone for i in map(_uuid, value.get(key) or [])]
        if listed:
            parts.append(f"{label}: {', '.join(sorted(listed))}")
    return "; ".join(parts) or "No rooms"


def diff_rows(
    req: ApprovalRequest, room_name: str | None = None, session: Session | None = None
) -> list[Row]:
    """Field, before and after: every field the change sets or alters. A creation (incident,
    partner role, assignment) has no "before" of its own: the new object's fields are shown.
    A ticket update's comment is part of the change, so it is a row too; an assignment's
    members and scope are named (with ``session``)."""
    action = actions.ACTIONS.get(req.action)
    creates = action is not None and action.result_type is not None
    before = None if creates else req.snapshot
    names: dict[uuid.UUID, str] = {}
    if session is not None and any("members" in (s or {}) for s in (before, req.proposed)):
        names = _names(session, req, _ids_in([before, req.proposed]))
    rows = []
    for d in policy.diff(before, req.proposed):
        key = d["field"]
        if key in HIDDEN_FIELDS or (key in NAMED_IDS and NAMED_IDS[key] in (req.proposed or {})):
            continue
        old, new = d["before"], d["after"]
        if key == "room_id":
            key, old, new = "room", None, room_name or req.target_name
        elif key == "members":
            old, new = (_members(v, names) if v is not None else None for v in (old, new))
        elif key == "scope":
            old, new = (_scope(v, names) if v is not None else None for v in (old, new))
        else:
            old, new = _named(key, old), _named(key, new)
        if before is None and _value(new) == "—":
            continue  # a new object's empty field says nothing
        rows.append(Row(FIELD_NAMES.get(key, key.replace("_", " ").capitalize()), _value(old), _value(new)))
    body = (req.change or {}).get("body") or {}
    if req.action == "ticket.update" and body.get("comment"):
        rows.append(Row("Comment", "—", str(body["comment"])))
    return rows


def status_of(req: ApprovalRequest, now: datetime | None = None) -> str:
    return visibility.effective_status(req, now)


def partner_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(ids))).all())


# -- waiting first, newest first ------------------------------------------------------------------


def _rank(now: datetime) -> ColumnElement[int]:
    return case((visibility.status_is(policy.PENDING, now), 0), else_=1)


def _encode(rank: int, last: uuid.UUID) -> str:
    return f"{rank}{encode_cursor(last)}"


def _decode(cursor: str) -> tuple[int, uuid.UUID]:
    if cursor[:1] not in ("0", "1"):
        decode_cursor("!")  # the API's refusal of a cursor that is not one
    return int(cursor[0]), decode_cursor(cursor[1:])


def page_of(
    session: Session, stmt: Any, cursor: str, limit: int | None = None
) -> tuple[list[ApprovalRequest], str | None]:
    """One page of requests, those still waiting for a decision first, each part newest
    first (ids are time-ordered), with keyset paging on (waiting, id)."""
    limit = limit or PAGE_SIZE
    now = utcnow()
    rank = _rank(now)
    if cursor:
        r, last = _decode(cursor)
        stmt = stmt.where(or_(rank > r, and_(rank == r, ApprovalRequest.id < last)))
    rows = list(session.scalars(stmt.order_by(rank, ApprovalRequest.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last_req = rows[-1]
        next_cursor = _encode(0 if status_of(last_req, now) == policy.PENDING else 1, last_req.id)
    return rows, next_cursor


# -- the list -------------------------------------------------------------------------------------

#: the columns the list sorts by (by the header's link), besides "status" (the default:
#: waiting first, each part newest first — ``_rank``)
_SORTS: dict[str, Any] = {
    "change": ApprovalRequest.event,
    "target": func.lower(ApprovalRequest.target_name),
    "requested_by": func.lower(ApprovalRequest.requester_name),
    "requested": ApprovalRequest.created_at,
    "decide_before": ApprovalRequest.expires_at,
}


def _policies(ctx: Ctx) -> list[tuple[str, list[tuple[str, str]]]] | None:
    """Each active partner's change-control policy, for reviewers over the whole tenant
    (the links are tenant-level objects)."""
    if not ctx.access.tenant_wide(P.APPROVALS_REVIEW):
        return None
    rows = ctx.session.execute(
        select(Tenant.name, PartnerLink.approval_policy)
        .join(Tenant, Tenant.id == PartnerLink.partner_tenant_id)
        .where(PartnerLink.tenant_id == ctx.tenant_id, live_link(utcnow()))
        .order_by(Tenant.name)
    ).all()
    return [(name, [(EVENT_NAMES[e], (pol or {}).get(e, "auto")) for e in EVENTS]) for name, pol in rows]


def _filter_choices(ctx: Ctx) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Partners and rooms to filter by: those of the requests this reviewer may see, so the
    choices reveal nothing the list would not."""
    seen = visibility.customer_query(ctx.access).with_only_columns(
        ApprovalRequest.partner_tenant_id, ApprovalRequest.room_id
    )
    pairs = ctx.session.execute(seen.distinct()).all()
    partner_ids = {p for p, _ in pairs}
    room_ids = {r for _, r in pairs if r is not None}
    partners = sorted(partner_names(ctx.session, partner_ids).items(), key=lambda kv: kv[1].lower())
    rooms = []
    if room_ids:
        rows = ctx.session.execute(
            select(Room.id, Room.name).where(Room.tenant_id == ctx.tenant_id, Room.id.in_(room_ids))
        ).all()
        rooms = sorted(rows, key=lambda r: r[1].lower())
    return [(str(i), n) for i, n in partners], [(str(i), n) for i, n in rooms]


def room_names(session: Session, tenant_id: uuid.UUID, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    stmt = select(Room.id, Room.name).where(Room.tenant_id == tenant_id, Room.id.in_(ids))
    return dict(session.execute(stmt).all())


@pages.get("/t/{tenant_id}/approvals", name="portal.approvals")
def approvals_page(
    ctx: TenantCtx,
    status: str = Query("", max_length=20),
    event: str = Query("", max_length=40),
    partner: str = Query("", max_length=36),
    room: str = Query("", max_length=36),
    sort: str = Query("", max_length=20),
    page: str = Query("", max_length=9),
    decided: str = Query("", max_length=40),
) -> Response:
    return _list(ctx, status, event, partner, room, sort, page, decided=decided)


def _list(
    ctx: Ctx,
    status: str = "",
    event: str = "",
    partner: str = "",
    room: str = "",
    sort: str = "",
    page: str = "",
    *,
    decided: str = "",
    decide_errors: dict[str, str] | None = None,
    decide_values: dict[str, Any] | None = None,
) -> Response:
    visibility.require_reviewer(ctx.access)
    errors: dict[str, str] = {}
    if status and status not in STATUS_NAMES:
        errors["status"] = "Choose a status from the list."
    if event and event not in EVENT_NAMES:
        errors["event"] = "Choose a kind of change from the list."
    partner_id, room_id = parse_uuid(partner), parse_uuid(room)
    if partner and partner_id is None:
        errors["partner"] = "Choose a partner from the list."
    if room and room_id is None:
        errors["room"] = "Choose a room from the list."
    filters = {"status": status, "event": event, "partner": partner, "room": room}
    listing = Listing.read(filters, columns=("status", *_SORTS), default="status", sort=sort, page=page)
    found = Found([], 0, 1, 1)
    now = utcnow()
    if not errors:
        stmt = visibility.customer_query(
            ctx.access, status=status or None, event=event or None, partner_id=partner_id, room_id=room_id
        )
        keys = {"status": (_rank(now), ApprovalRequest.id.desc()), **_SORTS}
        found = fetch(ctx.session, stmt, listing, keys, ApprovalRequest.id, PAGE_SIZE)
    items: list[ApprovalRequest] = found.items
    partners, rooms = _filter_choices(ctx)
    named = room_names(ctx.session, ctx.tenant_id, {r.room_id for r in items if r.room_id is not None})
    return ctx.page(
        "approvals.html",
        current="approvals",
        status=422 if errors or decide_errors else 200,
        decided=_decided_notice(decided),
        decide_errors=decide_errors or {},
        decide_values=decide_values or {"requests": [], "reason": ""},
        items=[(r, status_of(r, now)) for r in items],
        #: what each request changes, in names ("Update ring: Default → Pilot")
        changes={r.id: diff_rows(r, named.get(r.room_id) if r.room_id else None, ctx.session) for r in items},
        listing=listing,
        found=found,
        errors=errors,
        filters=filters,
        query={k: v for k, v in filters.items() if v},
        partner_names=partner_names(ctx.session, {r.partner_tenant_id for r in items}),
        partner_choices=partners,
        room_choices=rooms,
        status_names=STATUS_NAMES,
        event_names=EVENT_NAMES,
        action_names=ACTION_NAMES,
        policies=_policies(ctx),
    )


def _decided_notice(decided: str) -> str:
    """``approved-3-1``: three approved, one of them failed; ``rejected-2``."""
    kind, _, rest = decided.partition("-")
    counts = [int(n) for n in rest.split("-") if n.isdigit()]
    if kind not in ("approved", "rejected") or not counts:
        return ""
    done, failed = counts[0], (counts[1] if len(counts) > 1 else 0)
    text_ = f"{done} {'request' if done == 1 else 'requests'} {kind}."
    if failed:
        text_ += f" {failed} of them could not be applied: open {'it' if failed == 1 else 'them'} to see why."
    return text_


@pages.post("/t/{tenant_id}/approvals/decide", name="portal.approvals_decide")
@audited(Category.APPROVAL_REQUEST, Operation.APPROVE)
def approvals_decide(ctx: TenantCtx, form: FormDep) -> Response:
    """Approve or reject the chosen requests at once, each through the service of the single
    decision; a choice that cannot be decided (not visible, no longer waiting) refuses the
    whole form and nothing is decided."""
    chosen = list(dict.fromkeys(ids(form, "requests")))
    decision = text(form, "decision", 10)
    values = {"requests": [str(i) for i in chosen], "reason": text(form, "reason", 2000)}
    errors: dict[str, str] = {}
    if not chosen:
        errors["requests"] = "Choose at least one request."
    if decision not in ("approve", "reject"):
        errors["requests"] = "Choose Approve chosen or Reject chosen."
    try:
        if errors:
            raise FieldErrors(errors)
        outcomes = []
        for request_id in chosen:
            if decision == "approve":
                outcomes.append(service.approve(ctx.session, ctx.access, request_id))
            else:
                body = validate(RejectBody, {"reason": values["reason"]})
                outcomes.append(service.reject(ctx.session, ctx.access, request_id, body.reason))
    except AppError as exc:
        errors = errors or errors_of(exc, "requests")
        if "reason" in errors:
            errors["reason"] = "Give a reason for the rejection: the partner is told it."
        raise FormRefused(
            exc, lambda s: _list(ctx.with_session(s), decide_errors=errors, decide_values=values)
        ) from exc
    failed = sum(1 for o in outcomes if o.problem is not None)
    kind = "approved" if decision == "approve" else "rejected"
    return redirect(ctx.url("approvals") + f"?decided={kind}-{len(outcomes)}-{failed}")


# -- one request ----------------------------------------------------------------------------------


def _detail(
    ctx: Ctx, request_id: uuid.UUID, values: dict[str, str], errors: dict[str, str], done: str = ""
) -> Response:
    req = visibility.customer_request(ctx.session, ctx.access, request_id)
    rooms = room_names(ctx.session, ctx.tenant_id, {req.room_id} if req.room_id is not None else set())
    state = status_of(req)
    return ctx.page(
        "approvals_detail.html",
        current="approvals",
        status=422 if errors else 200,  # a refusal's own status replaces it (FormRefused)
        req=req,
        state=state,
        rows=diff_rows(req, rooms.get(req.room_id) if req.room_id else None, ctx.session),
        partner_name=partner_names(ctx.session, {req.partner_tenant_id}).get(req.partner_tenant_id, ""),
        room_link=ctx.link("room", room_id=str(req.room_id)) if req.room_id in rooms else None,
        result_link=_result_link(ctx, req),
        status_names=STATUS_NAMES,
        event_names=EVENT_NAMES,
        action_names=ACTION_NAMES,
        target_names=TARGET_NAMES,
        may_decide=state == policy.PENDING,
        values=values,
        errors=errors,
        done=done,
    )


def _result_link(ctx: Ctx, req: ApprovalRequest) -> str | None:
    """The ticket an approved incident opened, when the reviewer may see tickets."""
    if (
        req.status == "approved"
        and req.result_id
        and req.action == "incident.create"
        and ctx.may(P.TICKETS_VIEW)
    ):
        return ctx.link("ticket", ticket_id=str(req.result_id))
    return None


@pages.get("/t/{tenant_id}/approvals/{request_id}", name="portal.approval")
def approval_page(ctx: TenantCtx, request_id: uuid.UUID, done: str = Query("", max_length=20)) -> Response:
    return _detail(ctx, request_id, {}, {}, done)


def _decided(ctx: Ctx, outcome: service.Outcome, done: str) -> Response:
    """After a decision: the request's page. A decision that ended the request otherwise
    (failed: the partner may no longer make the change or its target changed; expired) is
    committed all the same, and the page says why in the API's words."""
    if outcome.problem is not None:
        done = "failed" if outcome.request.status == "failed" else "expired"
    return redirect(ctx.url("approval", request_id=str(outcome.request.id)) + f"?done={done}")


@pages.post("/t/{tenant_id}/approvals/{request_id}/approve", name="portal.approval_approve")
@audited(Category.APPROVAL_REQUEST, Operation.APPROVE)
def approval_approve(ctx: TenantCtx, request_id: uuid.UUID) -> Response:
    try:
        outcome = service.approve(ctx.session, ctx.access, request_id)
    except AppError as exc:
        errors = errors_of(exc)
        raise FormRefused(exc, lambda s: _detail(ctx.with_session(s), request_id, {}, errors)) from exc
    return _decided(ctx, outcome, "approved")


@pages.post("/t/{tenant_id}/approvals/{request_id}/reject", name="portal.approval_reject")
@audited(Category.APPROVAL_REQUEST, Operation.REJECT)
def approval_reject(ctx: TenantCtx, request_id: uuid.UUID, form: FormDep) -> Response:
    values = {"reason": text(form, "reason", 2000)}
    try:
        visibility.customer_request(ctx.session, ctx.access, request_id)  # 404 before any field error
        body = validate(RejectBody, values)
        outcome = service.reject(ctx.session, ctx.access, request_id, body.reason)
    except AppError as exc:
        errors = errors_of(exc)
        if "reason" in errors:
            errors["reason"] = "Give a reason for the rejection: the partner is told it."
        raise FormRefused(exc, lambda s: _detail(ctx.with_session(s), request_id, values, errors)) from exc
    return _decided(ctx, outcome, "rejected")
