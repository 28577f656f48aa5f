"""The reports' per-room tables as CSV (RFC 4180, UTF-8), safe to open in a spreadsheet: a
cell that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return) is written with a leading apostrophe."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from roomwarden.reports.schemas import (
    HealthFigures,
    PartnerHealthRangeReport,
    PartnerUsageReport,
    UsageFigures,
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def render(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([cell(v) for v in row] for row in rows)
    return out.getvalue()


HEALTH = ("room_id", "room", "monitored_days", "unhealthy_days")
USAGE = ("room_id", "room", "meetings", "hours")


def health_csv(report: HealthFigures) -> str:
    return render(
        HEALTH, ((r.room_id, r.room_name, r.monitored_days, r.unhealthy_days) for r in report.rooms)
    )


def usage_csv(report: UsageFigures) -> str:
    return render(USAGE, ((r.room_id, r.room_name, r.meetings, r.hours) for r in report.rooms))


def partner_health_csv(report: PartnerHealthRangeReport) -> str:
    rows = (
        (c.customer_id, c.customer_name, r.room_id, r.room_name, r.monitored_days, r.unhealthy_days)
        for c in report.customers
        for r in c.rooms
    )
    return render(("customer_id", "customer", *HEALTH), rows)


def partner_usage_csv(report: PartnerUsageReport) -> str:
    rows = (
        (c.customer_id, c.customer_name, r.room_id, r.room_name, r.meetings, r.hours)
        for c in report.customers
        for r in c.rooms
    )
    return render(("customer_id", "customer", *USAGE), rows)
