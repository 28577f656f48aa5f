"""The tenants a signed-in caller's transaction states (row-level security, SPEC §10): its
own tenant and the tenants it has a live link with, either way: for a partner, the customers
whose live links allow it; for a customer, its live partners, whose people and records its
decisions reach (an approval carried out for a partner user, a notice to a partner's admins).
A pending invitation counts for the invited partner: it reads the offer and its customer's
name. Not the other way: anyone may invite any tenant by its domain, so an invitation must
not open the invited tenant's rows to the inviter (creating one states the partner for that
transaction alone, to mail its reviewers).
``partner_links`` rows of the caller's tenant, on either side, are visible once it is
stated. Everything else the transaction reads or writes must belong to one of them,
whatever its queries forget."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import Uuid, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from roomwarden.kit.db import UTCDateTime, state_tenants_by, state_tenants_of, stated_tenants, states_tenants
from roomwarden.kit.time import utcnow
from roomwarden.tenants.models import EVERY_TENANT

_CALLER = "stated_caller"  # Session.info: the tenant whose caller has been stated


def state_caller(session: Session, tenant_id: uuid.UUID) -> None:
    """State the caller's tenant and those live-linked to it, once per session (one statement)."""
    if not states_tenants(session):
        return
    if session.info.get(_CALLER) == tenant_id and str(tenant_id) in stated_tenants(session):
        return
    state_linked(session, [tenant_id])
    session.info[_CALLER] = tenant_id


def state_linked(session: Session, tenant_ids: Collection[uuid.UUID] | None) -> None:
    """State ``tenant_ids`` and every tenant live-linked to one of them either way (what
    delivering a tenant's events to its partners' webhooks reads); ``None``: every tenant
    (a delivery round of the whole instance). One statement: the database function
    ``roomwarden_state_linked`` (migration 0100) states the ids, then reads their links under
    them."""
    if not states_tenants(session):
        return
    if tenant_ids is None:
        state_tenants_of(session, EVERY_TENANT)
        return
    state_tenants_by(session, _STATE_LINKED, {"ids": list(tenant_ids), "now": utcnow()})


#: ``roomwarden_state_linked(ids, now)``: states ``ids``, then the tenants live-linked to them
#: either way and those whose invitations to them are pending at ``now`` (the SQL twins of
#: ``live_link`` and ``pending_invitation``), and returns the setting
_STATE_LINKED = select(
    func.roomwarden_state_linked(
        bindparam("ids", type_=postgresql.ARRAY(Uuid)), bindparam("now", type_=UTCDateTime())
    )
)
