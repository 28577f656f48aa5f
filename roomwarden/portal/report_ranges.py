"""Reports › Health and Reports › Usage (SPEC §12): the API's reports over From–To
(room-local days), drawn as SVG charts with every figure in a table beside them, and Export CSV
of the per-room table — for a customer's ``reports.view`` rooms, and on the partner side per
customer and in total."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import Query, Response

from roomwarden.kit.errors import AppError
from roomwarden.kit.time import utcnow
from roomwarden.partners import overview
from roomwarden.portal.deps import TenantCtx
from roomwarden.portal.forms import errors_of
from roomwarden.portal.partner_side import PartnerCtxDep
from roomwarden.portal.report_charts import (
    health_columns,
    health_summary,
    top_bars,
    usage_columns,
    usage_summary,
)
from roomwarden.portal.web import portal_router
from roomwarden.reports import csvout, service
from roomwarden.reports.span import Span, span

pages = portal_router()


@dataclass
class Dates:
    """The From and To of the form, as typed, and the range they give (or why not)."""

    start: str
    end: str
    errors: dict[str, str] = field(default_factory=dict)
    range: Span | None = None

    @property
    def values(self) -> dict[str, str]:
        return {"start": self.start, "end": self.end}

    @property
    def query(self) -> dict[str, str]:
        if self.range is None:
            return {}
        return {"start": self.range.start.isoformat(), "end": self.range.end.isoformat()}


def _day(value: str, name: str, label: str, errors: dict[str, str]) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors[name] = f"{label} must be a date such as 2026-01-31."
        return None


def dates(start: str, end: str) -> Dates:
    d = Dates(start, end)
    lo, hi = _day(start, "start", "From", d.errors), _day(end, "end", "To", d.errors)
    if d.errors:
        return d
    try:
        d.range = span(lo, hi, utcnow())
    except AppError as exc:
        message = exc.detail.replace("start", "From").replace("end", "To")
        d.errors.update(errors_of(AppError(message, field=exc.field)))
        return d
    d.start, d.end = d.range.start.isoformat(), d.range.end.isoformat()
    return d


def _csv(body: str, name: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _tabs(url: Callable[..., str], *, partner: bool) -> dict[str, Any]:
    """The Reports pages' own navigation (the customer's overview, Health, Usage)."""
    prefix = "partner_reports" if partner else "reports"
    return {
        "partner": partner,
        "overview": None if partner else url("reports"),
        "health": url(f"{prefix}_health"),
        "usage": url(f"{prefix}_usage"),
        "csv_health": url(f"{prefix}_health_csv"),
        "csv_usage": url(f"{prefix}_usage_csv"),
    }


def _refused(
    page: Any, url: Callable[..., str], template: str, d: Dates, *, partner: bool, current: str
) -> Response:
    """The page again with From and To as typed and what is wrong with them (422)."""
    return page(
        template,
        current=current,
        status=422,
        errors=d.errors,
        values=d.values,
        query={},
        report=None,
        **_tabs(url, partner=partner),
    )


#: the charts beside each report's tables: per-day columns and their summary
CHARTS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "health": (health_columns, health_summary),
    "usage": (usage_columns, usage_summary),
}


def _report_page(
    page: Any,
    url: Callable[..., str],
    kind: str,
    d: Dates,
    report: Any,
    bars: Any,
    *,
    partner: bool,
    current: str,
) -> Response:
    """A report drawn: its charts, its tables, From and To, and the Reports pages' tabs."""
    columns, summary = CHARTS[kind]
    return page(
        f"reports/{kind}.html",
        current=current,
        errors={},
        values=d.values,
        query=d.query,
        report=report,
        columns=columns(report.days),
        summary=summary(report.days),
        bars=bars,
        **_tabs(url, partner=partner),
    )


# -- a customer's reports -------------------------------------------------------------------


@pages.get("/t/{tenant_id}/reports/health", name="portal.reports_health")
def health_page(
    ctx: TenantCtx, start: str = Query("", max_length=32), end: str = Query("", max_length=32)
) -> Response:
    d = dates(start, end)
    if d.range is None:
        service.require_reports(ctx.access)
        return _refused(ctx.page, ctx.url, "reports/health.html", d, partner=False, current="reports")
    report = service.health(ctx.session, ctx.access, d.range, utcnow())
    bars = top_bars([(r.room_name, r.unhealthy_days) for r in report.rooms], "bar-unhealthy")
    return _report_page(ctx.page, ctx.url, "health", d, report, bars, partner=False, current="reports")


