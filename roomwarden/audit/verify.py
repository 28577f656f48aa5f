"""Verifying a tenant's audit chain, and signed checkpoints (SPEC §6).

``verify_chain`` covers every record any reader shows: a record numbered at or before the
chain's start fails it at once; the others it walks in ``seq`` order, in batches of plain
rows (no ORM objects, the details read as their stored text and never decoded), and reports
the first record that was altered, inserted, removed or re-ordered, a chain head that is
missing, rewound or re-signed without the key, records cut from the end, and an alarm a
writer left in the chain when it found the head tampered with. Given a checkpoint, it also
checks that the chain still holds the checkpoint's record with the same hash: truncation
after a checkpoint is detected even when the head was rewound to a state that was once
genuine.
"""

from __future__ import annotations

import binascii
import hmac
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, func, select, type_coerce
from sqlalchemy.orm import Session

from roomwarden.audit import chain
from roomwarden.audit.keys import AuditKeys, active
from roomwarden.audit.models import AuditChainHead, AuditRecord
from roomwarden.kit.db import beside
from roomwarden.kit.errors import Invalid
from roomwarden.kit.pipelined import driver
from roomwarden.kit.time import utcnow

log = logging.getLogger("roomwarden.audit")
ALARM_CATEGORY, ALARM_OBJECT = "AuditLog", "chain head"
CHECKPOINT_FORMAT = "roomwarden-audit-checkpoint/1"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    records_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    last_seq: int | None = None
    head_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that ``tenant_id``'s chain held record ``seq`` with hash
    ``head_hash`` at ``time``; kept outside the database, checked later against the log."""

    tenant_id: str
    seq: int
    head_hash: str
    time: str
    key_id: str
    signature: str
    format: str = CHECKPOINT_FORMAT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        fields = ("tenant_id", "seq", "head_hash", "time", "key_id", "signature")
        if not isinstance(data, dict) or any(k not in data for k in fields):
            raise Invalid("not an audit checkpoint: it needs " + ", ".join(fields))
        if data.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:
            raise Invalid(f"unknown checkpoint format {data.get('format')!r}")
        try:
            values: dict[str, Any] = {k: (int(data[k]) if k == "seq" else str(data[k])) for k in fields}
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise Invalid(f"not an audit checkpoint: {exc}") from None

    def signature_ok(self, keys: AuditKeys) -> bool | None:
        if keys.secret(self.key_id) is None:
            return None
        message = chain.checkpoint_message(self.tenant_id, self.seq, self.head_hash, self.time)
        return hmac.compare_digest(keys.mac(self.key_id, message), self.signature)


def make_checkpoint(session: Session, tenant_id: uuid.UUID, keys: AuditKeys | None = None) -> Checkpoint:
    """Sign the current head, after verifying the chain up to it: a checkpoint vouches only
    for a chain that holds."""
    keys = keys or active()
    result = verify_chain(session, tenant_id, keys=keys)
    if not result.ok:
        raise Invalid(f"the audit chain does not verify ({result.problem}); no checkpoint was made")
    time = utcnow().isoformat().replace("+00:00", "Z")
    seq, head_hash = result.last_seq or 0, result.head_hash or chain.GENESIS
    message = chain.checkpoint_message(str(tenant_id), seq, head_hash, time)
    return Checkpoint(
        str(tenant_id), seq, head_hash, time, keys.current_id, keys.mac(keys.current_id, message)
    )


class _Walk:
    """State of one verification; ``fail`` ends it with the first problem found."""

    def __init__(self, head: Any, checkpoint: Checkpoint | None) -> None:
        self.expected_seq = head.base_seq + 1
        self.expected_prev = head.base_hash
        self.checked = 0
        self.checkpoint = checkpoint


def verify_chain(
    session: Session,
    tenant_id: uuid.UUID,
    batch: int = 5000,
    *,
    keys: AuditKeys | None = None,
    checkpoint: Checkpoint | None = None,
) -> VerifyResult:
    keys = keys or active()
    if checkpoint is not None and (problem := _checkpoint_problem(checkpoint, tenant_id, keys)):
        return VerifyResult(False, 0, None, problem)
    head = session.execute(_head(tenant_id)).first()
    if head is None:
        return VerifyResult(False, 0, None, "the chain head is missing: the log cannot be trusted")
    if problem := _head_problem(tenant_id, head, keys):
        return VerifyResult(False, 0, None, problem)
    # Every row a reader can show is checked: one numbered at or before the chain's start (a
    # forged seq of 0 or below, or a row put back into a purged range) is no part of it.
    stray = session.scalar(
        select(func.min(AuditRecord.seq)).where(
            AuditRecord.tenant_id == tenant_id, AuditRecord.seq <= head.base_seq
        )
    )
    if stray is not None:
        return VerifyResult(
            False,
            0,
            stray,
            f"record {stray}: it lies before the start of the chain (record {head.base_seq + 1}): "
            "it was inserted, or kept from a purge",
        )
    walk = _Walk(head, checkpoint)
    failure = _walk_records(session, tenant_id, head, keys, walk, batch)
    # The log may have changed while it was walked (on PostgreSQL every batch reads what is
    # committed by then): the head and the last record are read again, in one statement, so
    # in one snapshot. A newer head that holds vouches for the records written meanwhile,
    # which are walked too; one whose start moved says a purge ran meanwhile, which may be
    # what the walk ran into; a record beyond the head is none of the chain's.
    latest = session.execute(_head(tenant_id, with_last_record=True)).first()
    if latest is None:
        return failure or VerifyResult(
            False, walk.checked, None, "the chain head is missing: the log cannot be trusted"
        )
    if tuple(latest[:7]) != tuple(head):
        if problem := _head_problem(tenant_id, latest, keys):
            return failure or VerifyResult(False, walk.checked, None, problem)
        if _start(latest) != _start(head):
            return VerifyResult(
                False,
                walk.checked,
                None,
                "the start of the chain moved while it was verified (a purge): verify again",
            )
        if failure is None and latest.last_seq > head.last_seq:
            failure = _walk_records(session, tenant_id, latest, keys, walk, batch)
        head = latest
    if failure is not None:
        return failure
    if latest.last_record is not None and latest.last_record > head.last_seq:
        return VerifyResult(
            False,
            walk.checked,
            head.last_seq + 1,
            f"record {latest.last_record}: it lies beyond the chain head (record {head.last_seq}):"
            " records were inserted after the end of the chain",
        )
    last_seq, last_hash = walk.expected_seq - 1, walk.expected_prev
    if (last_seq, last_hash) != (head.last_seq, head.last_hash):
        return VerifyResult(
            False,
            walk.checked,
            last_seq + 1,
            f"records {last_seq + 1} to {head.last_seq} at the end were removed",
        )
    if checkpoint is not None and (problem := _checkpoint_end(checkpoint, head, walk)):
        return VerifyResult(False, walk.checked, min(checkpoint.seq, last_seq + 1), problem)
    return VerifyResult(True, walk.checked, None, None, last_seq, last_hash)


def _head(tenant_id: uuid.UUID, *, with_last_record: bool = False) -> Select[Any]:
    """The chain head's columns (and, with ``with_last_record``, the highest ``seq`` of the
    tenant's records, read in the same statement)."""
    columns: list[Any] = [
        AuditChainHead.last_seq,
        AuditChainHead.last_hash,
        AuditChainHead.legacy_seq,
        AuditChainHead.base_seq,
        AuditChainHead.base_hash,
        AuditChainHead.key_id,
        AuditChainHead.signature,
    ]
    if with_last_record:
        last = select(func.max(AuditRecord.seq)).where(AuditRecord.tenant_id == tenant_id)
        columns.append(last.scalar_subquery().label("last_record"))
    return select(*columns).where(AuditChainHead.tenant_id == tenant_id)


