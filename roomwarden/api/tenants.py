from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response

from roomwarden.access.deps import AccessDep
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.deps import operator_token
from roomwarden.identity.domains import domains_of
from roomwarden.kit.api import SessionDep, audited, not_audited
from roomwarden.kit.errors import NotFound
from roomwarden.kit.pagination import Page, PageDep, Search, paginate
from roomwarden.kit.routing import router
from roomwarden.tenants import operator as ops
from roomwarden.tenants import service
from roomwarden.tenants.models import Tenant
from roomwarden.tenants.schemas import (
    DomainAdd,
    OperatorTenantRead,
    OperatorTenantUpdate,
    SettingsRead,
    SettingsUpdate,
    TenantCreate,
    TenantCreated,
)

operator = router(prefix="/api/v1/operator", tags=["operator"])
api = router(prefix="/api/v1/tenants/{tenant_id}", tags=["settings"])


@operator.post(
    "/tenants", response_model=TenantCreated, status_code=201, dependencies=[Depends(operator_token)]
)
@not_audited("operator API: outside every tenant; successful changes are recorded by the service")
def create_tenant(session: SessionDep, body: TenantCreate) -> TenantCreated:
    tenant, admin = service.create_tenant(session, body)
    return TenantCreated(
        id=tenant.id,
        name=tenant.name,
        created_at=tenant.created_at,
        domains=domains_of(session, tenant.id),
        admin_user_id=admin.id,
    )


@operator.get("/tenants", response_model=Page[OperatorTenantRead], dependencies=[Depends(operator_token)])
def list_tenants(session: SessionDep, pages: PageDep, q: Search = None) -> Page[OperatorTenantRead]:
    """Every tenant of the service with its domains and size, oldest first; ``q`` matches
    a part of the name or of a domain."""
    page = paginate(session, ops.tenants_query(session, q), Tenant.id, pages, lambda t: t)
    return Page[OperatorTenantRead](items=ops.tenant_reads(session, page.items), next_cursor=page.next_cursor)


@operator.get(
    "/tenants/{tenant_id}", response_model=OperatorTenantRead, dependencies=[Depends(operator_token)]
)
def get_tenant(session: SessionDep, tenant_id: uuid.UUID) -> OperatorTenantRead:
    return ops.tenant_read(session, ops.find_tenant(session, tenant_id))


@operator.patch(
    "/tenants/{tenant_id}", response_model=OperatorTenantRead, dependencies=[Depends(operator_token)]
)
@not_audited("operator API: outside every tenant; successful changes are recorded by the service")
def update_tenant(
    session: SessionDep, tenant_id: uuid.UUID, body: OperatorTenantUpdate
) -> OperatorTenantRead:
    """Rename the tenant, replace its domains (``domains``) or add and remove some
    (``add_domains``, ``remove_domains``). A domain still used by a user's UPN cannot be
    removed (409); a tenant keeps at least one domain."""
    return ops.tenant_read(session, ops.update_tenant(session, tenant_id, body))


@operator.post(
    "/tenants/{tenant_id}/domains",
    response_model=OperatorTenantRead,
    status_code=201,
    dependencies=[Depends(operator_token)],
)
@not_audited("operator API: outside every tenant; successful changes are recorded by the service")
def add_domain(session: SessionDep, tenant_id: uuid.UUID, body: DomainAdd) -> OperatorTenantRead:
    change = OperatorTenantUpdate(add_domains=[body.domain])
    return ops.tenant_read(session, ops.update_tenant(session, tenant_id, change))


@operator.delete(
    "/tenants/{tenant_id}/domains/{domain}", status_code=204, dependencies=[Depends(operator_token)]
)
@not_audited("operator API: outside every tenant; successful changes are recorded by the service")
def remove_domain(session: SessionDep, tenant_id: uuid.UUID, domain: str) -> Response:
    domain = domain.strip().lower()
    if domain not in ops.tenant_read(session, ops.find_tenant(session, tenant_id)).domains:
        raise NotFound(f"the tenant has no domain {domain}")
    ops.update_tenant(session, tenant_id, OperatorTenantUpdate(remove_domains=[domain]))
    return Response(status_code=204)


@operator.delete("/tenants/{tenant_id}", status_code=204, dependencies=[Depends(operator_token)])
@not_audited("operator API: outside every tenant; successful changes are recorded by the service")
def delete_tenant(
    session: SessionDep,
    tenant_id: uuid.UUID,
    confirm: Annotated[bool, Query(description="must be true: the deletion cannot be undone")] = False,
) -> Response:
    """Delete the tenant with everything it owns (rooms, users, its audit log). Active
    partner links end first and are recorded in the other tenants' logs."""
    ops.delete_tenant(session, tenant_id, confirm=confirm)
    return Response(status_code=204)


@api.get("/settings", response_model=SettingsRead)
def get_settings(session: SessionDep, access: AccessDep) -> SettingsRead:
    return SettingsRead.model_validate(service.read_settings(session, access))


@api.patch("/settings", response_model=SettingsRead)
@audited(Category.SETTINGS, Operation.UPDATE)
def update_settings(session: SessionDep, access: AccessDep, body: SettingsUpdate) -> SettingsRead:
    return SettingsRead.model_validate(service.update_settings(session, access, body))
