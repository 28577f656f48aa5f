"""Signed, expiring access tokens (JWT, HS256) issued by Roomwarden."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from roomwarden.kit.errors import Unauthenticated
from roomwarden.settings import Settings

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    mfa: bool


def _key(settings: Settings) -> OctKey:
    return OctKey.import_key(settings.secret_key.get_secret_value())


def issue_token(
    settings: Settings,
    *,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    mfa: bool = False,
    ttl_seconds: int | None = None,
    now: int | None = None,
) -> str:
    issued = int(time.time()) if now is None else now
    claims = {
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "sub": str(user_id),
        "tid": str(tenant_id),
        "amr": ["pwd", "otp"] if mfa else ["pwd"],
        "iat": issued,
        "nbf": issued,
        "exp": issued + (ttl_seconds or settings.token_ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, claims, _key(settings))


def read_token(settings: Settings, token: str) -> TokenClaims:
    """Verify signature, issuer, audience and lifetime; any failure is a 401."""
    registry = jwt.JWTClaimsRegistry(
        leeway=5,
        iss={"essential": True, "value": settings.token_issuer},
        aud={"essential": True, "value": settings.token_audience},
        exp={"essential": True},
        sub={"essential": True},
        tid={"essential": True},
    )
    try:
        decoded = jwt.decode(token, _key(settings), algorithms=[ALGORITHM])
        registry.validate(decoded.claims)
        claims = decoded.claims
        return TokenClaims(
            user_id=uuid.UUID(claims["sub"]),
            tenant_id=uuid.UUID(claims["tid"]),
            mfa="otp" in (claims.get("amr") or []),
        )
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise Unauthenticated("the access token is invalid or expired") from exc
