"""Tenant managers: partner-side users who review invitations without managing rooms,
granted by the partner tenant's Global admins and Pro managers."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.audit.service import Category, Operation, record
from roomwarden.identity.models import User
from roomwarden.identity.principal import Principal
from roomwarden.kit.errors import Conflict, Forbidden, Invalid, NotFound
from roomwarden.kit.pagination import Page, PageParams, paginate
from roomwarden.partners.invitations import is_pro_manager, require_reviewer
from roomwarden.partners.models import TenantManager
from roomwarden.partners.schemas import TenantManagerRead


def _require_granter(session: Session, principal: Principal) -> None:
    if not is_pro_manager(session, principal):
        raise Forbidden("only Global admins and Pro managers grant the tenant manager role")


def list_managers(session: Session, principal: Principal, pages: PageParams) -> Page[TenantManagerRead]:
    require_reviewer(session, principal)
    stmt = (
        select(User, TenantManager.created_at)
        .join(TenantManager, TenantManager.user_id == User.id)
        .where(TenantManager.tenant_id == principal.tenant_id)
    )
    return paginate(
        session,
        stmt,
        User.id,
        pages,
        lambda row: TenantManagerRead(
            user_id=row[0].id, upn=row[0].upn, display_name=row[0].display_name, created_at=row[1]
        ),
        scalars=False,
    )


def add_manager(session: Session, principal: Principal, user_id: uuid.UUID) -> TenantManagerRead:
    _require_granter(session, principal)
    user = session.scalar(select(User).where(User.id == user_id, User.tenant_id == principal.tenant_id))
    if user is None:
        raise Invalid(f"no user of this tenant with id {user_id}")
    if session.get(TenantManager, (principal.tenant_id, user.id)) is not None:
        raise Conflict("the user is already a tenant manager")
    row = TenantManager(tenant_id=principal.tenant_id, user_id=user.id)
    session.add(row)
    session.flush()
    record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        category=Category.TENANT_MANAGER,
        operation=Operation.CREATE,
        object_name=user.upn,
        object_id=user.id,
    )
    return TenantManagerRead(
        user_id=user.id, upn=user.upn, display_name=user.display_name, created_at=row.created_at
    )


def remove_manager(session: Session, principal: Principal, user_id: uuid.UUID) -> None:
    _require_granter(session, principal)
    row = session.get(TenantManager, (principal.tenant_id, user_id), with_for_update=True)
    if row is None:
        raise NotFound("tenant manager not found")
    upn = session.scalar(select(User.upn).where(User.id == user_id)) or str(user_id)
    session.delete(row)
    session.flush()
    record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        category=Category.TENANT_MANAGER,
        operation=Operation.DELETE,
        object_name=upn,
        object_id=user_id,
    )
