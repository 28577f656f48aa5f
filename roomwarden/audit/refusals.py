"""Refused change attempts. The attempt's own transaction is rolled back, so the record is
written in a transaction of its own.

Where it is written: in the tenant the attempt was aimed at when the caller is one of the
people that tenant deals with — its own users, and the users of a partner it has linked or
invited. Anyone else's attempt (a stranger probing another tenant's ids) is written to the
caller's own tenant instead, at most ``PROBES_PER_MINUTE`` records per user a minute: a
stranger can neither fill a tenant's log with noise nor learn anything from it, and the
caller's own admins see what their user tried."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Protocol

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from roomwarden.audit.models import AuditRecord
from roomwarden.audit.service import Actor, Category, Operation, Result, lock_chain, record
from roomwarden.kit.api import path_uuid
from roomwarden.kit.db import state_tenants
from roomwarden.kit.errors import AppError
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import PartnerInvitation, PartnerLink
from roomwarden.tenants.models import Tenant


class Caller(Protocol):
    """The signed-in caller of a request, as ``identity.principal.Principal`` describes it."""

    @property
    def user_id(self) -> uuid.UUID: ...

    @property
    def tenant_id(self) -> uuid.UUID: ...

    @property
    def actor(self) -> Actor: ...


#: the object name of a record written in the caller's own tenant for an attempt elsewhere
ELSEWHERE = "a change refused in another tenant"
PROBES_PER_MINUTE = 20


def record_refusal(request: Request, exc: Any) -> None:
    principal: Caller | None = getattr(request.state, "principal", None)
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
    details = {"status": status, "reason": reason, "method": request.method, "path": request.url.path}
    db = request.app.state.db
    # the caller's tenant (the links and invitations addressed to it are read with it), then
    # the tenant acted in once it is known to deal with the caller
    with db.transaction(tenants=[principal.tenant_id]) as session:
        if deals_with(session, tenant_id, principal.tenant_id):
            state_tenants(session, [tenant_id])
            record(
                session,
                tenant_id=tenant_id,
                actor=principal.actor,
                category=Category(category),
                operation=Operation(operation),
                object_name=object_name or (str(object_id) if object_id else str(category)),
                object_id=object_id,
                result=Result.FAILED,
                details=details,
            )
            return
        home = principal.tenant_id
        lock_chain(session, home)  # the count below and the append are one step
        if _recent_probes(session, home, principal.user_id) >= PROBES_PER_MINUTE:
            return
        record(
            session,
            tenant_id=home,
            actor=principal.actor,
            category=Category(category),
            operation=Operation(operation),
            object_name=ELSEWHERE,
            result=Result.FAILED,
            details=details,
        )


def deals_with(session: Session, tenant_id: uuid.UUID, caller_tenant_id: uuid.UUID) -> bool:
    """Whether ``tenant_id`` exists and the caller's tenant is itself or a partner it has
    linked (whatever the link's state) or invited."""
    if caller_tenant_id == tenant_id:
        return session.get(Tenant, tenant_id) is not None
    linked = exists().where(
        PartnerLink.tenant_id == tenant_id, PartnerLink.partner_tenant_id == caller_tenant_id
    )
    invited = exists().where(
        PartnerInvitation.tenant_id == tenant_id, PartnerInvitation.partner_tenant_id == caller_tenant_id
    )
    return bool(session.scalar(select(or_(linked, invited))))


def _recent_probes(session: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
    since = utcnow() - timedelta(minutes=1)
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(
                AuditRecord.tenant_id == tenant_id,
                AuditRecord.user_id == str(user_id),
                AuditRecord.object_name == ELSEWHERE,
                AuditRecord.creation_time >= since,
            )
        )
        or 0
    )