@pages.get("/t/{tenant_id}/reports/health.csv", name="portal.reports_health_csv")
def health_csv(
    ctx: TenantCtx, start: str = Query("", max_length=32), end: str = Query("", max_length=32)
) -> Response:
    d = dates(start, end)
    if d.range is None:
        service.require_reports(ctx.access)
        return _refused(ctx.page, ctx.url, "reports/health.html", d, partner=False, current="reports")
    report = service.health(ctx.session, ctx.access, d.range, utcnow())
    return _csv(csvout.health_csv(report), f"health-{report.start}-{report.end}")


@pages.get("/t/{tenant_id}/reports/usage", name="portal.reports_usage")
def usage_page(
    ctx: TenantCtx, start: str = Query("", max_length=32), end: str = Query("", max_length=32)
) -> Response:
    d = dates(start, end)
    if d.range is None:
        service.require_reports(ctx.access)
        return _refused(ctx.page, ctx.url, "reports/usage.html", d, partner=False, current="reports")
    report = service.usage_report(ctx.session, ctx.access, d.range, utcnow())
    bars = top_bars([(r.room_name, r.hours) for r in report.rooms], "bar-country")
    return _report_page(ctx.page, ctx.url, "usage", d, report, bars, partner=False, current="reports")


@pages.get("/t/{tenant_id}/reports/usage.csv", name="portal.reports_usage_csv")
def usage_csv(
    ctx: TenantCtx, start: str = Query("", max_length=32), end: str = Query("", max_length=32)
) -> Response:
    d = dates(start, end)
    if d.range is None:
        service.require_reports(ctx.access)
        return _refused(ctx.page, ctx.url, "reports/usage.html", d, partner=False, current="reports")
    report = service.usage_report(ctx.session, ctx.access, d.range, utcnow())
    return _csv(csvout.usage_csv(report), f"usage-{report.start}-{report.end}")


# -- the partner's reports across customers ----------------------------------------------------


@pages.get("/partner/reports/health", name="portal.partner_reports_health")
def partner_health_page(
    pctx: PartnerCtxDep, start: str = Query("", max_length=32), end: str = Query("", max_length=32)
) -> Response:
    d = dates(start, end)
    if d.range is None:
        return _refused(
            pctx.page, pctx.url, "reports/health.html", d, partner=True, current="partner_reports"
        )
    view = overview.customer_view(pctx.session, pctx.principal)
    report = service.partner_health(pctx.session, view, d.range, utcnow())
    bars = top_bars([(c.customer_name, c.unhealthy_room_days) for c in report.customers], "bar-unhealthy")
    return _report_page(
        pctx.page, pctx.url, "health", d, report, bars, partner=True, current="partner_reports"
    )


@pages.get("/partner/reports/health.csv", name="portal.partner_reports_health_csv")
def partner_health_csv(
    pctx: PartnerCtxDep, start: str = Query("", max_length=32), end: str = Query("", max_length=32)
) -> Response:
    d = dates(start, end)
    if d.range is None:
        return _refused(
            pctx.page, pctx.url, "reports/health.html", d, partner=True, current="partner_reports"
        )
    view = overview.customer_view(pctx.session, pctx.principal)
    report = service.partner_health(pctx.session, view, d.range, utcnow())
    return _csv(csvout.partner_health_csv(report), f"health-{report.start}-{report.end}")


@pages.get("/partner/reports/usage", name="portal.partner_reports_usage")
def partner_usage_page(
    pctx: PartnerCtxDep, start: str = Query("", max_length=32), end: str = Query("", max_length=32)
) -> Response:
    d = dates(start, end)
    if d.range is None:
        return _refused(pctx.page, pctx.url, "reports/usage.html", d, partner=True, current="partner_reports")
    view = overview.customer_view(pctx.session, pctx.principal)
    report = service.partner_usage(pctx.session, view, d.range, utcnow())
    bars = top_bars([(c.customer_name, c.hours) for c in report.customers], "bar-country")
    return _report_page(
        pctx.page, pctx.url, "usage", d, report, bars, partner=True, current="partner_reports"
    )


@pages.get("/partner/reports/usage.csv", name="portal.partner_reports_usage_csv")
def partner_usage_csv(
    pctx: PartnerCtxDep, start: str = Query("", max_length=32), end: str = Query("", max_length=32)
) -> Response:
    d = dates(start, end)
    if d.range is None:
        return _refused(pctx.page, pctx.url, "reports/usage.html", d, partner=True, current="partner_reports")
    view = overview.customer_view(pctx.session, pctx.principal)
    report = service.partner_usage(pctx.session, view, d.range, utcnow())
    return _csv(csvout.partner_usage_csv(report), f"usage-{report.start}-{report.end}")
