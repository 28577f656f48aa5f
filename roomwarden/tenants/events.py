"""What a tenant's lifecycle tells the packages above tenants (``kit.extensions``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from roomwarden.kit.extensions import Event
from roomwarden.tenants.models import Tenant


@dataclass(frozen=True, slots=True)
class TenantDeleting:
    """The operator deletes ``tenant`` (locked) in this transaction: what other tenants hold
    of it (partner links, either way) must end first, with their records."""

    session: Session
    tenant: Tenant


tenant_deleting: Event[TenantDeleting] = Event("tenants.tenant_deleting")
