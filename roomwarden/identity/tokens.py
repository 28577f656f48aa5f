"""Signed, expiring access tokens (JWT, HS256) issued by Roomwarden.

A token names the user, its tenant, whether the sign-in was multi-factor (``amr`` holds
``mfa``) and the user's token version at issue: ``identity.deps`` refuses a token whose
version is no longer the user's, which is how a password change, a reset, a deactivation
or a sign-out everywhere ends every earlier token."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from roomwarden.identity.models import User
from roomwarden.kit.errors import Unauthenticated
from roomwarden.settings import Settings

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    mfa: bool
    version: int


def _key(settings: Settings) -> OctKey:
    return OctKey.import_key(settings.secret_key.get_secret_value())


def issue_token(
    settings: Settings,
    *,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    mfa: bool = False,
    version: int = 0,
    federated: bool = False,
    ttl_seconds: int | None = None,
    now: int | None = None,
) -> str:
    issued = int(time.time()) if now is None else now
    claims = {
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "sub": str(user_id),
        "tid": str(tenant_id),
        "amr": _amr(mfa=mfa, federated=federated),
        "ver": version,
        "iat": issued,
        "nbf": issued,
        "exp": issued + (ttl_seconds or settings.token_ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, claims, _key(settings))


def _amr(*, mfa: bool, federated: bool) -> list[str]:
    """RFC 8176 method references: ``pwd``/``otp`` for local sign-in; a federated sign-in
    says only whether the provider reported a second factor."""
    methods = [] if federated else (["pwd", "otp"] if mfa else ["pwd"])
    return [*methods, "mfa"] if mfa else methods


def _version(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("token version must be an integer")
    return value


def read_token(settings: Settings, token: str) -> TokenClaims:
    """Verify signature, issuer, audience and lifetime; any failure is a 401."""
    registry = jwt.JWTClaimsRegistry(
        leeway=5,
        iss={"essential": True, "value": settings.token_issuer},
        aud={"essential": True, "value": settings.token_audience},
        exp={"essential": True},
        sub={"essential": True},
        tid={"essential": True},
        ver={"essential": True},
    )
    try:
        decoded = jwt.decode(token, _key(settings), algorithms=[ALGORITHM])
        registry.validate(decoded.claims)
        claims = decoded.claims
        return TokenClaims(
            user_id=uuid.UUID(claims["sub"]),
            tenant_id=uuid.UUID(claims["tid"]),
            mfa="mfa" in (claims.get("amr") or []),
            version=_version(claims["ver"]),
        )
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise Unauthenticated("the access token is invalid or expired") from exc


def issue_for(settings: Settings, user: User, *, mfa: bool, federated: bool = False) -> str:
    """A token for ``user`` under its current token version."""
    return issue_token(
        settings,
        user_id=user.id,
        tenant_id=user.tenant_id,
        mfa=mfa,
        version=user.token_version,
        federated=federated,
    )
