"""Reading the audit log: date ranges, filters, keyset pages and the streaming CSV export.

Every parameter is validated before anything is streamed, so a bad one answers 422 and an
export never stops half-way on input. The export reads plain columns (never ORM objects or
the details it does not write): on PostgreSQL one ``COPY ... TO STDOUT`` statement streamed
through psycopg, elsewhere keyset batches through Python's ``csv`` module; both write the
same bytes (the tests compare them).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import Select, func, select

from roomwarden.audit.models import AuditRecord
from roomwarden.audit.service import Category
from roomwarden.kit.db import Database
from roomwarden.kit.errors import Invalid
from roomwarden.kit.pipelined import driver
from roomwarden.kit.time import utcnow

RETENTION = timedelta(days=180)
SLACK = timedelta(minutes=5)
MIN_YEAR, MAX_YEAR = 2000, 9999
CSV_COLUMNS = (
    "activity.category",
    "activity.objectName",
    "activity.operation",
    "activity.resultStatus",
    "activity.tenantId",
    "creationTime",
    "user.userId",
    "user.userTenantId",
    # Readable columns (SPEC §6, after the eight above).
    "user.userPrincipalName",
    "user.displayName",
    "user.partnerTenantName",
    "activity.allowedBy",
)
#: Free-text columns a spreadsheet could read as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
DATE_HELP = "a date (2026-01-31) or an ISO 8601 date-time with a time zone (2026-01-31T08:00:00Z)"


# -- dates -------------------------------------------------------------------------------------


def parse_when(value: str | None, name: str, *, end: bool) -> datetime | None:
    """A date (the whole day: from its first instant, or to its last for ``end``) or a
    date-time with a time zone, normalised to UTC and bounded to years 2000-9999."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            parsed = datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(name, f"{name} must be {DATE_HELP}") from None
    if parsed.tzinfo is None:
        raise _invalid(name, f"{name} needs a time zone, e.g. 2026-01-31T00:00:00Z, or give a date")
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise _invalid(name, f"{name} is outside the years {MIN_YEAR}-{MAX_YEAR}") from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise _invalid(name, f"{name} is outside the years {MIN_YEAR}-{MAX_YEAR}")
    return parsed


def _invalid(name: str, message: str) -> Invalid:
    return Invalid(message, extra={"errors": [{"loc": ["query", name], "msg": message}]})


def date_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    now = utcnow()
    start = start or now - RETENTION
    end = end or now
    if end < start:
        raise Invalid("end must not be before start")
    if start < now - RETENTION - SLACK:
        raise Invalid("audit records are kept for 180 days: start must be within them")
    return start, end


