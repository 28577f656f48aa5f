"""The partner's aggregate ticket view: one list across every customer that enabled
"all tickets view", each customer's part filtered by the caller's rights there."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.mfa import SecondFactorRequired
from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import linked_customers, resolve_access
from roomwarden.identity.principal import Principal
from roomwarden.kit.errors import NotFound
from roomwarden.rooms.models import Ticket
from roomwarden.tenants.models import TenantSettings


def aggregate_query(
    session: Session, principal: Principal, customer_id: uuid.UUID | None = None, status: str | None = None
) -> tuple[Select[Ticket], dict[uuid.UUID, str]]:
    customers = {tid: name for _, tid, name in linked_customers(session, principal)}
    if customer_id is not None:
        if customer_id not in customers:
            raise NotFound("customer not found")
        customers = {customer_id: customers[customer_id]}
    rows = _views_on(session, customers)
    # A customer that requires a second factor of partner users shows nothing to a sign-in
    # without one, here as under its own paths.
    if customer_id is not None and not principal.mfa and any(mfa for _, mfa in rows):
        raise SecondFactorRequired(customer_id)
    enabled = {tid for tid, mfa in rows if principal.mfa or not mfa}
    parts = []
    for tid in sorted(enabled):
        access = resolve_access(session, principal, tid)
        if access.has(P.TICKETS_VIEW):
            parts.append(and_(Ticket.tenant_id == tid, access.rooms(P.TICKETS_VIEW).clause(Ticket.room_id)))
    stmt = select(Ticket).where(or_(false(), *parts))
    if status:
        stmt = stmt.where(Ticket.status == status)
    return stmt, customers


def _views_on(session: Session, customers: dict[uuid.UUID, str]) -> list[tuple[uuid.UUID, bool]]:
    """The customers that turned the all tickets view on, with their second-factor rule."""
    return [
        (tid, mfa)
        for tid, mfa in session.execute(
            select(TenantSettings.tenant_id, TenantSettings.require_mfa_for_partners).where(
                TenantSettings.tenant_id.in_(list(customers)), TenantSettings.enable_all_tickets_view
            )
        )
    ]


@dataclass(frozen=True)
class LeftOut:
    """The customers whose tickets the all tickets view cannot show, by name: those that
    turned the view off, and those that require a second factor this sign-in lacks."""

    view_off: list[str]
    second_factor: list[str]


def left_out(session: Session, principal: Principal) -> LeftOut:
    customers = {tid: name for _, tid, name in linked_customers(session, principal)}
    rows = dict(_views_on(session, customers))
    return LeftOut(
        view_off=sorted((name for tid, name in customers.items() if tid not in rows), key=str.lower),
        second_factor=sorted(
            (customers[tid] for tid, mfa in rows.items() if mfa and not principal.mfa), key=str.lower
        ),
    )
