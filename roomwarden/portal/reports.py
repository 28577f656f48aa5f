"""Reports: rooms per health state and per country, drawn as SVG on the server (no script,
no inline style: the chart's colours come from the stylesheet) with the same figures as a
table beside it."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Response

from roomwarden.portal.deps import TenantCtx
from roomwarden.portal.web import portal_router
from roomwarden.rooms import reports
from roomwarden.rooms.models import HEALTH_STATES

pages = portal_router()

LABEL_WIDTH = 120
BAR_WIDTH = 380
ROW = 30


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    css: str
    y: int
    width: int


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    height: int
    label_width: int = LABEL_WIDTH
    bar_width: int = BAR_WIDTH


def bar_chart(items: list[tuple[str, float, str]]) -> Chart:
    """Horizontal bars scaled to the largest value; an empty chart has no bars."""
    top = max((v for _, v, _ in items), default=0) or 1
    bars = [
        Bar(label, value, css, y=i * ROW + 6, width=round(BAR_WIDTH * value / top))
        for i, (label, value, css) in enumerate(items)
    ]
    return Chart(bars=bars, height=max(1, len(bars)) * ROW + 12)


@pages.get("/t/{tenant_id}/reports", name="portal.reports")
def report_page(ctx: TenantCtx) -> Response:
    report = reports.health_report(ctx.session, ctx.access)
    countries = reports.rooms_by_country(ctx.session, ctx.access)
    by_state = bar_chart([(s.capitalize(), report.rooms_by_health[s], f"bar-{s}") for s in HEALTH_STATES])
    by_country = bar_chart([(c, sum(states.values()), "bar-country") for c, states in countries])
    return ctx.page(
        "reports.html",
        current="reports",
        report=report,
        countries=countries,
        states=HEALTH_STATES,
        by_state=by_state,
        by_country=by_country,
    )
