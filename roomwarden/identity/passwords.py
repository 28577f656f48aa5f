"""Password hashing with argon2id (RFC 9106)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from roomwarden.kit.errors import TooManyRequests
from roomwarden.settings import get_settings


@lru_cache
def _hasher() -> PasswordHasher:
    s = get_settings()
    return PasswordHasher(
        time_cost=s.argon2_time_cost,
        memory_cost=s.argon2_memory_cost_kib,
        parallelism=s.argon2_parallelism,
    )


@lru_cache
def _dummy_hash() -> str:
    return _hasher().hash("roomwarden-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists, so timing does not reveal it."""
    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


class HashQueue:
    """The worker's password hashes of sign-ins: ``concurrency`` computed at once (each needs
    the argon2id memory cost), at most ``waiting`` more in line. A sign-in that finds the line
    full is refused at once (429), before it is counted or reads anything: a burst of
    guesses costs the worker a short line, not every request's wait.

    The count lives on the worker's event loop (``place`` is entered and left there only);
    it is a measure of this process's load, not a rule two workers could disagree on."""

    def __init__(self, concurrency: int, waiting: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="password-hash")
        self.limit = concurrency + waiting
        self.pending = 0

    @contextmanager
    def place(self) -> Iterator[None]:
        if self.pending >= self.limit:
            raise TooManyRequests("too many sign-ins are waiting; try again shortly", retry_after=1)
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
