"""Who is calling: the bearer token, checked and re-read against the database on every
request, so a deactivated or deleted user, and a token issued before the user's password
changed or it signed out everywhere, is refused at once on every worker."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from roomwarden.access.principal import Principal
from roomwarden.identity.models import User
from roomwarden.identity.tokens import read_token
from roomwarden.kit.api import SessionDep
from roomwarden.kit.errors import Unauthenticated

bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/token")


def current_principal(
    request: Request,
    session: SessionDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if creds is None:
        raise Unauthenticated("a bearer access token is required")
    claims = read_token(request.app.state.settings, creds.credentials)
    user = session.get(User, claims.user_id)
    if (
        user is None
        or not user.is_active
        or user.tenant_id != claims.tenant_id
        or user.token_version != claims.version
    ):
        raise Unauthenticated("the access token is invalid or expired")
    principal = Principal(
        user_id=user.id,
        tenant_id=user.tenant_id,
        upn=user.upn,
        display_name=user.display_name,
        is_global_admin=user.is_global_admin,
        mfa=claims.mfa,
    )
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]
