"""Sign-in throttling: how many password guesses an account and a client address get.

The scheme (docs/operations.md, "Sign-in throttling", says the same for operators):

- Two counters, one per **account** (the normalised user name, whether or not such a user
  exists) and one per **client address** (see :func:`normalise_address`). Each is a row of
  ``sign_in_throttles`` with the number of failures in a fixed window that starts at the
  first failure and lasts ``ROOMWARDEN_SIGNIN_WINDOW_SECONDS``.
- **Check and count are one atomic step.** Before a password is even looked at,
  :func:`reserve` locks both rows (in one order: account, then address; on SQLite the
  write transaction's lock), refuses when either is at its limit, and otherwise counts the
  attempt as a failure *in advance* and commits. A guess that was never recorded is never
  evaluated: if the reservation cannot be written, the sign-in is refused. Forty parallel
  guesses against a limit of five therefore get exactly five evaluations.
- A successful sign-in gives its own reservation back (:func:`release`); a failed one needs
  no further write, so a failure costs one short transaction and never holds two database
  connections at once.
- **Lock-out is not a denial of service against the owner.** While the account is locked,
  an attempt that carries a one-time code from an address with no failure in its window is
  still evaluated (once per address and window): the correct password *and* a valid second
  factor sign in; anything else answers like the lock (429), so the lock reveals nothing
  about the password. Accounts without a second factor wait out the window or are unlocked
  by an administrator (:func:`unlock_account`).

Public functions take a ``Session`` and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from roomwarden.identity.models import SignInThrottle
from roomwarden.kit.errors import TooManyRequests
from roomwarden.kit.time import utcnow
from roomwarden.settings import Settings

#: Longest stored key; accounts are at most 320 characters (the sign-in form's limit).
MAX_KEY_LENGTH = 320
#: IPv6 clients are counted per /64: one subscriber usually holds a whole /64, so rotating
#: addresses inside it must not reset the count.
IPV6_PREFIX = 64


class Kind(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"


# -- keys -----------------------------------------------------------------------------------


def normalise_account(username: str) -> str:
    """The account key: the user name as typed, trimmed and lower-cased (UPNs are stored so)."""
    return username.strip().lower()[:MAX_KEY_LENGTH]


def normalise_address(host: str | None) -> str:
    """The address key: an IPv4 address as is, an IPv6 address as its /64 network (an
    IPv4-mapped IPv6 address as the IPv4 address), anything else (a test client's name, a
    Unix socket) as a bounded lower-case string."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host.strip().split("%", 1)[0])
    except ValueError:
        return "name:" + host.strip().lower()[:60]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


# -- the counters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reservation:
    """One attempt's place in the counters; given back by :func:`release` on success."""

    account: str
    address: str
    counted_account: bool
    #: evaluated although the account is locked: only a password *and* a second factor pass
    owner_probe: bool
    #: seconds until the account's lock ends (for an owner's probe that fails)
    retry_after: int = 0


@dataclass(frozen=True)
class Status:
    """An account's or address's counter, for administrators (unlock) and tests."""

    kind: Kind
    key: str
    failures: int
    window_ends_at: datetime | None
    locked: bool


def _limit(settings: Settings, kind: Kind) -> int:
    if kind is Kind.ACCOUNT:
        return settings.signin_max_failures_per_account
    return settings.signin_max_failures_per_address


def _current(row: SignInThrottle | None, now: datetime, window: timedelta) -> int:
    """Failures counted in the row's window, 0 once the window has passed."""
    if row is None or row.window_started_at + window <= now:
        return 0
    return row.failures


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SignInThrottle)


Key = tuple[str, str]


