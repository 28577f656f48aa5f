"""Credentials of one account: password change and reset, sign-out everywhere, unlocking an
account locked by sign-in throttling.

Every way a credential can be lost or replaced ends in ``revoke_credentials``: it raises the
user's token version (checked by ``identity.deps`` on every request, so earlier tokens stop
working on the next request on every worker) and ends the user's portal sessions.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.audit.service import Actor, Auditor, Category, Operation, record
from roomwarden.identity import sessions, throttle
from roomwarden.identity.models import User
from roomwarden.identity.passwords import hash_password, verify_password
from roomwarden.kit.db import state_lookup, state_tenants
from roomwarden.kit.errors import Conflict, NotFound
from roomwarden.settings import Settings

NO_PASSWORD = "this account signs in with its organisation's identity provider and has no password"

#: What a credential change does to existing sign-ins, for the audit record.
SIGNED_OUT = "every earlier token and session ended"


def revoke_credentials(session: Session, user: User) -> None:
    """End every token and portal session the user holds, from the next request on."""
    user.token_version += 1
    sessions.end_user_sessions(session, user.id)
    session.flush()


def lock_user(session: Session, user_id: uuid.UUID) -> User:
    return session.get_one(User, user_id, with_for_update=True, populate_existing=True)


def check_current_password(user: User, password: str) -> bool:
    """Constant work whatever the outcome (see ``verify_password``)."""
    return verify_password(user.password_hash, password)


def change_password(session: Session, user_id: uuid.UUID, new_password: str) -> User:
    """The user's own change, after its current password was checked by the caller."""
    user = lock_user(session, user_id)
    if user.password_hash is None:
        raise Conflict(NO_PASSWORD)
    user.password_hash = hash_password(new_password)
    revoke_credentials(session, user)
    _audit(
        session,
        user,
        Actor(user.id, user.tenant_id, upn=user.upn, display_name=user.display_name),
        {"password": "changed", "sessions": SIGNED_OUT},
    )
    return user


def reset_password(session: Session, user: User, new_password: str, by: Auditor) -> None:
    """A Global admin's or the operator's reset (``by``, which the record names as what
    allowed it); ``user`` is already locked by the caller."""
    user.password_hash = hash_password(new_password)
    revoke_credentials(session, user)
    _audit_by(session, by, user, {"password": "reset", "sessions": SIGNED_OUT})


def sign_out_everywhere(session: Session, user_id: uuid.UUID) -> User:
    user = lock_user(session, user_id)
    revoke_credentials(session, user)
    _audit(
        session,
        user,
        Actor(user.id, user.tenant_id, upn=user.upn, display_name=user.display_name),
        {"sessions": SIGNED_OUT},
    )
    return user


def unlock(session: Session, settings: Settings, user: User, by: Auditor) -> int:
    """Forget the account's failed sign-ins (``identity.throttle``), so it signs in again at
    once; answers how many failures were forgotten. Failures counted against a client address
    are kept: unlocking one account must not reopen guessing from an address that is
    attacking many."""
    cleared = throttle.status(
        session, settings, throttle.Kind.ACCOUNT, throttle.normalise_account(user.upn)
    ).failures
    throttle.unlock_account(session, user.upn)
    _audit_by(session, by, user, {"sign_in": "unlocked", "failures_cleared": cleared})
    return cleared


def user_by_upn(session: Session, upn: str, *, lock: bool = False) -> User:
    """The user of a UPN in any tenant (the operator's commands): found by the UPN alone,
    then read (and locked) in its tenant."""
    key = upn.strip().lower()
    state_lookup(session, "roomwarden.upn", key)
    tenant_id = session.scalar(select(User.tenant_id).where(User.upn == key))
    if tenant_id is not None:
        state_tenants(session, [tenant_id])
    stmt = select(User).where(User.upn == key)
    if lock:
        stmt = stmt.with_for_update()
    user = session.scalar(stmt)
    if user is None:
        raise NotFound(f"no user with UPN {upn!r}")
    return user


def _audit_by(session: Session, by: Auditor, user: User, details: dict[str, object]) -> None:
    """A change to someone's account by an administrator: the record names what allowed it."""
    by.audit(session, Category.USER, Operation.UPDATE, user.upn, user.id, details)


def _audit(session: Session, user: User, actor: Actor, details: dict[str, object]) -> None:
    """A user's change to its own account: allowed by no role."""
    record(
        session,
        tenant_id=user.tenant_id,
        actor=actor,
        category=Category.USER,
        operation=Operation.UPDATE,
        object_name=user.upn,
        object_id=user.id,
        details=details,
    )
