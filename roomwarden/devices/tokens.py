"""Device tokens: random, shown once at enrolment or rotation, stored as their SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "rwd_"
BAD_TOKEN = "the device token is not valid"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
