"""The partner's views across customers: every delegated room it may view, and a health
summary per customer. Each customer's part is that customer's own rule: the caller's rights
there (``resolve_access``: an active link in which it holds a role, cut to the link's scope
and the Partner admin column), and the customer's demand for a second factor.

Unlike the aggregate tickets these views need no customer setting: they show only what the
caller may already read under each customer's own paths."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.mfa import MESSAGE as MFA_MESSAGE
from roomwarden.access.mfa import SecondFactorRequired
from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access, linked_customers, resolve_access
from roomwarden.identity.principal import Principal
from roomwarden.kit.errors import NotFound
from roomwarden.kit.time import utcnow
from roomwarden.partners.schemas import CustomerHealth, PartnerHealthReport, WithheldCustomer
from roomwarden.rooms.models import HEALTH_STATES, Room, health_state_is
from roomwarden.rooms.reports import health_report as customer_health_report
from roomwarden.tenants.models import TenantSettings


@dataclass(frozen=True, slots=True)
class CustomerView:
    """The customers a partner user sees across: those it may act in now (``open``, with its
    rights there) and those withheld because the sign-in lacked a required second factor."""

    names: dict[uuid.UUID, str]
    open: dict[uuid.UUID, Access]
    mfa_withheld: frozenset[uuid.UUID]


def customer_view(
    session: Session, principal: Principal, customer_id: uuid.UUID | None = None
) -> CustomerView:
    """``customer_id`` narrows to one customer: one the caller is not linked to answers 404,
    one that requires a second factor the sign-in lacked answers 403 (as under its paths)."""
    names = {tid: name for _, tid, name in linked_customers(session, principal)}
    if customer_id is not None:
        if customer_id not in names:
            raise NotFound("customer not found")
        names = {customer_id: names[customer_id]}
    strict = set()
    if not principal.mfa and names:
        strict = set(
            session.scalars(
                select(TenantSettings.tenant_id).where(
                    TenantSettings.tenant_id.in_(list(names)), TenantSettings.require_mfa_for_partners
                )
            )
        )
    if customer_id is not None and strict:
        raise SecondFactorRequired(customer_id)
    opened = {tid: resolve_access(session, principal, tid) for tid in sorted(names) if tid not in strict}
    return CustomerView(names=names, open=opened, mfa_withheld=frozenset(strict))


def rooms_query(view: CustomerView, health_state: str | None = None) -> Select[Room]:
    parts = [
        and_(Room.tenant_id == tid, access.rooms(P.ROOMS_VIEW).clause(Room.id))
        for tid, access in view.open.items()
        if access.has(P.ROOMS_VIEW)
    ]
    stmt = select(Room).where(or_(false(), *parts))
    if health_state:
        stmt = stmt.where(health_state_is(health_state))
    return stmt


def health_report(session: Session, view: CustomerView) -> PartnerHealthReport:
    """Per customer in which the caller holds ``reports.view``: the figures that customer's
    own health report gives the caller (rooms per health state, open tickets, over its
    ``reports.view`` rooms there), and their totals."""
    customers = []
    for tid, access in sorted(view.open.items(), key=lambda kv: (view.names[kv[0]], kv[0])):
        if access.has(P.REPORTS_VIEW):
            customers.append(_customer_health(session, access, view.names[tid]))
    total = dict.fromkeys(HEALTH_STATES, 0)
    for c in customers:
        for state, n in c.rooms_by_health.items():
            total[state] += n
    withheld = [
        WithheldCustomer(customer_id=tid, customer_name=view.names[tid], reason=MFA_MESSAGE)
        for tid in sorted(view.mfa_withheld, key=lambda t: (view.names[t], t))
    ]
    return PartnerHealthReport(
        customers=customers,
        total_rooms=sum(total.values()),
        rooms_by_health=total,
        open_tickets=sum(c.open_tickets for c in customers),
        withheld=withheld,
        generated_at=utcnow(),
    )


def _customer_health(session: Session, access: Access, name: str) -> CustomerHealth:
    report = customer_health_report(session, access)
    return CustomerHealth(
        customer_id=access.tenant_id,
        customer_name=name,
        total_rooms=report.total_rooms,
        rooms_by_health=report.rooms_by_health,
        open_tickets=report.open_tickets,
    )
