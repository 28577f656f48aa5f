"""Single-use recovery codes for the local second factor, so a lost phone does not need a
Global admin. Issued when the factor is confirmed (and again on request, which replaces the
earlier set); each is good once; only digests are stored."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from roomwarden.identity.models import RecoveryCode, User
from roomwarden.kit.time import utcnow

COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are typed from paper
_LENGTH = 12  # about 59 bits each: unguessable within the sign-in throttle


def normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def looks_like_recovery_code(code: str) -> bool:
    return len(normalise(code)) == _LENGTH


def _digest(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def issue(session: Session, user: User) -> list[str]:
    """A fresh set of codes; every earlier code stops working."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_code() for _ in range(COUNT)]
    session.add_all(
        RecoveryCode(tenant_id=user.tenant_id, user_id=user.id, code_hash=_digest(c)) for c in codes
    )
    session.flush()
    return codes


def discard(session: Session, user_id: uuid.UUID) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.flush()


def is_unused(session: Session, user_id: uuid.UUID, code: str) -> bool:
    return (
        session.scalar(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user_id,
                RecoveryCode.code_hash == _digest(code),
                RecoveryCode.used_at.is_(None),
            )
        )
        is not None
    )


def use(session: Session, user_id: uuid.UUID, code: str) -> bool:
    """Mark the code used; ``False`` if it is unknown or was used already. One conditional
    UPDATE, so two concurrent uses of one code cannot both succeed."""
    result = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return cast(CursorResult[Any], result).rowcount == 1  # an UPDATE's result is a cursor result


def remaining(session: Session, user_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count()).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )
