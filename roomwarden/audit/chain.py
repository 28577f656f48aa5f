"""What the audit chain's MACs cover, in one place (SPEC §6, docs/operations.md).

A keyed record's ``hash`` is ``HMAC-SHA256(key, prev_hash || "\\n" || payload)``. The payload
lists every stored field of the record, the readable names included, each length-prefixed so
that no field can bleed into the next, with the details as their canonical JSON text (the
exact text in the database). Records written before the chain was keyed (``key_id`` NULL)
keep their plain SHA-256 digest; they are accepted only up to the head's signed
``legacy_seq``.

Everything here is pure: the service writes with it and ``verify`` reads with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from roomwarden.audit.keys import AuditKeys

GENESIS = "0" * 64
PAYLOAD_VERSION = "2"

# Columns a keyed record's MAC covers, in payload order (after the version and sequence).
KEYED_FIELDS = (
    "tenant_id",
    "category",
    "object_name",
    "object_id",
    "operation",
    "result_status",
    "creation_time",
    "user_id",
    "user_tenant_id",
    "user_upn",
    "user_display_name",
    "partner_tenant_name",
    "allowed_by",
    "details",
    "key_id",
)


def _field(value: str | None) -> str:
    return "~" if value is None else f"{len(value)}:{value}"


def payload(seq: int, values: Sequence[str | None]) -> str:
    """The text a keyed record's MAC covers; ``values`` follow ``KEYED_FIELDS`` with the
    datetime already as ISO 8601 and the details as canonical JSON text."""
    return PAYLOAD_VERSION + "|" + str(seq) + "|" + "".join(_field(v) for v in values)


def record_mac(keys: AuditKeys, kid: str, prev_hash: str, seq: int, values: Sequence[str | None]) -> str:
    return keys.mac(kid, (prev_hash + "\n" + payload(seq, values)).encode())


def time_text(value: datetime) -> str:
    return value.isoformat()


def legacy_digest(prev_hash: str, fields: dict[str, Any]) -> str:
    """The unkeyed digest of records written before the chain was keyed (before revision 0008)."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def head_message(
    tenant_id: str, last_seq: int, last_hash: str, legacy_seq: int, base_seq: int, base_hash: str
) -> bytes:
    return f"head|{tenant_id}|{last_seq}|{last_hash}|{legacy_seq}|{base_seq}|{base_hash}".encode()


def checkpoint_message(tenant_id: str, seq: int, head_hash: str, time: str) -> bytes:
    return f"checkpoint|{tenant_id}|{seq}|{head_hash}|{time}".encode()
