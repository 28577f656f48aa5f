"""Reading the audit log: date-range validation, paging and streaming CSV export."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import Select, select

from roomwarden.audit.models import AuditRecord
from roomwarden.kit.db import Database
from roomwarden.kit.errors import Invalid
from roomwarden.kit.time import utcnow

RETENTION = timedelta(days=180)
SLACK = timedelta(minutes=5)
CSV_COLUMNS = (
    "activity.category",
    "activity.objectName",
    "activity.operation",
    "activity.resultStatus",
    "activity.tenantId",
    "creationTime",
    "user.userId",
    "user.userTenantId",
)


def date_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    now = utcnow()
    start = _aware(start) if start else now - RETENTION
    end = _aware(end) if end else now
    if end < start:
        raise Invalid("end must not be before start")
    if start < now - RETENTION - SLACK:
        raise Invalid("audit records are kept for 180 days: start must be within them")
    return start, end


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise Invalid("dates need a time zone, e.g. 2026-01-31T00:00:00Z")
    return value


def records_query(
    tenant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    category: str | None = None,
    result_status: str | None = None,
) -> Select[tuple[AuditRecord]]:
    stmt = select(AuditRecord).where(
        AuditRecord.tenant_id == tenant_id,
        AuditRecord.creation_time >= start,
        AuditRecord.creation_time <= end,
    )
    if category:
        stmt = stmt.where(AuditRecord.category == category)
    if result_status:
        stmt = stmt.where(AuditRecord.result_status == result_status)
    return stmt


def export_csv(
    db: Database, tenant_id: uuid.UUID, start: datetime, end: datetime, batch: int = 500
) -> Iterator[str]:
    """CSV in batches of ``batch`` rows from a session of its own: memory stays flat."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield _drain(buffer)
    last_seq = 0
    while True:
        with db.transaction(write=False) as session:
            rows = session.scalars(
                records_query(tenant_id, start, end)
                .where(AuditRecord.seq > last_seq)
                .order_by(AuditRecord.seq)
                .limit(batch)
            ).all()
            for r in rows:
                writer.writerow(
                    (
                        r.category,
                        _safe(r.object_name),
                        r.operation,
                        r.result_status,
                        str(r.tenant_id),
                        r.creation_time.isoformat().replace("+00:00", "Z"),
                        r.user_id or "",
                        r.user_tenant_id or "",
                    )
                )
        if not rows:
            return
        last_seq = rows[-1].seq
        yield _drain(buffer)


def _safe(value: str) -> str:
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
