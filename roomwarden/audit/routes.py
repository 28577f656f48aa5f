from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import Request
from fastapi.responses import StreamingResponse

from roomwarden.access.deps import require
from roomwarden.access.permissions import Permission
from roomwarden.access.resolver import Access
from roomwarden.audit import queries
from roomwarden.audit.models import AuditRecord
from roomwarden.audit.schemas import AuditRead, VerifyRead
from roomwarden.audit.service import verify_chain
from roomwarden.kit.api import SessionDep
from roomwarden.kit.pagination import Page, PageDep, paginate
from roomwarden.kit.routing import router

api = router(prefix="/api/v1/tenants/{tenant_id}/audit-logs", tags=["audit"])
Auditor = require(Permission.AUDIT_EXPORT, "audit log")


@api.get("", response_model=Page[AuditRead])
def list_audit(
    session: SessionDep,
    pages: PageDep,
    access: Access = Auditor,
    start: datetime | None = None,
    end: datetime | None = None,
    category: str | None = None,
    result_status: Literal["Successful", "Failed"] | None = None,
) -> Page[AuditRead]:
    lo, hi = queries.date_range(start, end)
    stmt = queries.records_query(access.tenant_id, lo, hi, category=category, result_status=result_status)
    return paginate(session, stmt, AuditRecord.id, pages, AuditRead.model_validate)


@api.get("/export", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
def export_audit(
    request: Request, access: Access = Auditor, start: datetime | None = None, end: datetime | None = None
) -> StreamingResponse:
    lo, hi = queries.date_range(start, end)
    name = f"audit-{access.tenant_id}-{lo:%Y%m%d}-{hi:%Y%m%d}.csv"
    return StreamingResponse(
        queries.export_csv(request.app.state.db, access.tenant_id, lo, hi),
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
