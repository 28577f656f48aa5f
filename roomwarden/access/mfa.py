"""A customer's ``require_mfa_for_partners`` (SPEC §7; issue 9, L1): every request of a partner
user about that customer — under the customer's own paths, and on the partner side: accepting
or denying its invitations, reading or ending its link — is refused (403) unless the user's
sign-in used a second factor. The refusal is recorded in the customer's audit log, reads
included, because the customer asked to know."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, SQLColumnExpression, or_, select, true
from sqlalchemy.orm import Session

from roomwarden.audit.service import Category, Operation
from roomwarden.identity.principal import Principal
from roomwarden.kit.db import stated_tenants, states_tenants
from roomwarden.kit.errors import Forbidden
from roomwarden.tenants.models import TenantSettings

MESSAGE = (
    "this customer requires partner users to sign in with a second factor: sign in again "
    "with your verification code, or through your identity provider's multi-factor sign-in"
)


class SecondFactorRequired(Forbidden):
    """Recorded in the customer's log whatever the route (``audit_tenant_id``, ``audit_as``)."""

    audit_as = (Category.PARTNER, Operation.READ)

    def __init__(self, customer_id: uuid.UUID) -> None:
        super().__init__(MESSAGE, extra={"reason": "second_factor_required"})
        self.audit_tenant_id = customer_id


def customers_requiring(session: Session, customer_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``customer_ids`` that require a second factor of partner users. Under row-level
    security a customer the transaction has not stated has settings it cannot read: it counts
    as requiring one, so that a path that forgot to state a customer refuses rather than lets
    through (fail closed)."""
    if not customer_ids:
        return set()
    unread: set[uuid.UUID] = set()
    if states_tenants(session):
        stated = stated_tenants(session)
        unread = {c for c in customer_ids if str(c) not in stated}
    return unread | set(
        session.scalars(
            select(TenantSettings.tenant_id).where(
                TenantSettings.tenant_id.in_(customer_ids), TenantSettings.require_mfa_for_partners
            )
        )
    )


def require_second_factor(session: Session, principal: Principal, customer_id: uuid.UUID) -> None:
    """Refuse a partner user without a second factor for a customer that requires one."""
    if principal.tenant_id == customer_id or principal.mfa:
        return
    if customers_requiring(session, [customer_id]):
        raise SecondFactorRequired(customer_id)


def lenient_customers(
    principal: Principal, customer_id: SQLColumnExpression[uuid.UUID]
) -> ColumnElement[bool]:
    """For a list across customers: leaves out the rows of customers that require a second
    factor the sign-in lacked (the list is not refused as a whole; each such customer's own
    paths refuse)."""
    if principal.mfa:
        return true()
    strict = select(TenantSettings.tenant_id).where(TenantSettings.require_mfa_for_partners)
    return or_(customer_id == principal.tenant_id, customer_id.not_in(strict))
