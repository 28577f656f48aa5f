"""The audit chain's keys (SPEC §6): an HMAC-SHA256 key kept outside the database.

Someone who can write the database but cannot read the configuration cannot compute a
record's MAC, so cannot forge, re-order or recompute the chain. Each record and each chain
head names the *key id* it was signed with, derived from the key itself, so a rotated key
keeps verifying the records it signed as long as it stays listed in
``ROOMWARDEN_AUDIT_PREVIOUS_KEYS`` (docs/operations.md, "Rotating the audit key").

The key ring is configuration like any other setting: read once per process from the
environment, identical in every worker.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from functools import lru_cache

from roomwarden.settings import Settings, get_settings


def key_id(secret: str) -> str:
    """A short public name for a key: an HMAC of a constant under it. It identifies the key
    without revealing anything about it."""
    return hmac.new(secret.encode(), b"roomwarden-audit-key-id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class AuditKeys:
    """The current signing key and the older keys still accepted for verification."""

    current: str
    previous: tuple[str, ...] = ()
    _by_id: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ring = {key_id(k): k.encode() for k in (*self.previous, self.current)}
        object.__setattr__(self, "_by_id", ring)

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def secret(self, kid: str | None) -> bytes | None:
        """The key named ``kid``, or ``None`` when it is not configured (any more)."""
        return self._by_id.get(kid) if kid else None

    def mac(self, kid: str, message: bytes) -> str:
        return hmac.digest(self._by_id[kid], message, "sha256").hex()

    def __repr__(self) -> str:  # never print a key
        return f"AuditKeys(current={self.current_id}, previous={len(self.previous)})"

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditKeys:
        current = _plain(settings.audit_key)
        previous = tuple(
            k.strip()
            for k in _plain(settings.audit_previous_keys).split(",")
            if k.strip() and k.strip() != current
        )
        return cls(current, previous)


def _plain(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter else (value or ""))


_installed: AuditKeys | None = None


def install(keys: AuditKeys) -> None:
    """Use ``keys`` in this process (the app and the CLI install the configured ring)."""
    global _installed
    _installed = keys


def active() -> AuditKeys:
    return _installed or _from_environment()


@lru_cache(maxsize=1)
def _from_environment() -> AuditKeys:
    return AuditKeys.from_settings(get_settings())
