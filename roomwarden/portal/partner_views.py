"""The partner's views across its customers (SPEC §4 "Partner portal view"): All tickets
(``partners.tickets.aggregate_query``, where the customer enabled the all tickets view),
All rooms and Customer health (``partners.overview``) — the services of
``/api/v1/partner/tickets``, ``/rooms`` and ``/reports/health``, so each customer's part is
exactly what the user may read under that customer's own pages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Query, Response

from roomwarden.access.resolver import linked_customers
from roomwarden.kit.pagination import PageParams, paginate
from roomwarden.partners import overview, tickets
from roomwarden.partners.schemas import PartnerHealthReport
from roomwarden.portal.partner_side import PartnerCtx, PartnerCtxDep
from roomwarden.portal.urls import path_for
from roomwarden.portal.web import parse_uuid, portal_router
from roomwarden.rooms.models import HEALTH_STATES, TICKET_STATUSES, Room, Ticket

pages = portal_router()
PAGE_SIZE = 50


def _customer_filter(value: str, errors: dict[str, str]) -> uuid.UUID | None:
    customer_id = parse_uuid(value)
    if value and customer_id is None:
        errors["customer"] = "Choose a customer from the list."
    return customer_id


def _query(**filters: str) -> str:
    return urlencode({k: v for k, v in filters.items() if v})


def _customers(pctx: PartnerCtx) -> list[tuple[str, str]]:
    return [(str(tid), name) for _, tid, name in linked_customers(pctx.session, pctx.principal)]


def _filtered_list(
    pctx: PartnerCtx,
    template: str,
    current: str,
    *,
    filters: dict[str, str],
    errors: dict[str, str],
    rows: list[Any],
    next_cursor: str | None,
    cursor: str,
    **context: Any,
) -> Response:
    """A filtered, paged list page: 422 with the filter's message for a bad filter."""
    return pctx.page(
        template,
        current=current,
        status=422 if errors else 200,
        rows=rows,
        next_cursor=next_cursor,
        first_page=bool(cursor),
        errors=errors,
        filters=filters,
        any_filter=any(filters.values()),
        query=_query(**filters),
        next_query=_query(**filters, cursor=next_cursor or ""),
        customers=_customers(pctx),
        **context,
    )


# -- All tickets -------------------------------------------------------------------------------


@pages.get("/partner/tickets", name="portal.partner_tickets")
def all_tickets(
    pctx: PartnerCtxDep,
    customer: str = Query("", max_length=36),
    status: str = Query("", max_length=20),
    cursor: str = Query("", max_length=64),
) -> Response:
    errors: dict[str, str] = {}
    customer_id = _customer_filter(customer, errors)
    if status and status not in TICKET_STATUSES:
        errors["status"] = "Choose a status from the list."
    names: dict[uuid.UUID, str] = {}
    rows, next_cursor = [], None
    if not errors:
        stmt, names = tickets.aggregate_query(pctx.session, pctx.principal, customer_id, status or None)
        page = paginate(
            pctx.session, stmt, Ticket.id, PageParams(limit=PAGE_SIZE, cursor=cursor or None), lambda t: t
        )
        app = pctx.request.app
        rows = [
            (
                t,
                names[t.tenant_id],
                path_for(app, "portal.ticket", tenant_id=str(t.tenant_id), ticket_id=str(t.id)),
            )
            for t in page.items
        ]
        next_cursor = page.next_cursor
    return _filtered_list(
        pctx,
        "partner/tickets.html",
        "all_tickets",
        filters={"customer": customer, "status": status},
        errors=errors,
        rows=rows,
        next_cursor=next_cursor,
        cursor=cursor,
        statuses=TICKET_STATUSES,
        left_out=tickets.left_out(pctx.session, pctx.principal),
    )


# -- All rooms ---------------------------------------------------------------------------------


@pages.get("/partner/rooms", name="portal.partner_rooms")
def all_rooms(
    pctx: PartnerCtxDep,
    customer: str = Query("", max_length=36),
    health: str = Query("", max_length=20),
    cursor: str = Query("", max_length=64),
) -> Response:
    errors: dict[str, str] = {}
    customer_id = _customer_filter(customer, errors)
    if health and health not in HEALTH_STATES:
        errors["health"] = "Choose a health state from the list."
    rows, withheld, next_cursor = [], [], None
    if not errors:
        view = overview.customer_view(pctx.session, pctx.principal, customer_id)
        page = paginate(
            pctx.session,
            overview.rooms_query(view, health or None),
            Room.id,
            PageParams(limit=PAGE_SIZE, cursor=cursor or None),
            lambda r: r,
        )
        app = pctx.request.app
        rows = [
            (
                r,
                view.names[r.tenant_id],
                path_for(app, "portal.room", tenant_id=str(r.tenant_id), room_id=str(r.id)),
            )
            for r in page.items
        ]
        withheld = sorted(view.names[t] for t in view.mfa_withheld)
        next_cursor = page.next_cursor
    return _filtered_list(
        pctx,
        "partner/rooms.html",
        "all_rooms",
        filters={"customer": customer, "health": health},
        errors=errors,
        rows=rows,
        next_cursor=next_cursor,
        cursor=cursor,
        withheld=withheld,
        health_states=HEALTH_STATES,
    )


# -- Customer health ---------------------------------------------------------------------------

LABEL_WIDTH = 180
BAR_WIDTH = 380
ROW = 30


@dataclass(frozen=True)
class Segment:
    state: str
    value: int
    x: int
    width: int


@dataclass(frozen=True)
class StackedBar:
    label: str
    total: int
    y: int
    segments: list[Segment]
    end: int


@dataclass(frozen=True)
class StackedChart:
    bars: list[StackedBar]
    height: int
    label_width: int = LABEL_WIDTH
    bar_width: int = BAR_WIDTH


def stacked_chart(rows: list[tuple[str, dict[str, int]]]) -> StackedChart:
    """One bar per customer, split by health state, scaled to the largest total."""
    top = max((sum(counts.values()) for _, counts in rows), default=0) or 1
    bars = []
    for i, (label, counts) in enumerate(rows):
        x, segments = LABEL_WIDTH, []
        for state in HEALTH_STATES:
            width = round(BAR_WIDTH * counts.get(state, 0) / top)
            if counts.get(state, 0):
                segments.append(Segment(state, counts[state], x, width))
            x += width
        bars.append(StackedBar(label, sum(counts.values()), i * ROW + 6, segments, x))
    return StackedChart(bars=bars, height=max(1, len(bars)) * ROW + 12)


@pages.get("/partner/health", name="portal.partner_health")
def customer_health(pctx: PartnerCtxDep) -> Response:
    report: PartnerHealthReport = overview.health_report(
        pctx.session, overview.customer_view(pctx.session, pctx.principal)
    )
    chart = stacked_chart([(c.customer_name, c.rooms_by_health) for c in report.customers])
    app = pctx.request.app
    reports = {
        c.customer_id: path_for(app, "portal.reports", tenant_id=str(c.customer_id)) for c in report.customers
    }
    return pctx.page(
        "partner/health.html",
        current="customer_health",
        report=report,
        chart=chart,
        states=HEALTH_STATES,
        reports=reports,
    )
