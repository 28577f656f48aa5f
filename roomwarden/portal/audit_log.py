"""The audit log (SPEC §6, §9): the tenant's records newest first (or by the column chosen by
its header) with the API's filters and date range (**From**, **To**), the number found and
pages of 50; **Export CSV** downloads what the filters select through the API's own export
(and is recorded in the log like the API's); **Verify** walks the chain and says the result
in words. Everything is behind ``audit.export`` over all rooms, the API's rule
(``Access.require_tenant_wide``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Query, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from roomwarden.access.permissions import Permission as P
from roomwarden.audit import queries
from roomwarden.audit.models import AuditRecord
from roomwarden.audit.service import Category, Operation
from roomwarden.audit.verify import verify_chain
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError, Invalid
from roomwarden.partners.models import PartnerLink
from roomwarden.portal.deps import Ctx, TenantCtx
from roomwarden.portal.forms import errors_of
from roomwarden.portal.listing import Found, Key, Listing, fetch
from roomwarden.portal.web import FormRefused, portal_router, sentence
from roomwarden.tenants.models import Tenant

pages = portal_router()
PAGE_SIZE = 50
RESULTS = ("Successful", "Failed")


def _gate(ctx: Ctx) -> None:
    """The API's rule for every audit endpoint."""
    ctx.access.require_tenant_wide(P.AUDIT_EXPORT, "audit log")


@dataclass
class Filters:
    """The filters as typed (kept on every page and link), and their errors."""

    start: str = ""
    end: str = ""
    category: str = ""
    result: str = ""
    user: str = ""
    partner: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def query(self, **extra: str) -> dict[str, str]:
        values = {
            "start": self.start,
            "end": self.end,
            "category": self.category,
            "result": self.result,
            "user": self.user,
            "partner": self.partner,
            **extra,
        }
        return {k: v for k, v in values.items() if v}

    def values(self) -> dict[str, str]:
        return self.query()

    def range(self) -> tuple[datetime, datetime]:
        """The API's date range; an error names its field (From or To)."""
        lo = self._when(self.start, "start", end=False)
        hi = self._when(self.end, "end", end=True)
        try:
            return queries.date_range(lo, hi)
        except Invalid as exc:
            self.errors["end" if "before" in exc.detail else "start"] = _field_message(exc.detail)
            raise

    def _when(self, value: str, name: str, *, end: bool) -> datetime | None:
        try:
            return queries.parse_when(value, name, end=end)
        except Invalid as exc:
            self.errors[name] = _field_message(exc.detail)
            raise

    def api_filters(self) -> queries.Filters:
        category = Category(self.category) if self.category in set(Category) else None
        result = self.result if self.result in RESULTS else None
        try:
            partner = uuid.UUID(self.partner) if self.partner else None
        except ValueError:
            partner = None
        return queries.Filters(category, result, None, self.user.strip() or None, partner)


def _field_message(detail: str) -> str:
    """The service's message with the form's labels: ``start`` is From, ``end`` is To."""
    text = detail.replace("start", "From").replace("end ", "To ").replace("end must", "To must")
    return sentence(text)


def _filters(start: str, end: str, category: str, result: str, user: str, partner: str) -> Filters:
    return Filters(start.strip(), end.strip(), category, result, user.strip(), partner)


def _partner_choices(ctx: Ctx) -> list[tuple[str, str]]:
    """The partner tenants this tenant was ever linked to (their users' records stay)."""
    rows = ctx.session.execute(
        select(Tenant.id, Tenant.name)
        .join(PartnerLink, PartnerLink.partner_tenant_id == Tenant.id)
        .where(PartnerLink.tenant_id == ctx.tenant_id)
        .distinct()
        .order_by(Tenant.name)
    ).all()
    return [(str(tid), name) for tid, name in rows]


#: the columns the log sorts by (by the header's link); "time" (the default) is newest first
SORTS: dict[str, Key] = {
    "time": AuditRecord.seq,
    "category": AuditRecord.category,
    "operation": AuditRecord.operation,
    "object": func.lower(AuditRecord.object_name),
    "result": AuditRecord.result_status,
    "actor": func.lower(AuditRecord.user_upn),
}


def _page(
    ctx: Ctx,
    f: Filters,
    sort: str = "",
    page: str = "",
    verified: Any = None,
    status: int = 200,
) -> Response:
    _gate(ctx)
    listing = Listing.read(
        f.values(), columns=tuple(SORTS), default="time", default_descending=True, sort=sort, page=page
    )
    found = Found([], 0, 1, 1)
    if not f.errors:
        try:
            lo, hi = f.range()
        except Invalid:
            status = 422
        else:
            stmt = queries.records_query(ctx.tenant_id, lo, hi, filters=f.api_filters())
            found = fetch(ctx.session, stmt, listing, SORTS, AuditRecord.seq, PAGE_SIZE)
    elif status == 200:
        status = 422
    return ctx.page(
        "audit/log.html",
        current="audit_log",
        status=status,
        f=f,
        values=f.values(),
        errors=f.errors,
        records=found.items,
        found=found,
        listing=listing,
        verified=verified,
        categories=[(c.value, c.value) for c in Category],
        results=[(r, r) for r in RESULTS],
        partners=_partner_choices(ctx),
    )


@pages.get("/t/{tenant_id}/audit-log", name="portal.audit_log")
def audit_log(
    ctx: TenantCtx,
    start: str = Query("", max_length=64),
    end: str = Query("", max_length=64),
    category: str = Query("", max_length=64),
    result: str = Query("", max_length=64),
    user: str = Query("", max_length=320),
    partner: str = Query("", max_length=64),
    sort: str = Query("", max_length=20),
    page: str = Query("", max_length=9),
    verify: str = Query("", max_length=1),
) -> Response:
    _gate(ctx)
    verified = verify_chain(ctx.session, ctx.tenant_id) if verify else None
    return _page(ctx, _filters(start, end, category, result, user, partner), sort, page, verified)


@pages.get("/t/{tenant_id}/audit-log/export", name="portal.audit_log_export")
@audited(Category.AUDIT_LOG, Operation.READ)
def audit_log_export(
    ctx: TenantCtx,
    start: str = Query("", max_length=64),
    end: str = Query("", max_length=64),
    category: str = Query("", max_length=64),
    result: str = Query("", max_length=64),
    user: str = Query("", max_length=320),
    partner: str = Query("", max_length=64),
) -> Response:
    """The API's export of what the page shows: the From/To range and every filter (Category,
    Result, User, Partner tenant). Recorded before it streams, as the API's."""
    f = _filters(start, end, category, result, user, partner)
    try:
        _gate(ctx)
        lo, hi = f.range()
    except AppError as exc:
        if exc.status != 422:
            raise
        errors = f.errors or errors_of(exc, "start")
        raise FormRefused(exc, lambda s: _page(ctx.with_session(s), _again(f, errors))) from exc
    ctx.access.audit(
        ctx.session,
        Category.AUDIT_LOG,
        Operation.READ,
        "audit log export",
        details={
            "start": lo.isoformat(),
            "end": hi.isoformat(),
            "via": "portal",
            **f.api_filters().described(),
        },
    )
    name = f"audit-{ctx.tenant_id}-{lo:%Y%m%d}-{hi:%Y%m%d}.csv"
    return StreamingResponse(
        queries.export_csv(ctx.request.app.state.db, ctx.tenant_id, lo, hi, filters=f.api_filters()),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _again(f: Filters, errors: dict[str, str]) -> Filters:
    return Filters(f.start, f.end, f.category, f.result, f.user, f.partner, dict(errors))
