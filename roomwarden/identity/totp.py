"""The optional TOTP second factor for local accounts (RFC 6238, via pyotp).

Enrolment is two steps — begin (a new secret, not yet required; needs the current password,
so a stolen token cannot put a factor on someone's account) and confirm (a code proves the
authenticator holds it; answers the recovery codes) — so a user cannot lock itself out by a
typo. Each accepted code moves ``totp_last_step`` forward: a code is good once. Wherever a
code is asked for, a recovery code (``identity.recovery``) will do instead.
"""

from __future__ import annotations

import hmac
import time
import uuid
from datetime import UTC, datetime

import pyotp
from sqlalchemy.orm import Session

from roomwarden.audit.service import Actor, Category, Operation, record
from roomwarden.identity import recovery
from roomwarden.identity.models import User
from roomwarden.identity.passwords import verify_password
from roomwarden.identity.principal import Principal
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


def begin(session: Session, principal: Principal, box: SecretBox, current_password: str) -> tuple[str, str]:
    user = _user(session, principal)
    if user.password_hash is None:
        raise Conflict(
            "this account signs in with its organisation's identity provider, "
            "which decides on the second factor"
        )
    if not verify_password(user.password_hash, current_password):
        raise Invalid("the current password is not correct")
    if user.totp_enabled:
        raise Conflict("a second factor is already enabled; disable it first")
    secret = pyotp.random_base32()
    user.totp_secret_sealed = box.seal(secret)
    user.totp_last_step = None
    session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.upn, issuer_name=ISSUER)
    return secret, uri


def pending(session: Session, principal: Principal, box: SecretBox) -> tuple[str, str] | None:
    """The secret and otpauth:// URI of an enrolment begun but not confirmed yet (to show it
    again next to a refused first code); None when there is none."""
    user = _user(session, principal)
    if user.totp_enabled or not user.totp_secret_sealed:
        return None
    secret = box.open(user.totp_secret_sealed)
    return secret, pyotp.TOTP(secret).provisioning_uri(name=user.upn, issuer_name=ISSUER)


def confirm(session: Session, principal: Principal, box: SecretBox, code: str) -> list[str]:
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
    codes = recovery.issue(session, user)
    _audit(session, user, "enabled")
    return codes


def disable(session: Session, principal: Principal, box: SecretBox, code: str) -> None:
    """Remove the factor; ``code`` is a current one-time code or an unused recovery code."""
    user = _user(session, principal)
    if not user.totp_enabled or not user.totp_secret_sealed:
        raise Conflict("no second factor is enabled")
    if not _spend(session, user, box, code):
        raise Invalid("the one-time code or recovery code is not valid")
    remove(session, user)
    _audit(session, user, "disabled")


def new_recovery_codes(session: Session, principal: Principal, box: SecretBox, code: str) -> list[str]:
    """Replace the recovery codes, proven by a current one-time code or an unused recovery code."""
    user = _user(session, principal)
    if not user.totp_enabled or not user.totp_secret_sealed:
        raise Conflict("no second factor is enabled")
    if not _spend(session, user, box, code):
        raise Invalid("the one-time code or recovery code is not valid")
    codes = recovery.issue(session, user)
    _audit(session, user, "recovery codes replaced")
    return codes


def remove(session: Session, user: User) -> None:
    """Take the factor and its recovery codes away (the user, or a Global admin for a lost one)."""
    user.totp_enabled, user.totp_secret_sealed, user.totp_last_step = False, None, None
    recovery.discard(session, user.id)
    session.flush()


def _spend(session: Session, user: User, box: SecretBox, code: str) -> bool:
    """Use ``code`` up, under the user's row lock held by the caller."""
    if recovery.looks_like_recovery_code(code):
        return recovery.use(session, user.id, code)
    assert user.totp_secret_sealed is not None
    step = matching_step(box.open(user.totp_secret_sealed), code, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    session.flush()
    return True


def consume_step(session: Session, user_id: uuid.UUID, step: int) -> None:
    """Record a one-time code's time step, under a row lock, so that it cannot be used again."""
    consume(session, user_id, step)


def consume(session: Session, user_id: uuid.UUID, proof: int | str) -> None:
    """Spend a one-time code's time step (``int``) or a recovery code (``str``) under the
    user's row lock, so that neither can be used twice; ``Unauthenticated`` if it was."""
    user = session.get_one(User, user_id, with_for_update=True)
    if isinstance(proof, str):
        if not recovery.use(session, user_id, proof):
            raise Unauthenticated("a valid one-time code is required for this account")
        _audit(session, user, f"recovery code used ({recovery.remaining(session, user_id)} left)")
        return
    if user.totp_last_step is not None and proof <= user.totp_last_step:
        raise Unauthenticated("a valid one-time code is required for this account")
    user.totp_last_step = proof
    session.flush()


def _audit(session: Session, user: User, what: str) -> None:
    record(
        session,
        tenant_id=user.tenant_id,
        actor=Actor(user.id, user.tenant_id, upn=user.upn, display_name=user.display_name),
        category=Category.USER,
        operation=Operation.UPDATE,
        object_name=user.upn,
        object_id=user.id,
        details={"second_factor": what},
    )
