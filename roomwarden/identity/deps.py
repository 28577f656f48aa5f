"""Who is calling: the bearer token, checked and re-read against the database on every
request, so a deactivated or deleted user, and a token issued before the user's password
changed or it signed out everywhere, is refused at once on every worker."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from roomwarden.access.principal import Principal
from roomwarden.identity.models import User
from roomwarden.identity.tokens import read_token
from roomwarden.kit.api import SessionDep
from roomwarden.kit.errors import Unauthenticated

bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/token")


#: The user's row as the decision needs it, read by primary key on every request (plain
#: columns: no ORM object is built for it).
_CALLER = select(
    User.tenant_id, User.upn, User.display_name, User.is_global_admin, User.is_active, User.token_version
).where(User.id == bindparam("user_id"))


def load_principal(
    request: Request, session: Session, creds: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller of this request, once per request (``request.state.principal``). Shared by
    ``current_principal`` and the tenant access dependency, which calls it directly so that
    a request does not pay a second trip through the thread pool for it."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    if creds is None:
        raise Unauthenticated("a bearer access token is required")
    claims = read_token(request.app.state.settings, creds.credentials)
    user = session.execute(_CALLER, {"user_id": claims.user_id}).first()
    if (
        user is None
        or not user.is_active
        or user.tenant_id != claims.tenant_id
        or user.token_version != claims.version
    ):
        raise Unauthenticated("the access token is invalid or expired")
    principal = Principal(
        user_id=claims.user_id,
        tenant_id=user.tenant_id,
        upn=user.upn,
        display_name=user.display_name,
        is_global_admin=user.is_global_admin,
        mfa=claims.mfa,
    )
    request.state.principal = principal
    return principal


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def current_principal(request: Request, session: SessionDep, creds: BearerDep) -> Principal:
    return load_principal(request, session, creds)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
