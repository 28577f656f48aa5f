"""Who is calling: the bearer token, checked and re-read against the database on every
request, so a deactivated or deleted user, and a token issued before the user's password
changed or it signed out everywhere, is refused at once on every worker."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select

from roomwarden.identity.models import User
from roomwarden.identity.principal import CALLER_COLUMNS, Principal, caller_principal
from roomwarden.identity.tenancy import state_caller
from roomwarden.identity.tokens import read_token
from roomwarden.kit.api import SessionDep
from roomwarden.kit.errors import Unauthenticated

bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/token")


#: The caller's row, read by primary key on every request (plain columns, no ORM object).
_CALLER = select(*CALLER_COLUMNS).where(User.id == bindparam("user_id"))


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def current_principal(request: Request, session: SessionDep, creds: BearerDep) -> Principal:
    """The caller of this request, once per request (``request.state.principal``: the tenant
    access dependency may have read it already, in the statement of its decision)."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        state_caller(session, known.tenant_id)
        return known
    if creds is None:
        raise Unauthenticated("a bearer access token is required")
    claims = read_token(request.app.state.settings, creds.credentials)
    state_caller(session, claims.tenant_id)
    row = session.execute(_CALLER, {"user_id": claims.user_id}).first()
    principal = caller_principal(
        row,
        user_id=claims.user_id,
        home_tenant_id=claims.tenant_id,
        token_version=claims.version,
        mfa=claims.mfa,
    )
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def operator_token(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """The service operator's bearer token (``ROOMWARDEN_OPERATOR_TOKEN``), for ``/api/v1/operator/...``."""
    expected = request.app.state.settings.operator_token.get_secret_value()
    if creds is None or not hmac.compare_digest(creds.credentials.encode(), expected.encode()):
        raise Unauthenticated("the operator token is required")
