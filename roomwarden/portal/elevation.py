"""Just-in-time elevation in the portal (SPEC §4, §9): a partner user's eligible roles with
**Activate** (**Minutes**, **Justification**) and **End**; the customer's **End** on a partner's
page. Through the API's services: ``approvals.elevations`` and ``partners.elevation``."""

from __future__ import annotations

import uuid

from fastapi import Query, Response

from roomwarden.approvals import elevations
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.audit.service import Category, Operation
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError
from roomwarden.kit.pagination import PageParams, paginate
from roomwarden.kit.time import utcnow
from roomwarden.partners import elevation
from roomwarden.partners.schemas import ActivationCreate, ActivationRead
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.forms import errors_of, text, validate
from roomwarden.portal.partner_side import PartnerCtx, PartnerCtxDep
from roomwarden.portal.web import FormRefused, portal_router, redirect

pages = portal_router()
NOTICES = {
    "activated": "The role is active: you hold it until the end shown.",
    "held": "The activation waits for the customer's approval: the role is yours from its approval on.",
    "ended": "The activation was ended: the role is no longer yours.",
}


def _whole(value: str) -> int | str:
    return int(value) if value.isdigit() and len(value) < 6 else value


def _page(
    pctx: PartnerCtx,
    done: str = "",
    values: dict[str, dict[str, str]] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
) -> Response:
    page = paginate(
        pctx.session,
        elevation.eligible_query(pctx.principal),
        elevation.ELIGIBLE_KEY,
        PageParams(limit=100, cursor=None),
        lambda a: a,
    )
    items = elevation.eligible_reads(pctx.session, pctx.principal, page.items)
    return pctx.page(
        "partner/elevation.html",
        current=None,
        status=422 if errors else 200,
        items=items,
        values=values or {},
        errors=errors or {},
        notice_text=NOTICES.get(done, ""),
    )


@pages.get("/partner/elevation", name="portal.partner_elevation")
def eligible_roles(pctx: PartnerCtxDep, done: str = Query("", max_length=20)) -> Response:
    return _page(pctx, done)


@pages.post(
    "/partner/elevation/{customer_id}/{assignment_id}/activate", name="portal.partner_elevation_activate"
)
@audited(Category.ASSIGNMENT, Operation.UPDATE)
def activate(
    pctx: PartnerCtxDep, customer_id: uuid.UUID, assignment_id: uuid.UUID, form: FormDep
) -> Response:
    pctx.audit_in(customer_id)
    values = {
        "minutes": text(form, "minutes", 10).strip(),
        "justification": text(form, "justification", 1000),
    }
    try:
        body = validate(
            ActivationCreate, {"minutes": _whole(values["minutes"]), "justification": values["justification"]}
        )
        done = elevations.activate(pctx.session, pctx.principal, customer_id, assignment_id, body)
    except AppError as exc:
        errors = {str(assignment_id): errors_of(exc, "minutes")}
        kept = {str(assignment_id): values}
        raise FormRefused(exc, lambda s: _page(pctx.with_session(s), "", kept, errors)) from exc
    held = isinstance(done, ApprovalRequest)
    return redirect(pctx.url("partner_elevation") + ("?done=held" if held else "?done=activated"))


@pages.post(
    "/partner/elevation/{customer_id}/activations/{activation_id}/end", name="portal.partner_elevation_end"
)
@audited(Category.ASSIGNMENT, Operation.UPDATE)
def end_own(pctx: PartnerCtxDep, customer_id: uuid.UUID, activation_id: uuid.UUID) -> Response:
    pctx.audit_in(customer_id)
    elevation.end_early(pctx.session, pctx.principal, customer_id, activation_id)
    return redirect(pctx.url("partner_elevation") + "?done=ended")


@pages.post("/t/{tenant_id}/activations/{activation_id}/end", name="portal.activation_end")
@audited(Category.ASSIGNMENT, Operation.UPDATE)
def end_by_customer(ctx: TenantCtx, activation_id: uuid.UUID) -> Response:
    """The customer ends a partner user's activation from the partner's page."""
    ended = elevation.end_early(ctx.session, ctx.access.principal, ctx.tenant_id, activation_id)
    return redirect(ctx.url("partner", link_id=str(ended.link_id)) + "?done=ended")


def running_of_link(ctx: Ctx, link_id: uuid.UUID) -> list[ActivationRead]:
    """The running activations of a link, for its page (to those who may list them)."""
    try:
        stmt = elevation.activations_query(ctx.session, ctx.access.principal, ctx.tenant_id)
    except AppError:
        return []
    now = utcnow()
    rows = ctx.session.scalars(
        stmt.where(elevation.Elevation.link_id == link_id, elevation.live_elevation(now)).limit(100)
    ).all()
    return elevation.activation_reads(ctx.session, rows, now)
