"""Refused change attempts. The attempt's own transaction is rolled back, so the record is
written in a transaction of its own, in the tenant the attempt was aimed at."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from roomwarden.audit.service import Category, Operation, Result, record
from roomwarden.kit.api import path_uuid
from roomwarden.kit.errors import AppError
from roomwarden.tenants.models import Tenant


def record_refusal(request: Request, exc: Any) -> None:
    principal = getattr(request.state, "principal", None)
    tenant_id = (
        getattr(exc, "audit_tenant_id", None)
        or path_uuid(request, "tenant_id")
        or getattr(request.state, "audit_tenant_id", None)
    )
    if principal is None or tenant_id is None:
        return  # anonymous attempts are answered 401 and not written to any tenant's log
    category, operation = getattr(request.scope["endpoint"], "__audit__", None) or exc.audit_as
    object_id = next(
        (path_uuid(request, k) for k in reversed(list(request.path_params)) if k != "tenant_id"), None
    ) or getattr(request.state, "audit_object_id", None)
    object_name = getattr(request.state, "audit_object_name", None)
    if isinstance(exc, AppError):
        status, reason = exc.status, exc.detail
    elif isinstance(exc, RequestValidationError):
        status, reason = 422, "invalid input"
    else:
        status, reason = 409, "conflict"
    db = request.app.state.db
    with db.transaction() as session:
        if session.get(Tenant, tenant_id) is None:
            return
        record(
            session,
            tenant_id=tenant_id,
            actor=principal.actor,
            category=Category(category),
            operation=Operation(operation),
            object_name=object_name or (str(object_id) if object_id else str(category)),
            object_id=object_id,
            result=Result.FAILED,
            details={"status": status, "reason": reason, "method": request.method, "path": request.url.path},
        )
