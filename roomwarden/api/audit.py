from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from roomwarden.access.deps import require
from roomwarden.access.permissions import Permission
from roomwarden.access.resolver import Access
from roomwarden.audit import queries
from roomwarden.audit.schemas import AuditRead, VerifyRead
from roomwarden.audit.service import Category, Operation
from roomwarden.audit.verify import verify_chain
from roomwarden.kit.api import SessionDep, audited
from roomwarden.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from roomwarden.kit.routing import router

api = router(prefix="/api/v1/tenants/{tenant_id}/audit-logs", tags=["audit"])
Auditor = require(Permission.AUDIT_EXPORT, "audit log")
When = Annotated[str | None, Query(max_length=64, description=queries.DATE_HELP)]


@api.get("", response_model=Page[AuditRead])
def list_audit(
    session: SessionDep,
    access: Access = Auditor,
    start: When = None,
    end: When = None,
    category: Annotated[Category | None, Query(description="only records of this category")] = None,
    result_status: Literal["Successful", "Failed"] | None = None,
    user_id: Annotated[str | None, Query(max_length=64, description="the actor's user id")] = None,
    user_upn: Annotated[str | None, Query(max_length=320, description="the actor's UPN")] = None,
    partner_tenant_id: Annotated[
        uuid.UUID | None, Query(description="only actions of this partner tenant's users")
    ] = None,
    order: Annotated[Literal["desc", "asc"], Query(description="newest first by default")] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=64, description="from next_cursor")] = None,
) -> Page[AuditRead]:
    """The tenant's audit records in a date range, newest first unless ``order=asc``."""
    after = queries.decode_seq_cursor(cursor) if cursor else None
    lo, hi = queries.parse_range(start, end)
    filters = queries.Filters(category, result_status, user_id, user_upn, partner_tenant_id)
    stmt = queries.records_query(access.tenant_id, lo, hi, filters=filters)
    rows = session.scalars(queries.page_query(stmt, order, after, limit)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = queries.encode_seq_cursor(rows[-1].seq) if more and rows else None
    return Page[AuditRead](items=[AuditRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@api.get("/export", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
@audited(Category.AUDIT_LOG, Operation.READ)
def export_audit(
    request: Request,
    session: SessionDep,
    access: Access = Auditor,
    start: When = None,
    end: When = None,
    category: Annotated[Category | None, Query(description="only records of this category")] = None,
    result_status: Literal["Successful", "Failed"] | None = None,
    user_id: Annotated[str | None, Query(max_length=64, description="the actor's user id")] = None,
    user_upn: Annotated[str | None, Query(max_length=320, description="the actor's UPN")] = None,
    partner_tenant_id: Annotated[
        uuid.UUID | None, Query(description="only actions of this partner tenant's users")
    ] = None,
) -> StreamingResponse:
    """The records of a date range as CSV (SPEC §6 columns, then the readable ones), with the
    list's filters. The export itself is recorded in the log before it streams."""
    lo, hi = queries.parse_range(start, end)
    filters = queries.Filters(category, result_status, user_id, user_upn, partner_tenant_id)
    access.audit(
        session,
        Category.AUDIT_LOG,
        Operation.READ,
        "audit log export",
        details={"start": lo.isoformat(), "end": hi.isoformat(), "via": "api", **filters.described()},
    )
    name = f"audit-{access.tenant_id}-{lo:%Y%m%d}-{hi:%Y%m%d}.csv"
    return StreamingResponse(
        queries.export_csv(request.app.state.db, access.tenant_id, lo, hi, filters=filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@api.get("/verify", response_model=VerifyRead)
def verify_audit(session: SessionDep, access: Access = Auditor) -> VerifyRead:
    result = verify_chain(session, access.tenant_id)
    return VerifyRead(
        ok=result.ok,
        records_checked=result.records_checked,
        first_bad_seq=result.first_bad_seq,
        problem=result.problem,
    )