def _start(head: Any) -> tuple[Any, ...]:
    """Where a head says its chain starts: moved only by a purge (or the legacy epoch's end)."""
    return head.legacy_seq, head.base_seq, head.base_hash


def _head_problem(tenant_id: uuid.UUID, head: Any, keys: AuditKeys) -> str | None:
    if head.signature is None or head.key_id is None:
        return "the chain head is not signed: it was replaced without the key"
    secret = keys.secret(head.key_id)
    if secret is None:
        return f"the chain head is signed with key {head.key_id}, which is not configured"
    message = chain.head_message(
        str(tenant_id), head.last_seq, head.last_hash, head.legacy_seq, head.base_seq, head.base_hash
    )
    if not hmac.compare_digest(keys.mac(head.key_id, message), head.signature):
        return "the chain head was altered (rewound or moved without the key)"
    return None


def _rows(
    session: Session, tenant_id: uuid.UUID, after: int, last: int, batch: int
) -> Iterator[Sequence[Any]]:
    details_text = type_coerce(AuditRecord.details, Text)
    columns = (
        AuditRecord.seq,
        AuditRecord.prev_hash,
        AuditRecord.hash,
        AuditRecord.key_id,
        AuditRecord.category,
        AuditRecord.object_name,
        AuditRecord.object_id,
        AuditRecord.operation,
        AuditRecord.result_status,
        AuditRecord.creation_time,
        AuditRecord.user_id,
        AuditRecord.user_tenant_id,
        AuditRecord.user_upn,
        AuditRecord.user_display_name,
        AuditRecord.partner_tenant_name,
        AuditRecord.allowed_by,
        details_text,
    )
    while True:
        rows = session.execute(
            select(*columns)
            .where(AuditRecord.tenant_id == tenant_id, AuditRecord.seq > after, AuditRecord.seq <= last)
            .order_by(AuditRecord.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _walk_records(
    session: Session, tenant_id: uuid.UUID, head: Any, keys: AuditKeys, walk: _Walk, batch: int
) -> VerifyResult | None:
    """Walk the records from where ``walk`` stands up to the head's last record."""
    check = _RowCheck(str(tenant_id), head.legacy_seq, keys)
    if session.get_bind().dialect.name == "postgresql":
        return _walk_records_pg(session, tenant_id, head, walk, check, batch)
    return _walk_rows(session, tenant_id, walk.expected_seq - 1, walk, check, batch, until=head.last_seq)


def _walk_rows(
    session: Session,
    tenant_id: uuid.UUID,
    after: int,
    walk: _Walk,
    check: _RowCheck,
    batch: int,
    *,
    until: int,
) -> VerifyResult | None:
    """Walk the records after ``after`` up to record ``until``, reading their columns as the
    ORM does."""
    cp = walk.checkpoint
    for rows in _rows(session, tenant_id, after, until, batch):
        for row in rows:
            seq, prev, digest = row[0], row[1], row[2]
            if seq != walk.expected_seq:
                return _fail(walk, walk.expected_seq, f"record {walk.expected_seq} is missing")
            if prev != walk.expected_prev:
                return _fail(walk, seq, "the link to the previous record is broken")
            if problem := check(row):
                return _fail(walk, seq, problem)
            if cp is not None and seq == cp.seq and digest != cp.head_hash:
                return _fail(walk, seq, "the record differs from the checkpoint")
            walk.expected_seq, walk.expected_prev = seq + 1, digest
            walk.checked += 1
    return None


def _field_sql(column: str) -> str:
    """``chain._field`` in SQL: ``~`` for NULL, else the length in characters, ``:`` and the text."""
    return f"coalesce(char_length({column}) || ':' || {column}, '~')"


#: ``creation_time.isoformat()`` of the UTC datetime the ORM reads: microseconds only when
#: there are any, the offset ``+00:00``
_ISO_TIME = (
    "replace(to_char(r.creation_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '')"
    " || '+00:00'"
)
#: The records numbered after ``after`` up to ``last``, in ``seq`` order: each one's sequence number,
#: hash and key id, its MAC input built by PostgreSQL (``prev_hash``, a newline and
#: ``chain.payload``, the tenant's field given as a parameter) and whether it may be an alarm.
#: The hash and the MAC input come as bytes (the hash's hex digits in ASCII): the link to the
#: previous record is the MAC input's first line, so ``prev_hash`` is not read twice. That the
#: MAC input starts with the previous record's hash (64 hex digits) and a newline says that
#: ``prev_hash`` is that hash because the column holds at most 64 characters
#: (``tests/audit/test_tamper.py`` holds the schema to it).
_PG_BATCH = (
    "SELECT r.seq::int8, convert_to(r.hash, 'UTF8'), r.key_id,"
    " convert_to(concat(r.prev_hash, E'\\n', %(prefix)s::text, r.seq, '|', %(tenant)s::text, "
    + ", ".join(
        _field_sql("t.iso" if name == "creation_time" else f"r.{name}") for name in chain.KEYED_FIELDS[1:]
    )
    + "), 'UTF8'),"
    " r.category = %(alarm_category)s AND r.object_name = %(alarm_object)s AND r.result_status = 'Failed'"
    f" FROM audit_records r CROSS JOIN LATERAL (SELECT {_ISO_TIME} AS iso) t"
    " WHERE r.tenant_id = %(t)s AND r.seq > %(after)s AND r.seq <= %(last)s ORDER BY r.seq"
)
#: records per batch of the PostgreSQL walk (about 8 MB of MAC input)
PG_BATCH_ROWS = 20_000


def _pg_batches(session: Session, raw: Any, params: dict[str, Any], size: int) -> Iterator[list[Any]]:
    """The batches of ``_PG_BATCH``, ranges of ``size`` sequence numbers from
    ``params["after"]`` to ``params["last"]``, in order. Two readers, each on a connection of
    its own (the session's, and one ``beside`` it), read alternate ranges ahead of the caller:
    the database builds one batch's MAC inputs while the other is read and the caller computes
    MACs. The walk does not depend on the two seeing one snapshot: it is bounded by the head,
    which is read again as it ends."""
    after, last = params["after"], params["last"]
    ranges = [(lo, min(lo + size, last)) for lo in range(after, last, size)]
    if not ranges:
        return

    def reader(conn: Any) -> Callable[[int, int], list[Any]]:
        def read(lo: int, hi: int) -> list[Any]:
            with conn.cursor() as cur:
                cur.execute(_PG_BATCH, {**params, "after": lo, "last": hi}, binary=True)
                return cur.fetchall()

        return read

    if len(ranges) == 1:  # a short chain: no second connection
        yield reader(raw)(*ranges[0])
        return
    with beside(session) as other, ThreadPoolExecutor(2, thread_name_prefix="audit-verify") as pool:
        reads = (reader(raw), reader(other))
        pending = [pool.submit(reads[i % 2], *ranges[i]) for i in range(min(2, len(ranges)))]
        try:
            for i in range(len(ranges)):
                rows = pending.pop(0).result()
                if i + 2 < len(ranges):
                    pending.append(pool.submit(reads[i % 2], *ranges[i + 2]))
                yield rows
        finally:
            for future in pending:
                future.cancel()
            wait(pending)  # both connections are idle again


def _walk_records_pg(
    session: Session, tenant_id: uuid.UUID, head: Any, walk: _Walk, check: _RowCheck, batch: int
) -> VerifyResult | None:
    """``_walk_records`` for PostgreSQL: the records before the keyed chain (up to the head's
    ``legacy_seq``) as there; the keyed ones in batches with each record's MAC input built by
    the database, so that Python computes one HMAC per record and little else. The first
    record the batches do not vouch for (a MAC that differs, a key that is not configured, a
    possible alarm, a broken link or sequence, a checkpoint's record that differs) is checked
    again from its columns as the ORM reads them, by ``_walk_rows``: the answer, and any
    problem reported, are the plain walk's."""
    if walk.expected_seq <= head.legacy_seq:
        legacy_end = min(head.legacy_seq, head.last_seq)
        found = _walk_rows(session, tenant_id, walk.expected_seq - 1, walk, check, batch, until=legacy_end)
        if found is not None or walk.expected_seq <= legacy_end:
            return found
    raw: Any = driver(session.connection())
    params: dict[str, Any] = {
        "prefix": chain.PAYLOAD_VERSION + "|",
        "tenant": chain._field(str(tenant_id)),
        "alarm_category": ALARM_CATEGORY,
        "alarm_object": ALARM_OBJECT,
        "t": tenant_id,
        "after": walk.expected_seq - 1,
        "last": head.last_seq,
    }
    secrets: dict[str | None, bytes | None] = {None: None}
    cp_seq, cp_hash = (
        (walk.checkpoint.seq, walk.checkpoint.head_hash.encode()) if walk.checkpoint else (0, b"")
    )
    digest_of, hexlify = hmac.digest, binascii.b2a_hex
    # the walk's state in locals (this loop runs once per record), written back as it ends
    expected_seq, expected_prev = walk.expected_seq, walk.expected_prev.encode()
    link = expected_prev + b"\n"
    checked, suspect = walk.checked, None
    try:
        for rows in _pg_batches(session, raw, params, PG_BATCH_ROWS):
            for seq, digest, kid, mac_input, alarm in rows:
                if kid not in secrets:
                    secrets[kid] = check.keys.secret(kid)
                secret = secrets[kid]
                if (
                    seq != expected_seq
                    or alarm
                    or secret is None
                    or not mac_input.startswith(link)
                    or hexlify(digest_of(secret, mac_input, "sha256")) != digest
                    or (seq == cp_seq and digest != cp_hash)
                ):
                    suspect = seq
                    break
                expected_seq, expected_prev, link = seq + 1, digest, digest + b"\n"
                checked += 1
            if suspect is not None:
                break
    finally:
        walk.expected_seq, walk.expected_prev, walk.checked = expected_seq, expected_prev.decode(), checked
    if suspect is None:
        return None
    # the plain walk up to the suspect record finds the problem; should it not (the database
    # built a MAC input that differs from Python's), it walks the rest of the chain itself
    found = _walk_rows(session, tenant_id, walk.expected_seq - 1, walk, check, 1, until=suspect)
    if found is not None or walk.expected_seq <= suspect:
        return found
    log.warning("audit verify: record %s holds, but not by the MAC input the database built", suspect)
    return _walk_rows(session, tenant_id, suspect, walk, check, batch, until=head.last_seq)


class _RowCheck:
    """One record's MAC (or legacy digest) and alarm check, on a row of ``_rows``."""

    def __init__(self, tenant: str, legacy_seq: int, keys: AuditKeys) -> None:
        self.tenant, self.legacy_seq, self.keys = tenant, legacy_seq, keys
        self.secrets: dict[str, bytes | None] = {}
        self.prefix = chain.PAYLOAD_VERSION + "|"

    def __call__(self, row: Any) -> str | None:
        seq, prev, digest, kid, category, name, oid, op, status, when, *rest = row
        uid, utid, upn, dname, pname, allowed, details = rest
        if kid is None:
            if seq > self.legacy_seq:
                return "the record is not signed with the audit key"
            fields = {
                "seq": seq, "tenant_id": self.tenant, "category": category, "object_name": name,
                "object_id": oid, "operation": op, "result_status": status,
                "creation_time": when.isoformat(), "user_id": uid, "user_tenant_id": utid,
                "details": json.loads(details),
            }  # fmt: skip
            if chain.legacy_digest(prev, fields) != digest:
                return "the record content was altered"
        else:
            if kid not in self.secrets:
                self.secrets[kid] = self.keys.secret(kid)
            if (secret := self.secrets[kid]) is None:
                return f"the record is signed with key {kid}, which is not configured"
            f = chain._field
            text = (
                prev + "\n" + self.prefix + str(seq) + "|" + f(self.tenant) + f(category) + f(name)
                + f(oid) + f(op) + f(status) + f(when.isoformat()) + f(uid) + f(utid) + f(upn)
                + f(dname) + f(pname) + f(allowed) + f(details) + f(kid)
            )  # fmt: skip
            if hmac.digest(secret, text.encode(), "sha256").hex() != digest:
                return "the record content was altered"
        if category == ALARM_CATEGORY and name == ALARM_OBJECT and status == "Failed":
            alarm = json.loads(details).get("alarm", "the chain head was tampered with")
            return f"{alarm} when this record was written: earlier records may be missing"
        return None


def _fail(walk: _Walk, seq: int, problem: str) -> VerifyResult:
    return VerifyResult(False, walk.checked, seq, f"record {seq}: {problem}")


def _checkpoint_problem(checkpoint: Checkpoint, tenant_id: uuid.UUID, keys: AuditKeys) -> str | None:
    if checkpoint.tenant_id != str(tenant_id):
        return "the checkpoint is for another tenant"
    ok = checkpoint.signature_ok(keys)
    if ok is None:
        return f"the checkpoint is signed with key {checkpoint.key_id}, which is not configured"
    if not ok:
        return "the checkpoint's signature does not hold: it was altered or not made by this service"
    return None


def _checkpoint_end(checkpoint: Checkpoint, head: Any, walk: _Walk) -> str | None:
    last = walk.expected_seq - 1
    if checkpoint.seq > last:
        return (
            f"the log ends at record {last} but the checkpoint vouches for record {checkpoint.seq}:"
            " records were removed"
        )
    if checkpoint.seq == head.base_seq and checkpoint.head_hash != head.base_hash:
        return "the last purged record differs from the checkpoint"
    return None


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
