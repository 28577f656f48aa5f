from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from roomwarden.access.deps import AccessDep
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.deps import bearer
from roomwarden.kit.api import SessionDep, audited
from roomwarden.kit.errors import Unauthenticated
from roomwarden.kit.routing import router
from roomwarden.tenants import service
from roomwarden.tenants.schemas import SettingsRead, SettingsUpdate, TenantCreate, TenantCreated

operator = router(prefix="/api/v1/operator", tags=["operator"])
api = router(prefix="/api/v1/tenants/{tenant_id}", tags=["settings"])


def operator_token(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    expected = request.app.state.settings.operator_token
    if creds is None or not hmac.compare_digest(creds.credentials.encode(), expected.encode()):
        raise Unauthenticated("the operator token is required")


@operator.post(
    "/tenants", response_model=TenantCreated, status_code=201, dependencies=[Depends(operator_token)]
)
def create_tenant(session: SessionDep, body: TenantCreate) -> TenantCreated:
    tenant, admin = service.create_tenant(session, body)
    return TenantCreated(
        id=tenant.id,
        name=tenant.name,
        created_at=tenant.created_at,
        domains=service.domains_of(session, tenant.id),
        admin_user_id=admin.id,
    )


@api.get("/settings", response_model=SettingsRead)
def get_settings(session: SessionDep, access: AccessDep) -> SettingsRead:
    return SettingsRead.model_validate(service.read_settings(session, access))


@api.patch("/settings", response_model=SettingsRead)
@audited(Category.SETTINGS, Operation.UPDATE)
def update_settings(session: SessionDep, access: AccessDep, body: SettingsUpdate) -> SettingsRead:
    return SettingsRead.model_validate(service.update_settings(session, access, body))
