"""A tenant's domains as sign-in sees them: the domains a tenant's UPNs may be in, and the
tenant an address's domain leads to (home-realm discovery, invitations by domain)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.kit.db import state_lookup
from roomwarden.tenants.models import Tenant, TenantDomain


def domains_of(session: Session, tenant_id: uuid.UUID) -> list[str]:
    return list(
        session.scalars(
            select(TenantDomain.domain)
            .where(TenantDomain.tenant_id == tenant_id)
            .order_by(TenantDomain.domain)
        )
    )


def tenant_by_domain(session: Session, domain: str) -> Tenant | None:
    """The tenant holding ``domain`` (the transaction reads that one domain's row, whatever
    tenants it has stated)."""
    key = domain.strip().lower()
    if "," in key:
        return None
    state_lookup(session, "roomwarden.domain", key)
    tenant_id = session.scalar(select(TenantDomain.tenant_id).where(TenantDomain.domain == key))
    return session.get(Tenant, tenant_id) if tenant_id else None
