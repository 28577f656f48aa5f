"""Route dependencies: ``AccessDep`` resolves the caller's rights in the path's tenant;
``require(p)`` additionally demands a tenant-level permission."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from roomwarden.access.mfa import SecondFactorRequired
from roomwarden.access.permissions import Permission
from roomwarden.access.resolver import Access, resolve_access, resolve_caller
from roomwarden.identity.deps import BearerDep
from roomwarden.identity.principal import Principal
from roomwarden.identity.tenancy import state_caller
from roomwarden.identity.tokens import read_token
from roomwarden.kit import metrics
from roomwarden.kit.api import SessionDep
from roomwarden.kit.errors import Forbidden, NotFound, Unauthenticated

TenantId = Annotated[uuid.UUID, Path(description="the tenant acted in")]


def tenant_access(request: Request, tenant_id: TenantId, creds: BearerDep, session: SessionDep) -> Access:
    """The bearer's access in the path's tenant. The caller's row is read in the decision's
    own statement (``resolve_caller``), in this dependency's one trip through the thread pool."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return access_in(request, tenant_id, known, session)
    if creds is None:
        raise Unauthenticated("a bearer access token is required")
    claims = read_token(request.app.state.settings, creds.credentials)
    state_caller(session, claims.tenant_id)
    caller = resolve_caller(
        session,
        user_id=claims.user_id,
        home_tenant_id=claims.tenant_id,
        token_version=claims.version,
        mfa=claims.mfa,
        tenant_id=tenant_id,
    )
    request.state.principal = caller.principal  # known before any refusal is recorded
    if caller.access is None:
        metrics.AUTHORIZATION.labels("not_found").inc()
        raise NotFound("tenant not found")
    return _admitted(request, tenant_id, caller.access)


def access_in(request: Request, tenant_id: uuid.UUID, principal: Principal, session: Session) -> Access:
    """The principal's access in ``tenant_id`` (the portal's pages, and the API when the
    caller was already loaded)."""
    state_caller(session, principal.tenant_id)
    try:
        access = resolve_access(session, principal, tenant_id)
    except NotFound:
        metrics.AUTHORIZATION.labels("not_found").inc()
        raise
    return _admitted(request, tenant_id, access)


def _admitted(request: Request, tenant_id: uuid.UUID, access: Access) -> Access:
    # The customer's MFA rule came with the link in the decision's one statement.
    if access.is_partner and not access.principal.mfa and access.mfa_required:
        metrics.AUTHORIZATION.labels("mfa_required").inc()
        raise SecondFactorRequired(tenant_id)
    metrics.AUTHORIZATION.labels("allowed").inc()
    request.state.access = access
    return access


AccessDep = Annotated[Access, Depends(tenant_access)]


def require(perm: Permission, what: str = "resource") -> Any:
    def check(access: AccessDep) -> Access:  # put off to the endpoint's trip (kit.trip)
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
