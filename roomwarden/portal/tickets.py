"""Tickets and customer incidents: the list (Status, Severity), a ticket's page with its
history and a status change with a comment, and a new incident — through
``rooms.tickets``."""

from __future__ import annotations

import uuid

from fastapi import Query, Response
from sqlalchemy import func, select

from roomwarden.access.permissions import Permission as P
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.approvals.service import apply_or_hold
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.models import User
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError, Forbidden
from roomwarden.partners.models import PartnerLink
from roomwarden.portal.choices import rooms_for
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.forms import FieldErrors, errors_of, text, validate
from roomwarden.portal.listing import Key, Listing, fetch
from roomwarden.portal.partner_approvals import held
from roomwarden.portal.web import FormRefused, parse_uuid, portal_router, redirect
from roomwarden.rooms import service, tickets
from roomwarden.rooms.models import TICKET_SEVERITIES, TICKET_SOURCES, TICKET_STATUSES, Room, Ticket
from roomwarden.rooms.schemas import IncidentCreate, TicketUpdateIn
from roomwarden.tenants.models import Tenant

pages = portal_router()
PAGE_SIZE = 50
#: the columns the list sorts by (by the header's link), each with its key
SORTS: dict[str, Key] = {
    "title": func.lower(Ticket.title),
    "status": Ticket.status,
    "severity": Ticket.severity,
    "source": Ticket.source,
    "opened": Ticket.created_at,
}


