"""Signed, expiring access tokens (JWT, HS256) issued by Roomwarden.

A token names the user, its tenant, whether the sign-in was multi-factor (``amr`` holds
``mfa``) and the user's token version at issue: ``identity.deps`` refuses a token whose
version is no longer the user's, which is how a password change, a reset, a deactivation
or a sign-out everywhere ends every earlier token."""

from __future__ import annotations

import functools
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


def _key(secret: str) -> OctKey:
    return OctKey.import_key(secret)


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
    return jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, claims, _key(settings.secret_key.get_secret_value()))


def _amr(*, mfa: bool, federated: bool) -> list[str]:
    """RFC 8176 method references: ``pwd``/``otp`` for local sign-in; a federated sign-in
    says only whether the provider reported a second factor."""
    methods = [] if federated else (["pwd", "otp"] if mfa else ["pwd"])
    return [*methods, "mfa"] if mfa else methods


def _version(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("token version must be an integer")
    return value


#: Clock skew allowed on the token's times (``exp``, ``nbf``, ``iat``), in seconds.
LEEWAY = 5


def read_token(settings: Settings, token: str) -> TokenClaims:
    """Verify signature, issuer, audience and lifetime; any failure is a 401. The signature and
    the claims that time does not change are verified once per token and key (``_verified``);
    its times are checked again at every use."""
    try:
        claims, times = _verified(
            settings.secret_key.get_secret_value(), settings.token_issuer, settings.token_audience, token
        )
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise Unauthenticated("the access token is invalid or expired") from exc
    exp, nbf, iat = times
    now = int(time.time())
    if (
        exp <= now - LEEWAY
        or (nbf is not None and nbf > now + LEEWAY)
        or (iat is not None and iat > now + LEEWAY)
    ):
        raise Unauthenticated("the access token is invalid or expired")
    return claims


@functools.lru_cache(maxsize=4096)
def _verified(
    secret: str, issuer: str, audience: str, token: str
) -> tuple[TokenClaims, tuple[int | float, int | float | None, int | float | None]]:
    """A token's claims and its times (``exp``, ``nbf``, ``iat``), once verified: its signature
    under ``secret`` and every claim, times included, as of now. A token that fails raises, and
    nothing is kept of it; one that passes is a pure function of its arguments. A signature
    check was the largest part of reading a token, on every request of its bearer."""
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
        tid={"essential": True},
        ver={"essential": True},
    )
    decoded = jwt.decode(token, _key(secret), algorithms=[ALGORITHM])
    registry.validate(decoded.claims)
    claims = decoded.claims
    read = TokenClaims(
        user_id=uuid.UUID(claims["sub"]),
        tenant_id=uuid.UUID(claims["tid"]),
        mfa="mfa" in (claims.get("amr") or []),
        version=_version(claims["ver"]),
    )
    return read, (claims["exp"], claims.get("nbf"), claims.get("iat"))


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
