"""A tenant's domains as sign-in sees them: the domains a tenant's UPNs may be in, and the
tenant an address's domain leads to (home-realm discovery, invitations by domain)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

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
    tenant_id = session.scalar(
        select(TenantDomain.tenant_id).where(TenantDomain.domain == domain.strip().lower())
    )
    return session.get(Tenant, tenant_id) if tenant_id else None
