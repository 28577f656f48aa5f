"""The reports as the API and the portal give them: a customer's (its ``reports.view`` rooms)
and a partner's (each customer's part under that customer's own rule, and their total)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from roomwarden.access.mfa import MESSAGE as MFA_MESSAGE
from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.partners import overview
from roomwarden.partners.overview import CustomerView
from roomwarden.partners.schemas import WithheldCustomer
from roomwarden.reports.health import Figures, figures
from roomwarden.reports.health import require as require_reports
from roomwarden.reports.schemas import (
    CustomerHealthRange,
    CustomerUsage,
    HealthRangeReport,
    PartnerHealthRangeReport,
    PartnerUsageReport,
    UsageReport,
)
from roomwarden.reports.span import Span
from roomwarden.reports.usage import Usage, usage
from roomwarden.rooms.reports import health_report as today

__all__ = ["health", "partner_health", "partner_usage", "require_reports", "usage_report"]


def health(session: Session, access: Access, span: Span, now: datetime) -> HealthRangeReport:
    base = today(session, access)
    return HealthRangeReport(**base.model_dump(), **figures(session, access, span, now).out())


def usage_report(session: Session, access: Access, span: Span, now: datetime) -> UsageReport:
    return UsageReport(tenant_id=access.tenant_id, generated_at=now, **usage(session, access, span).out())


def _reporting(view: CustomerView) -> list[Access]:
    """The customers whose reports the caller may read, by name."""
    ordered = sorted(view.open.items(), key=lambda kv: (view.names[kv[0]], kv[0]))
    return [access for _, access in ordered if access.has(P.REPORTS_VIEW)]


def _withheld(view: CustomerView) -> list[WithheldCustomer]:
    return [
        WithheldCustomer(customer_id=tid, customer_name=view.names[tid], reason=MFA_MESSAGE)
        for tid in sorted(view.mfa_withheld, key=lambda t: (view.names[t], t))
    ]


def partner_health(
    session: Session, view: CustomerView, span: Span, now: datetime
) -> PartnerHealthRangeReport:
    base = overview.health_report(session, view)
    parts = {c.customer_id: c for c in base.customers}
    total = Figures(span)
    customers = []
    for access in _reporting(view):
        mine = figures(session, access, span, now, durations=True)
        total.add(mine)
        customers.append(CustomerHealthRange(**parts[access.tenant_id].model_dump(), **mine.out()))
    fields = base.model_dump(exclude={"customers"})
    return PartnerHealthRangeReport(**fields, customers=customers, **total.out())


def partner_usage(session: Session, view: CustomerView, span: Span, now: datetime) -> PartnerUsageReport:
    total = Usage(span)
    customers = []
    for access in _reporting(view):
        mine = usage(session, access, span)
        total.add(mine)
        name = view.names[access.tenant_id]
        customers.append(CustomerUsage(customer_id=access.tenant_id, customer_name=name, **mine.out()))
    return PartnerUsageReport(customers=customers, withheld=_withheld(view), generated_at=now, **total.out())