def _lock_rows(session: Session, keys: list[Key], now: datetime) -> dict[Key, SignInThrottle]:
    """Create the rows if missing, then lock them in key order (account before address), so
    two attempts on the same rows queue instead of deadlocking."""
    session.execute(
        _insert(session)
        .values([{"kind": k, "key": v, "failures": 0, "window_started_at": now} for k, v in keys])
        .on_conflict_do_nothing(index_elements=["kind", "key"])
    )
    rows = session.scalars(
        select(SignInThrottle)
        .where(tuple_(SignInThrottle.kind, SignInThrottle.key).in_(keys))
        .order_by(SignInThrottle.kind, SignInThrottle.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {(r.kind, r.key): r for r in rows}


def _count(row: SignInThrottle, now: datetime, window: timedelta) -> None:
    if row.window_started_at + window <= now:
        row.failures, row.window_started_at = 0, now
    row.failures += 1


def _retry_after(rows: list[SignInThrottle], now: datetime, window: timedelta) -> int:
    ends = max(r.window_started_at + window for r in rows)
    return max(1, math.ceil((ends - now).total_seconds()))


def _refuse(rows: list[SignInThrottle], now: datetime, window: timedelta) -> TooManyRequests:
    return TooManyRequests(
        "too many failed sign-in attempts; try again later",
        retry_after=_retry_after(rows, now, window),
    )


def reserve(
    session: Session, settings: Settings, account: str, address: str, *, with_second_factor: bool
) -> Reservation:
    """Count one attempt for ``account`` from ``address`` before it is evaluated, or raise
    ``TooManyRequests``. ``with_second_factor`` says the attempt carries a one-time code,
    which lets its owner in past an account lock (see the module's text)."""
    now = utcnow()
    window = timedelta(seconds=settings.signin_window_seconds)
    acct_key, addr_key = (Kind.ACCOUNT.value, account), (Kind.ADDRESS.value, address)
    rows = _lock_rows(session, [acct_key, addr_key], now)
    acct, addr = rows[acct_key], rows[addr_key]
    address_failures = _current(addr, now, window)
    if address_failures >= settings.signin_max_failures_per_address:
        raise _refuse([addr], now, window)
    account_locked = _current(acct, now, window) >= settings.signin_max_failures_per_account
    if account_locked and not (with_second_factor and address_failures == 0):
        raise _refuse([acct], now, window)
    if not account_locked:
        _count(acct, now, window)
    _count(addr, now, window)
    session.flush()
    return Reservation(
        account,
        address,
        counted_account=not account_locked,
        owner_probe=account_locked,
        retry_after=_retry_after([acct], now, window) if account_locked else 0,
    )


def release(session: Session, settings: Settings, reservation: Reservation) -> None:
    """A successful sign-in gives back the failures :func:`reserve` counted in advance.
    Other failures in the window stay counted."""
    now = utcnow()
    window = timedelta(seconds=settings.signin_window_seconds)
    keys = [(Kind.ADDRESS.value, reservation.address)]
    if reservation.counted_account:
        keys.insert(0, (Kind.ACCOUNT.value, reservation.account))
    for row in _lock_rows(session, keys, now).values():
        if _current(row, now, window) > 0:
            row.failures -= 1
    session.flush()


def status(session: Session, settings: Settings, kind: Kind, key: str) -> Status:
    """The counter of an account (``normalise_account``) or an address (``normalise_address``)."""
    now = utcnow()
    window = timedelta(seconds=settings.signin_window_seconds)
    row = session.get(SignInThrottle, (kind.value, key))
    failures = _current(row, now, window)
    return Status(
        kind=kind,
        key=key,
        failures=failures,
        window_ends_at=row.window_started_at + window if row is not None and failures else None,
        locked=failures >= _limit(settings, kind),
    )


def unlock_account(session: Session, account: str) -> bool:
    """Forget an account's failures (an administrator's unlock). True if there were any."""
    return _forget(session, Kind.ACCOUNT, normalise_account(account))


def unlock_address(session: Session, address: str) -> bool:
    """Forget a client address's failures (``address`` is normalised here)."""
    return _forget(session, Kind.ADDRESS, normalise_address(address))


def _forget(session: Session, kind: Kind, key: str) -> bool:
    row = session.get(SignInThrottle, (kind.value, key), with_for_update=True)
    if row is None:
        return False
    had_failures = row.failures > 0
    session.delete(row)
    session.flush()
    return had_failures


def purge_expired(session: Session, settings: Settings) -> int:
    """Delete counters whose window has passed (they count as zero anyway); returns how many."""
    cutoff = utcnow() - timedelta(seconds=settings.signin_window_seconds)
    result = session.execute(delete(SignInThrottle).where(SignInThrottle.window_started_at <= cutoff))
    return int(cast(CursorResult[Any], result).rowcount)  # a DELETE's result is a cursor result


# -- other guessable secrets --------------------------------------------------------------------


def reserve_attempt(session: Session, kind: str, key: str, *, limit: int, window_seconds: int) -> None:
    """Count one attempt of ``kind`` (e.g. a device's enrolment with a key) from ``key`` (a
    client address) before it is evaluated, or raise ``TooManyRequests``: the same counters,
    in advance and atomic, as sign-in's."""
    now = utcnow()
    window = timedelta(seconds=window_seconds)
    row = _lock_rows(session, [(kind, key)], now)[(kind, key)]
    if _current(row, now, window) >= limit:
        raise TooManyRequests(
            "too many failed attempts from this address; try again later",
            retry_after=_retry_after([row], now, window),
        )
    _count(row, now, window)
    session.flush()


def release_attempt(session: Session, kind: str, key: str, *, window_seconds: int) -> None:
    """A successful attempt gives back what :func:`reserve_attempt` counted."""
    now = utcnow()
    window = timedelta(seconds=window_seconds)
    row = _lock_rows(session, [(kind, key)], now)[(kind, key)]
    if _current(row, now, window) > 0:
        row.failures -= 1
    session.flush()