def parse_range(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    return date_range(parse_when(start, "start", end=False), parse_when(end, "end", end=True))


# -- JSON listing ------------------------------------------------------------------------------


S = TypeVar("S", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True, slots=True)
class Filters:
    category: Category | None = None
    result_status: str | None = None
    user_id: str | None = None
    user_upn: str | None = None
    partner_tenant_id: uuid.UUID | None = None

    def described(self) -> dict[str, str]:
        """The filters in force, for the export's own audit record."""
        values = {
            "category": self.category.value if self.category else None,
            "result_status": self.result_status,
            "user_id": self.user_id,
            "user_upn": self.user_upn,
            "partner_tenant_id": str(self.partner_tenant_id) if self.partner_tenant_id else None,
        }
        return {name: value for name, value in values.items() if value}


def records_query(
    tenant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    category: str | None = None,
    result_status: str | None = None,
    filters: Filters | None = None,
) -> Select[AuditRecord]:
    f = filters or Filters(category=Category(category) if category else None, result_status=result_status)
    return filtered(select(AuditRecord), tenant_id, start, end, f)


def filtered(stmt: S, tenant_id: uuid.UUID, start: datetime, end: datetime, f: Filters) -> S:
    """``stmt`` narrowed to the tenant's records of the range that pass every filter: the
    one definition the list, the page and both exports share."""
    stmt = stmt.where(
        AuditRecord.tenant_id == tenant_id,
        AuditRecord.creation_time >= start,
        AuditRecord.creation_time <= end,
    )
    if f.category:
        stmt = stmt.where(AuditRecord.category == f.category.value)
    if f.result_status:
        stmt = stmt.where(AuditRecord.result_status == f.result_status)
    if f.user_id:
        stmt = stmt.where(AuditRecord.user_id == f.user_id)
    if f.user_upn:
        stmt = stmt.where(func.lower(AuditRecord.user_upn) == f.user_upn.strip().lower())
    if f.partner_tenant_id:
        stmt = stmt.where(
            AuditRecord.user_tenant_id == str(f.partner_tenant_id),
            AuditRecord.user_tenant_id != str(tenant_id),
        )
    return stmt


def encode_seq_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_seq_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = raw.partition(":")
        # a record numbered below zero is shown (and fails verification): its page goes on
        if kind != "seq" or not number.removeprefix("-").isdigit() or len(number) > 19:
            raise ValueError(raw)
        return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid("cursor", "cursor is not valid") from None


def page_query(
    stmt: Select[AuditRecord], order: Literal["desc", "asc"], after: int | None, limit: int
) -> Select[AuditRecord]:
    """One keyset page in ``seq`` order (newest first for ``desc``)."""
    if after is not None:
        stmt = stmt.where(AuditRecord.seq < after if order == "desc" else AuditRecord.seq > after)
    key = AuditRecord.seq.desc() if order == "desc" else AuditRecord.seq.asc()
    return stmt.order_by(key).limit(limit + 1)


# -- CSV export --------------------------------------------------------------------------------

_EXPORT_COLUMNS = (
    AuditRecord.category,
    AuditRecord.object_name,
    AuditRecord.operation,
    AuditRecord.result_status,
    AuditRecord.tenant_id,
    AuditRecord.creation_time,
    AuditRecord.user_id,
    AuditRecord.user_tenant_id,
    AuditRecord.user_upn,
    AuditRecord.user_display_name,
    AuditRecord.partner_tenant_name,
    AuditRecord.allowed_by,
)
_FREE_TEXT = {1, 8, 9, 10, 11}  # object name and the readable names: escaped against formulas


def header() -> str:
    return ",".join(CSV_COLUMNS) + "\n"


def export_csv(
    db: Database,
    tenant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    batch: int = 2000,
    filters: Filters | None = None,
) -> Iterator[str | bytes]:
    """The CSV of a validated range and the list's filters; memory stays flat whatever its
    size."""
    f = filters or Filters()
    if db.url.startswith("postgresql"):
        return _export_copy(db, tenant_id, start, end, f)
    return export_rows(db, tenant_id, start, end, batch, f)


def export_rows(
    db: Database,
    tenant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    batch: int = 2000,
    filters: Filters | None = None,
) -> Iterator[str]:
    """Keyset batches of plain columns from a session of its own."""
    yield header()
    last_seq: int | None = None  # no lower bound: every row of the range, as PostgreSQL's COPY
    tid = str(tenant_id)
    f = filters or Filters()
    while True:
        stmt = filtered(select(AuditRecord.seq, *_EXPORT_COLUMNS), tenant_id, start, end, f)
        if last_seq is not None:
            stmt = stmt.where(AuditRecord.seq > last_seq)
        with db.transaction(write=False, tenants=[tenant_id]) as session:
            rows = session.execute(stmt.order_by(AuditRecord.seq).limit(batch)).all()
        if not rows:
            return
        yield "".join(csv_line(_csv_values(row[1:], tid)) for row in rows)
        last_seq = rows[-1][0]


def _csv_values(row: Any, tid: str) -> list[str | None]:
    out: list[str | None] = list(row)
    out[4] = tid
    out[5] = row[5].strftime(TIME_FORMAT)
    for i in _FREE_TEXT:
        out[i] = safe(out[i])
    return out


_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def csv_line(values: list[str | None]) -> str:
    """One CSV line as PostgreSQL's ``COPY ... (FORMAT csv)`` writes it (RFC 4180 quoting,
    LF line ends): a field is quoted when it holds a comma, a quote, CR or LF;
    NULL and empty text are empty."""
    return ",".join(_csv_field(v) for v in values) + "\n"


def _csv_field(value: str | None) -> str:
    if not value:
        return ""
    if _NEEDS_QUOTES.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def safe(value: str | None) -> str | None:
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    if value and value[0] in FORMULA_PREFIXES:
        return "'" + value
    return value


# PostgreSQL: the same CSV, built by the server. Empty text is written as NULL so that it
# comes out unquoted, as Python's csv module writes it; free text gets the same formula
# escape; times the same fixed format.
_PG_SAFE = (
    "CASE WHEN left({c}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' || {c} ELSE NULLIF({c}, '') END"
)
_PG_COPY = (
    "COPY (SELECT NULLIF(category, ''), {object_name}, NULLIF(operation, ''), NULLIF(result_status, ''),"
    " %(tid)s, to_char(creation_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " NULLIF(user_id, ''), NULLIF(user_tenant_id, ''), {upn}, {name}, {partner}, {allowed}"
    " FROM audit_records WHERE tenant_id = %(t)s AND creation_time >= %(lo)s AND creation_time <= %(hi)s"
    "{{filters}} ORDER BY seq) TO STDOUT WITH (FORMAT csv)"
).format(
    object_name=_PG_SAFE.format(c="object_name"),
    upn=_PG_SAFE.format(c="user_upn"),
    name=_PG_SAFE.format(c="user_display_name"),
    partner=_PG_SAFE.format(c="partner_tenant_name"),
    allowed=_PG_SAFE.format(c="allowed_by"),
)
COPY_CHUNK = 1 << 16


# The filters of ``filtered``, as fixed SQL with parameters (the values never enter the text).
_PG_FILTERS = {
    "category": " AND category = %(category)s",
    "result_status": " AND result_status = %(result_status)s",
    "user_id": " AND user_id = %(user_id)s",
    "user_upn": " AND lower(user_upn) = %(user_upn)s",
    "partner_tenant_id": " AND user_tenant_id = %(partner_tenant_id)s AND user_tenant_id <> %(tid)s",
}


def _copy_filters(f: Filters) -> tuple[str, dict[str, str]]:
    given = f.described()
    if "user_upn" in given:
        given["user_upn"] = given["user_upn"].strip().lower()
    return "".join(_PG_FILTERS[name] for name in given), given


def _export_copy(
    db: Database, tenant_id: uuid.UUID, start: datetime, end: datetime, f: Filters
) -> Iterator[bytes]:
    yield header().encode()
    where, values = _copy_filters(f)
    # A session's transaction, so that it states its tenant as every other read does.
    with db.transaction(write=False, tenants=[tenant_id]) as session:
        raw: Any = driver(session.connection())
        with raw.cursor() as cur:
            params = {"tid": str(tenant_id), "t": tenant_id, "lo": start, "hi": end, **values}
            with cur.copy(_PG_COPY.format(filters=where), params) as copy:
                pending: list[bytes] = []
                size = 0
                for data in copy:
                    pending.append(bytes(data))
                    size += len(data)
                    if size >= COPY_CHUNK:
                        yield b"".join(pending)
                        pending, size = [], 0
                if pending:
                    yield b"".join(pending)
