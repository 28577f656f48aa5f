"""The optional TOTP second factor for local accounts (RFC 6238, via pyotp).

Enrolment is two steps — begin (a new secret, not yet required) and confirm (a code proves
the authenticator holds it) — so a user cannot lock itself out by a typo. Each accepted code
moves ``totp_last_step`` forward: a code is good once.
"""

from __future__ import annotations

import hmac
import time
import uuid
from datetime import UTC, datetime

import pyotp
from sqlalchemy.orm import Session

from roomwarden.access.principal import Principal
from roomwarden.audit.service import Actor, Category, Operation, record
from roomwarden.identity.models import User
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.errors import Conflict, Invalid, Unauthenticated

ISSUER = "Roomwarden"
WINDOW = 1  # accept the previous and the next 30-second step, for clock drift


def _user(session: Session, principal: Principal) -> User:
    return session.get_one(User, principal.user_id, with_for_update=True)


def matching_step(secret: str, code: str, after: int | None, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to, if it is valid now and newer than ``after``."""
    totp = pyotp.TOTP(secret)
    moment = time.time() if now is None else now
    for offset in range(-WINDOW, WINDOW + 1):
        at = moment + offset * totp.interval
        step = totp.timecode(datetime.fromtimestamp(at, UTC))
        if (after is None or step > after) and hmac.compare_digest(totp.at(at), code.strip()):
            return step
    return None


def begin(session: Session, principal: Principal, box: SecretBox) -> tuple[str, str]:
    user = _user(session, principal)
    if user.totp_enabled:
        raise Conflict("a second factor is already enabled; disable it first")
    secret = pyotp.random_base32()
    user.totp_secret_sealed = box.seal(secret)
    user.totp_last_step = None
    session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.upn, issuer_name=ISSUER)
    return secret, uri


def confirm(session: Session, principal: Principal, box: SecretBox, code: str) -> None:
    user = _user(session, principal)
    if user.totp_enabled:
        raise Conflict("the second factor is already enabled")
    if not user.totp_secret_sealed:
        raise Conflict("start the enrolment first")
    step = matching_step(box.open(user.totp_secret_sealed), code, None)
    if step is None:
        raise Invalid("the one-time code is not valid")
    user.totp_enabled, user.totp_last_step = True, step
    session.flush()
    _audit(session, user, "enabled")


def disable(session: Session, principal: Principal, box: SecretBox, code: str) -> None:
    user = _user(session, principal)
    if not user.totp_enabled or not user.totp_secret_sealed:
        raise Conflict("no second factor is enabled")
    step = matching_step(box.open(user.totp_secret_sealed), code, user.totp_last_step)
    if step is None:
        raise Invalid("the one-time code is not valid")
    user.totp_enabled, user.totp_secret_sealed, user.totp_last_step = False, None, None
    session.flush()
    _audit(session, user, "disabled")


def second_factor_step(user: User, box: SecretBox, code: str | None) -> int | None:
    """For a user with a second factor: the time step of a valid, unused ``code``, else
    ``Unauthenticated``. ``None`` when the user has no second factor."""
    if not user.totp_enabled or not user.totp_secret_sealed:
        return None
    step = matching_step(box.open(user.totp_secret_sealed), code, user.totp_last_step) if code else None
    if step is None:
        raise Unauthenticated("a valid one-time code is required for this account")
    return step


def consume_step(session: Session, user_id: uuid.UUID, step: int) -> None:
    """Record the code's step, under a row lock, so that it cannot be used again."""
    user = session.get_one(User, user_id, with_for_update=True)
    if user.totp_last_step is not None and step <= user.totp_last_step:
        raise Unauthenticated("a valid one-time code is required for this account")
    user.totp_last_step = step
    session.flush()


def _audit(session: Session, user: User, what: str) -> None:
    record(
        session,
        tenant_id=user.tenant_id,
        actor=Actor(user.id, user.tenant_id),
        category=Category.USER,
        operation=Operation.UPDATE,
        object_name=user.upn,
        object_id=user.id,
        details={"second_factor": what},
    )
