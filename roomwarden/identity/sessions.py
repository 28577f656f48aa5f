"""Portal sessions (SPEC §7): server-side, in the database.

The browser holds a random 256-bit token in an HttpOnly cookie; the table stores only its
SHA-256, so a copy of the database signs nobody in. Every request re-reads the session and
its user, so a sign-out, a sign-out everywhere, a deactivation or a deleted user ends the
session on the next request, on every worker. A session ends after
``session_idle_seconds`` without a request and ``session_absolute_seconds`` after sign-in,
whichever comes first. Each session carries its own CSRF token for the portal's forms.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.orm import Session

from roomwarden.identity.models import User, WebSession
from roomwarden.identity.principal import Principal
from roomwarden.kit.db import state_lookup, state_tenants
from roomwarden.kit.time import utcnow
from roomwarden.settings import Settings

#: how stale ``last_seen_at`` may get before a request writes it again: idle expiry is
#: then exact to within this much, and a burst of page loads costs one write, not one each
TOUCH_EVERY = timedelta(seconds=60)

METHODS = ("password", "password+totp", "oidc")


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A live session and its user, as read at the start of a request."""

    id: uuid.UUID
    principal: Principal
    csrf_token: str
    method: str
    created_at: datetime
    expires_at: datetime
    #: the session's ``last_seen_at`` is older than ``TOUCH_EVERY`` and should be written
    stale: bool


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, settings: Settings, user: User, *, mfa: bool, method: str) -> str:
    """Open a session for ``user`` (signed in by ``method``, with or without a second factor)
    and return the token for the cookie. The caller sets the cookie; the token is never
    stored. A new token at every sign-in means a token planted before it is worthless."""
    if method not in METHODS:
        raise ValueError(f"unknown sign-in method {method!r}")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    state_tenants(session, [user.tenant_id])
    session.add(
        WebSession(
            token_hash=token_hash(token),
            tenant_id=user.tenant_id,
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.session_absolute_seconds),
            mfa=mfa,
            method=method,
            csrf_token=secrets.token_urlsafe(32),
        )
    )
    _purge_dead(session, settings, now, user.id)
    session.flush()
    return token


def _purge_dead(session: Session, settings: Settings, now: datetime, user_id: uuid.UUID) -> None:
    """Sessions past their absolute end, and this user's idle ones, are deleted at sign-in,
    so the table holds live sessions and a bounded tail of idle ones."""
    idle_since = now - timedelta(seconds=settings.session_idle_seconds)
    session.execute(
        delete(WebSession).where(
            or_(
                WebSession.expires_at <= now,
                (WebSession.user_id == user_id) & (WebSession.last_seen_at <= idle_since),
            )
        )
    )


def read_session(session: Session, settings: Settings, token: str) -> ActiveSession | None:
    """The live session of ``token`` with its freshly read user, or ``None`` when the token is
    unknown, the session expired (idle or absolute) or its user is gone or deactivated."""
    state_lookup(session, "roomwarden.session_token_hash", token_hash(token))
    row = session.scalar(select(WebSession).where(WebSession.token_hash == token_hash(token)))
    if row is None:
        return None
    state_tenants(session, [row.tenant_id])
    now = utcnow()
    if row.expires_at <= now or row.last_seen_at + timedelta(seconds=settings.session_idle_seconds) <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active or user.tenant_id != row.tenant_id:
        return None
    principal = Principal(
        user_id=user.id,
        tenant_id=user.tenant_id,
        upn=user.upn,
        display_name=user.display_name,
        is_global_admin=user.is_global_admin,
        mfa=row.mfa,
    )
    return ActiveSession(
        id=row.id,
        principal=principal,
        csrf_token=row.csrf_token,
        method=row.method,
        created_at=row.created_at,
        expires_at=row.expires_at,
        stale=now - row.last_seen_at >= TOUCH_EVERY,
    )


def touch(session: Session, session_id: uuid.UUID) -> None:
    """Record activity: the idle lifetime counts from now."""
    session.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=utcnow()))


def end_session(session: Session, token: str) -> None:
    """Sign-out: the session is deleted, so its cookie is worthless on every worker."""
    state_lookup(session, "roomwarden.session_token_hash", token_hash(token))
    tenant_id = session.scalar(select(WebSession.tenant_id).where(WebSession.token_hash == token_hash(token)))
    if tenant_id is None:
        return
    state_tenants(session, [tenant_id])
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))


def end_user_sessions(session: Session, user_id: uuid.UUID) -> int:
    """End every session of a user (password change or reset, sign-out everywhere);
    returns how many were ended."""
    result = session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(cast(CursorResult[Any], result).rowcount or 0)  # a DELETE's result is a cursor result


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
