"""Local sign-in, in three short steps so that no step holds a database connection while
another is opened, and the password hash never runs inside a transaction:

1. :func:`begin` — one transaction: count the attempt in advance (``throttle.reserve``) and
   read the account's credentials; committed before anything is evaluated.
2. :func:`verify` — no database: the password hash and the one-time code.
3. :func:`finish` — one transaction, on success only: give the reservation back and use up
   the code's time step. A failure needs no write: it was counted in step 1.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from roomwarden.identity import recovery, throttle, totp
from roomwarden.identity.models import User
from roomwarden.identity.passwords import HashQueue, verify_password
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import Database, state_lookup, state_tenants
from roomwarden.kit.errors import TooManyRequests, Unauthenticated
from roomwarden.kit.limits import stepped_aside
from roomwarden.settings import Settings
from roomwarden.tenants.models import Tenant

WRONG = "the user name or password is incorrect"
FEDERATED = "this organisation signs in with its own identity provider: sign in at /login"


class AccountInactive(Unauthenticated):
    """The password was right but the account is deactivated. The API answers it exactly like
    a wrong password; the portal may say why, since only the password's holder learns it."""


class SecondFactorRequired(Unauthenticated):
    """The password was right; the one-time code is missing, wrong or used already."""


class FederatedAccount(Unauthenticated):
    """The account's tenant signs in with OpenID Connect, which takes no passwords: a person
    off-boarded at the provider must not get in with a password left from before."""


@dataclass(frozen=True)
class Credentials:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    password_hash: str | None
    is_active: bool
    totp_secret_sealed: str | None
    totp_last_step: int | None
    token_version: int
    federated_tenant: bool


@dataclass(frozen=True)
class Attempt:
    reservation: throttle.Reservation
    credentials: Credentials | None


@dataclass(frozen=True)
class Outcome:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    mfa_step: int | None
    token_version: int = 0
    #: a recovery code given instead of a one-time code; spent (or refused) in ``finish``
    recovery_code: str | None = None

    @property
    def mfa(self) -> bool:
        return self.mfa_step is not None or self.recovery_code is not None


def begin(session: Session, settings: Settings, account: str, address: str, *, otp: bool) -> Attempt:
    reservation = throttle.reserve(session, settings, account, address, with_second_factor=otp)
    state_lookup(session, "roomwarden.upn", account)
    row = session.execute(
        select(
            User.id,
            User.tenant_id,
            User.password_hash,
            User.is_active,
            User.totp_enabled,
            User.totp_secret_sealed,
            User.totp_last_step,
            User.token_version,
            Tenant.identity_source,
        )
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.upn == account)
    ).first()
    creds = None
    if row is not None:
        creds = Credentials(
            user_id=row.id,
            tenant_id=row.tenant_id,
            password_hash=row.password_hash,
            is_active=row.is_active,
            totp_secret_sealed=row.totp_secret_sealed if row.totp_enabled else None,
            totp_last_step=row.totp_last_step,
            token_version=row.token_version,
            federated_tenant=row.identity_source == "oidc",
        )
    return Attempt(reservation, creds)


def verify(attempt: Attempt, password: str, otp: str | None, box: SecretBox) -> Outcome:
    """Check the password and, for an account with a second factor, the code. Raises
    ``Unauthenticated``, or ``TooManyRequests`` for an owner's attempt past an account lock
    that is not complete (see roomwarden/identity/throttle.py)."""
    creds = attempt.credentials
    try:
        ok = verify_password(creds.password_hash if creds else None, password)
        if creds is None or not ok:
            raise Unauthenticated(WRONG)
        if not creds.is_active:
            raise AccountInactive(WRONG)
        if creds.federated_tenant:
            raise FederatedAccount(FEDERATED)
        step, recovery_code = None, None
        if creds.totp_secret_sealed and otp and recovery.looks_like_recovery_code(otp):
            recovery_code = otp  # checked and spent atomically in ``finish``
        elif creds.totp_secret_sealed:
            secret = box.open(creds.totp_secret_sealed)
            step = totp.matching_step(secret, otp, creds.totp_last_step) if otp else None
            if step is None:
                raise SecondFactorRequired("a valid one-time code is required for this account")
        elif attempt.reservation.owner_probe:
            raise Unauthenticated(WRONG)  # no second factor: the lock holds
    except Unauthenticated:
        if attempt.reservation.owner_probe:
            raise locked(attempt.reservation) from None
        raise
    return Outcome(creds.user_id, creds.tenant_id, step, creds.token_version, recovery_code)


def locked(reservation: throttle.Reservation) -> TooManyRequests:
    return TooManyRequests(
        "too many failed sign-in attempts; try again later", retry_after=reservation.retry_after
    )


def finish(session: Session, settings: Settings, attempt: Attempt, outcome: Outcome) -> None:
    """Spend the code and give the reservation back. An unknown or used recovery code fails
    here, and the attempt then stays counted as a failure."""
    state_tenants(session, [outcome.tenant_id])
    if outcome.mfa_step is not None:
        totp.consume_step(session, outcome.user_id, outcome.mfa_step)
    if outcome.recovery_code is not None:
        try:
            totp.consume(session, outcome.user_id, outcome.recovery_code)
        except Unauthenticated:
            if attempt.reservation.owner_probe:
                raise locked(attempt.reservation) from None
            raise SecondFactorRequired("a valid one-time code is required for this account") from None
    throttle.release(session, settings, attempt.reservation)


async def sign_in(
    db: Database,
    settings: Settings,
    box: SecretBox,
    hashing: HashQueue,
    *,
    username: str,
    password: str,
    otp: str | None,
    client_host: str | None,
    scope: MutableMapping[str, Any],
) -> Outcome:
    """The whole local sign-in, for the API and the portal alike, on the request of ``scope``.
    ``hashing`` runs the password hash (a small pool bounds their memory) and bounds the line
    of sign-ins waiting for it: past it, 429 at once. While a sign-in waits for its hash it
    holds no request thread, no database connection and no admission turn
    (``kit.limits.stepped_aside``), so a burst of guesses does not make others wait."""
    account = throttle.normalise_account(username)
    address = throttle.normalise_address(client_host)

    def first() -> Attempt:
        with db.transaction() as session:
            return begin(session, settings, account, address, otp=bool(otp))

    with hashing.place():
        attempt = await run_in_threadpool(first)
        loop = asyncio.get_running_loop()
        async with stepped_aside(scope):
            outcome = await loop.run_in_executor(hashing.executor, verify, attempt, password, otp, box)

    def last() -> None:
        with db.transaction() as session:
            finish(session, settings, attempt, outcome)

    await run_in_threadpool(last)
    return outcome