def _room_names(ctx: Ctx, room_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Names of the tickets' rooms the user may see (a ticket follows its room, but viewing
    the room itself still needs ``rooms.view``)."""
    if not room_ids:
        return {}
    visible = ctx.access.rooms(P.ROOMS_VIEW).clause(Room.id)
    rows = ctx.session.execute(
        select(Room.id, Room.name).where(Room.tenant_id == ctx.tenant_id, Room.id.in_(room_ids), visible)
    )
    return {rid: name for rid, name in rows}


def _partners(ctx: Ctx) -> dict[uuid.UUID, str]:
    """The partner tenants this tenant was ever linked to, by name (their tickets stay)."""
    rows = ctx.session.execute(
        select(Tenant.id, Tenant.name)
        .join(PartnerLink, PartnerLink.partner_tenant_id == Tenant.id)
        .where(PartnerLink.tenant_id == ctx.tenant_id)
        .distinct()
    )
    return dict(sorted(rows, key=lambda row: row[1].lower()))


def _raised_by(
    ctx: Ctx, items: list[Ticket], partners: dict[uuid.UUID, str]
) -> dict[uuid.UUID, tuple[str, str]]:
    """Per ticket: who raised it and, for a partner's user, which partner."""
    ids = {t.created_by_user_id for t in items if t.created_by_user_id}
    users = {u.id: u for u in ctx.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    out = {}
    for t in items:
        user = users.get(t.created_by_user_id) if t.created_by_user_id else None
        if user is None:
            out[t.id] = ("Monitoring" if t.source == "monitoring" else "—", "")
        else:
            out[t.id] = (
                user.display_name,
                partners.get(user.tenant_id, "") if user.tenant_id != ctx.tenant_id else "",
            )
    return out


@pages.get("/t/{tenant_id}/tickets", name="portal.tickets")
def ticket_list(
    ctx: TenantCtx,
    status: str = Query("", max_length=20),
    severity: str = Query("", max_length=20),
    room: str = Query("", max_length=36),
    source: str = Query("", max_length=20),
    partner: str = Query("", max_length=36),
    sort: str = Query("", max_length=20),
    page: str = Query("", max_length=9),
) -> Response:
    """The tickets the user may see, newest first or by the column chosen by its header, with
    the number found and pages that keep filters and sort (``portal.listing``); for the
    tenant's own people also who raised each one and for which partner, filtered by partner
    (a partner user is not told of other partners)."""
    errors: dict[str, str] = {}
    own = not ctx.access.is_partner
    partners = _partners(ctx) if own else {}
    partner_id = parse_uuid(partner)
    if partner and (partner_id is None or partner_id not in partners):
        errors["partner"] = "Choose a partner from the list."
    if source and source not in TICKET_SOURCES:
        errors["source"] = "Choose a source from the list."
    if status and status not in TICKET_STATUSES:
        errors["status"] = "Choose a status from the list."
    if severity and severity not in TICKET_SEVERITIES:
        errors["severity"] = "Choose a severity from the list."
    room_id = parse_uuid(room)
    if room and room_id is None:
        errors["room"] = "The room is not valid."
    filters = {"status": status, "severity": severity, "source": source, "room": room, "partner": partner}
    listing = Listing.read(
        filters, columns=tuple(SORTS), default="opened", default_descending=True, sort=sort, page=page
    )
    found = None
    if not errors:
        stmt = tickets.list_tickets_query(
            ctx.access,
            room_id=room_id,
            status=status or None,
            severity=severity or None,
            source=source or None,
        )
        if partner_id is not None:
            stmt = stmt.where(
                Ticket.created_by_user_id.in_(select(User.id).where(User.tenant_id == partner_id))
            )
        found = fetch(ctx.session, stmt, listing, SORTS, Ticket.id, PAGE_SIZE)
    items = found.items if found else []
    names = _room_names(ctx, {t.room_id for t in items})
    raised = _raised_by(ctx, items, partners) if own else {}
    return ctx.page(
        "tickets/list.html",
        current="tickets",
        status=422 if errors else 200,
        found=found,
        listing=listing,
        errors=errors,
        filters=filters,
        query={k: v for k, v in filters.items() if v},
        room_names=names,
        raised=raised,
        partners=partners,
        own=own,
        statuses=TICKET_STATUSES,
        severities=TICKET_SEVERITIES,
        sources=TICKET_SOURCES,
        may_open=not ctx.access.rooms(P.INCIDENTS_CREATE).is_empty,
    )


def _ticket_page(
    ctx: Ctx, ticket_id: uuid.UUID, values: dict[str, str], errors: dict[str, str], done: str = ""
) -> Response:
    ticket = tickets.visible_ticket(ctx.session, ctx.access, ticket_id)
    history = tickets.history(ctx.session, ticket.id)
    people = {
        u.id: u
        for u in ctx.session.scalars(
            select(User).where(
                User.id.in_(
                    {h.author_user_id for h in history if h.author_user_id}
                    | ({ticket.created_by_user_id} - {None})
                )
            )
        )
    }
    orgs = {
        t.id: t.name
        for t in ctx.session.scalars(
            select(Tenant).where(Tenant.id.in_({u.tenant_id for u in people.values()}))
        )
    }
    may_update = service.room_allows(ctx.session, ctx.access.rooms(P.TICKETS_UPDATE), ticket.room_id)
    options = [s for s in TICKET_STATUSES if s == ticket.status or s in tickets.TRANSITIONS[ticket.status]]
    return ctx.page(
        "tickets/detail.html",
        current="tickets",
        status=422 if errors else 200,
        ticket=ticket,
        history=history,
        people=people,
        orgs=orgs,
        home_tenant=ctx.tenant_id,
        room_name=_room_names(ctx, {ticket.room_id}).get(ticket.room_id),
        may_update=may_update and ticket.status != "closed",
        status_options=options,
        values=values or {"status": ticket.status},
        errors=errors,
        done=done,
    )


@pages.get("/t/{tenant_id}/tickets/{ticket_id}", name="portal.ticket")
def ticket_page(ctx: TenantCtx, ticket_id: uuid.UUID, done: str = "") -> Response:
    return _ticket_page(ctx, ticket_id, {}, {}, done)


@pages.post("/t/{tenant_id}/tickets/{ticket_id}")
@audited(Category.TICKET, Operation.UPDATE)
def ticket_update(ctx: TenantCtx, ticket_id: uuid.UUID, form: FormDep) -> Response:
    values = {"status": text(form, "status", 20), "comment": text(form, "comment")}
    data = {k: v for k, v in values.items() if v.strip()}
    try:
        current = tickets.visible_ticket(ctx.session, ctx.access, ticket_id)
        if data.get("status") == current.status:
            data.pop("status")  # the status shown is the current one: the change is the comment
        if not data:
            raise FieldErrors({"comment": "Choose a new status or write a comment."})
        done = apply_or_hold(
            ctx.session, ctx.access, "ticket.update", validate(TicketUpdateIn, data), ticket_id=ticket_id
        )
    except AppError as exc:
        errors = errors_of(exc, "status" if exc.status == 409 else None)
        raise FormRefused(
            exc, lambda s: _ticket_page(ctx.with_session(s), ticket_id, values, errors)
        ) from exc
    if isinstance(done, ApprovalRequest):
        return held(ctx.request, done)
    return redirect(ctx.url("ticket", ticket_id=str(ticket_id)) + "?done=updated")


def _incident_form(ctx: Ctx, values: dict[str, str], errors: dict[str, str]) -> Response:
    choices = rooms_for(ctx.session, ctx.access, P.INCIDENTS_CREATE)
    if not choices and ctx.access.rooms(P.INCIDENTS_CREATE).is_empty:
        raise Forbidden("incidents.create is required")
    return ctx.page(
        "tickets/new.html",
        current="tickets",
        status=422 if errors else 200,
        values=values,
        errors=errors,
        room_choices=choices,
        severities=TICKET_SEVERITIES,
    )


@pages.get("/t/{tenant_id}/incidents/new", name="portal.incident_new")
def incident_new(ctx: TenantCtx, room_id: str = Query("", max_length=36)) -> Response:
    return _incident_form(ctx, {"room_id": room_id, "severity": "warning"}, {})


@pages.post("/t/{tenant_id}/incidents/new")
@audited(Category.TICKET, Operation.CREATE)
def incident_create(ctx: TenantCtx, form: FormDep) -> Response:
    values = {f: text(form, f) for f in ("room_id", "title", "description", "severity")}
    try:
        data = validate(IncidentCreate, {k: v for k, v in values.items() if v or k == "description"})
        ticket = apply_or_hold(ctx.session, ctx.access, "incident.create", data)
    except AppError as exc:
        errors = errors_of(exc, "room_id" if exc.status == 403 else None)
        raise FormRefused(exc, lambda s: _incident_form(ctx.with_session(s), values, errors)) from exc
    if isinstance(ticket, ApprovalRequest):
        return held(ctx.request, ticket)
    return redirect(ctx.url("ticket", ticket_id=str(ticket.id)) + "?done=created")
