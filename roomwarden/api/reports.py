"""The health and usage reports (SPEC §12, docs/reports.md): a customer's over its
``reports.view`` rooms, and a partner's per customer and in total. ``?format=csv`` gives the
per-room table."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from fastapi import Response

from roomwarden.access.deps import AccessDep
from roomwarden.identity.deps import PrincipalDep
from roomwarden.kit.api import SessionDep
from roomwarden.kit.routing import router
from roomwarden.kit.time import utcnow
from roomwarden.partners import overview
from roomwarden.reports import csvout, service
from roomwarden.reports.schemas import (
    HealthRangeReport,
    PartnerHealthRangeReport,
    PartnerUsageReport,
    UsageReport,
)
from roomwarden.reports.span import span

customer = router(prefix="/api/v1/tenants/{tenant_id}", tags=["reports"])
partner = router(prefix="/api/v1/partner", tags=["partners (partner side)"])

Format = Literal["json", "csv"]
CSV = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The report"}}


def _csv(body: str, name: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@customer.get("/reports/health", response_model=HealthRangeReport, responses=CSV)  # type: ignore[arg-type]
def health_report(
    session: SessionDep,
    access: AccessDep,
    start: date | None = None,
    end: date | None = None,
    format: Format = "json",
) -> HealthRangeReport | Response:
    """Today's rooms per health state and open tickets, and over ``start``–``end`` (room-local
    days, at most 366; by default the last 30 days): each room's unhealthy days, the share of
    healthy room-days per day, monitoring tickets per signal and the median time to resolve."""
    now = utcnow()
    report = service.health(session, access, span(start, end, now), now)
    if format == "csv":
        return _csv(csvout.health_csv(report), f"health-{report.start}-{report.end}")
    return report


@customer.get("/reports/usage", response_model=UsageReport, responses=CSV)  # type: ignore[arg-type]
def usage_report(
    session: SessionDep,
    access: AccessDep,
    start: date | None = None,
    end: date | None = None,
    format: Format = "json",
) -> UsageReport | Response:
    """Meetings and hours per room and per room-local day over ``start``–``end``."""
    now = utcnow()
    report = service.usage_report(session, access, span(start, end, now), now)
    if format == "csv":
        return _csv(csvout.usage_csv(report), f"usage-{report.start}-{report.end}")
    return report


@partner.get("/reports/health", response_model=PartnerHealthRangeReport, responses=CSV)  # type: ignore[arg-type]
def partner_health_report(
    session: SessionDep,
    principal: PrincipalDep,
    start: date | None = None,
    end: date | None = None,
    customer_id: uuid.UUID | None = None,
    format: Format = "json",
) -> PartnerHealthRangeReport | Response:
    """Rooms per health state, open tickets and the health figures over the range, per
    customer (its own rule: the caller's ``reports.view`` rooms there) and in total."""
    now = utcnow()
    dates = span(start, end, now)
    report = service.partner_health(
        session, overview.customer_view(session, principal, customer_id), dates, now
    )
    if format == "csv":
        return _csv(csvout.partner_health_csv(report), f"health-{report.start}-{report.end}")
    return report


@partner.get("/reports/usage", response_model=PartnerUsageReport, responses=CSV)  # type: ignore[arg-type]
def partner_usage_report(
    session: SessionDep,
    principal: PrincipalDep,
    start: date | None = None,
    end: date | None = None,
    customer_id: uuid.UUID | None = None,
    format: Format = "json",
) -> PartnerUsageReport | Response:
    """Meetings and hours per room and per day, per customer and in total."""
    now = utcnow()
    dates = span(start, end, now)
    report = service.partner_usage(
        session, overview.customer_view(session, principal, customer_id), dates, now
    )
    if format == "csv":
        return _csv(csvout.partner_usage_csv(report), f"usage-{report.start}-{report.end}")
    return report
