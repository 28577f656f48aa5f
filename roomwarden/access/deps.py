"""Route dependencies: ``AccessDep`` resolves the caller's rights in the path's tenant;
``require(p)`` additionally demands a tenant-level permission."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission
from roomwarden.access.principal import Principal
from roomwarden.access.resolver import Access, resolve_access
from roomwarden.identity.deps import BearerDep, load_principal
from roomwarden.kit.api import SessionDep
from roomwarden.kit.errors import Forbidden, NotFound
from roomwarden.partners.mfa import SecondFactorRequired

TenantId = Annotated[uuid.UUID, Path(description="the tenant acted in")]


def tenant_access(request: Request, tenant_id: TenantId, creds: BearerDep, session: SessionDep) -> Access:
    # The caller is loaded here, in this dependency's thread, rather than by a dependency of
    # its own: one trip through the thread pool instead of two on every tenant request.
    return access_in(request, tenant_id, load_principal(request, session, creds), session)


def access_in(request: Request, tenant_id: uuid.UUID, principal: Principal, session: Session) -> Access:
    """The principal's access in ``tenant_id`` (the API's dependency and the portal's pages)."""
    access = resolve_access(session, principal, tenant_id)
    # The customer's MFA rule came with the link in the decision's one statement.
    if access.is_partner and not principal.mfa and access.mfa_required:
        raise SecondFactorRequired(tenant_id)
    request.state.access = access
    return access


AccessDep = Annotated[Access, Depends(tenant_access)]


def require(perm: Permission, what: str = "resource") -> Any:
    async def check(access: AccessDep) -> Access:  # no I/O: on the event loop, no thread
        access.require_tenant_wide(perm, what)
        return access

    return Depends(check)


def global_admin(access: AccessDep) -> Access:
    """The directory belongs to the tenant's Global admins; partners never see it."""
    if access.is_partner:
        raise NotFound("directory not found")
    if not access.principal.is_global_admin:
        raise Forbidden("only a Global admin manages the directory")
    return access


GlobalAdminDep = Annotated[Access, Depends(global_admin)]
