"""Tenants: creation by the operator (with domains, first Global admin, built-in roles,
default update rings, settings and an empty audit chain) and tenant settings."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.access.models import Role, RolePermission
from roomwarden.access.permissions import BUILTIN_ROLES, Permission
from roomwarden.access.resolver import Access
from roomwarden.audit.service import OPERATOR_ACTOR, Actor, Category, Operation, record, start_chain
from roomwarden.identity.models import User
from roomwarden.identity.passwords import hash_password
from roomwarden.kit.db import state_lookup, state_tenants
from roomwarden.kit.errors import Conflict, Invalid
from roomwarden.rooms.models import UpdateRing
from roomwarden.tenants.models import Tenant, TenantDomain, TenantSettings
from roomwarden.tenants.schemas import SettingsUpdate, TenantCreate

DEFAULT_RINGS = (("Validation", 0, False), ("General", 7, True))


def create_tenant(session: Session, data: TenantCreate, actor: Actor = OPERATOR_ACTOR) -> tuple[Tenant, User]:
    domains = sorted(set(data.domains))
    admin_domain = data.admin.upn.rsplit("@", 1)[1]
    if admin_domain not in domains:
        raise Invalid(f"the admin's UPN must use one of the tenant's domains ({', '.join(domains)})")
    state_lookup(session, "roomwarden.domain", *domains)
    state_lookup(session, "roomwarden.upn", data.admin.upn)
    taken = session.scalars(select(TenantDomain.domain).where(TenantDomain.domain.in_(domains))).all()
    if taken:
        raise Conflict(f"domain already registered: {', '.join(sorted(taken))}")
    tenant = Tenant(name=data.name)
    session.add(tenant)
    session.flush()
    state_tenants(session, [tenant.id])  # the operator acts in the new tenant only
    session.add_all(TenantDomain(domain=d, tenant_id=tenant.id) for d in domains)
    session.add(TenantSettings(tenant_id=tenant.id))
    start_chain(session, tenant.id)
    _create_builtin_roles(session, tenant.id)
    for name, deferral, is_default in DEFAULT_RINGS:
        session.add(UpdateRing(tenant_id=tenant.id, name=name, deferral_days=deferral, is_default=is_default))
    admin = User(
        tenant_id=tenant.id,
        upn=data.admin.upn,
        display_name=data.admin.display_name,
        password_hash=hash_password(data.admin.password),
        is_global_admin=True,
    )
    session.add(admin)
    session.flush()
    record(
        session,
        tenant_id=tenant.id,
        actor=actor,
        category=Category.TENANT,
        operation=Operation.CREATE,
        object_name=tenant.name,
        object_id=tenant.id,
        details={"domains": domains},
    )
    record(
        session,
        tenant_id=tenant.id,
        actor=actor,
        category=Category.USER,
        operation=Operation.CREATE,
        object_name=admin.upn,
        object_id=admin.id,
        details={"is_global_admin": True},
    )
    return tenant, admin


def _create_builtin_roles(session: Session, tenant_id: uuid.UUID) -> None:
    for name, (description, perms) in BUILTIN_ROLES.items():
        role = Role(tenant_id=tenant_id, name=name, description=description, kind="builtin")
        session.add(role)
        session.flush()
        session.add_all(
            RolePermission(tenant_id=tenant_id, role_id=role.id, permission=p.value) for p in sorted(perms)
        )


def get_settings_row(session: Session, access: Access, *, lock: bool = False) -> TenantSettings:
    stmt = select(TenantSettings).where(TenantSettings.tenant_id == access.tenant_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one()


def read_settings(session: Session, access: Access) -> TenantSettings:
    access.require_tenant_wide(Permission.SETTINGS_VIEW, "settings")
    return get_settings_row(session, access)


def update_settings(session: Session, access: Access, data: SettingsUpdate) -> TenantSettings:
    access.require_tenant_wide(Permission.SETTINGS_VIEW, "settings")
    access.require_tenant_wide(Permission.SETTINGS_MODIFY, "settings")
    row = get_settings_row(session, access, lock=True)
    changes = {}
    for field in sorted(data.model_fields_set):
        new = getattr(data, field)
        old = getattr(row, field)
        if new != old:
            changes[field] = {"from": old, "to": new}
            setattr(row, field, new)
    session.flush()
    access.audit(session, Category.SETTINGS, Operation.UPDATE, "Service settings", details=changes)
    return row
