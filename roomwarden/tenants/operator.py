"""The service operator's view of tenants: list, show, rename, domains, delete.

The operator is not a user of any tenant. Every change is recorded in the changed tenant's
own audit log with the operator as actor (SPEC §6); deleting a tenant deletes its log with
it, so the deletion is recorded in the logs of the tenants it was linked with, which keep
every record of its users' activity.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.orm import Session

from roomwarden.audit.service import OPERATOR_ACTOR, Category, Operation, record
from roomwarden.identity.models import User
from roomwarden.identity.tenancy import state_linked
from roomwarden.kit.db import state_lookup, state_tenants, state_tenants_of
from roomwarden.kit.errors import Conflict, Invalid, NotFound
from roomwarden.partners.models import PartnerLink
from roomwarden.rooms.models import Room
from roomwarden.tenants import events
from roomwarden.tenants.models import EVERY_TENANT, Tenant, TenantDomain
from roomwarden.tenants.schemas import OperatorTenantRead, OperatorTenantUpdate

log = logging.getLogger("roomwarden.operator")
MAX_DOMAINS = 20


def tenants_query(session: Session, q: str | None = None) -> Select[Tenant]:
    """The operator's tenants, matching ``q`` in their names or domains. A search of every
    tenant's domains is the one thing that states every tenant (row-level security)."""
    stmt = select(Tenant)
    if q:
        state_tenants_of(session, EVERY_TENANT)
        pattern = f"%{q.strip().lower()}%"
        in_domains = select(TenantDomain.tenant_id).where(TenantDomain.domain.like(pattern))
        stmt = stmt.where(or_(func.lower(Tenant.name).like(pattern), Tenant.id.in_(in_domains)))
    return stmt


def find_tenant(session: Session, ref: str | uuid.UUID, *, lock: bool = False) -> Tenant:
    """A tenant by id, or (for the CLI) by one of its domains."""
    tenant_id: uuid.UUID | None
    try:
        tenant_id = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
    except ValueError:
        domain = str(ref).strip().lower()
        tenant_id = None
        if "," not in domain:  # no domain holds one
            state_lookup(session, "roomwarden.domain", domain)
            tenant_id = session.scalar(select(TenantDomain.tenant_id).where(TenantDomain.domain == domain))
    stmt = select(Tenant).where(Tenant.id == tenant_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    tenant = session.scalar(stmt) if tenant_id else None
    if tenant is None:
        raise NotFound(f"no tenant with id or domain {ref}")
    state_tenants(session, [tenant.id])  # the operator acts in the tenant it names
    return tenant


def tenant_reads(session: Session, tenants: list[Tenant]) -> list[OperatorTenantRead]:
    """Each tenant with its domains and sizes, in four queries whatever the page size."""
    ids = [t.id for t in tenants]
    state_tenants(session, ids)
    domains: dict[uuid.UUID, list[str]] = {i: [] for i in ids}
    for tenant_id, domain in session.execute(
        select(TenantDomain.tenant_id, TenantDomain.domain)
        .where(TenantDomain.tenant_id.in_(ids))
        .order_by(TenantDomain.domain)
    ):
        domains[tenant_id].append(domain)

    def counts(column: Any, *where: Any) -> dict[uuid.UUID, int]:
        rows = session.execute(select(column, func.count()).where(column.in_(ids), *where).group_by(column))
        return {k: n for k, n in rows}

    users, rooms = counts(User.tenant_id), counts(Room.tenant_id)
    active = PartnerLink.status == "active"
    partners, customers = counts(PartnerLink.tenant_id, active), counts(PartnerLink.partner_tenant_id, active)
    return [
        OperatorTenantRead(
            id=t.id,
            name=t.name,
            domains=domains[t.id],
            identity_source=t.identity_source,
            created_at=t.created_at,
            users=users.get(t.id, 0),
            rooms=rooms.get(t.id, 0),
            partners=partners.get(t.id, 0),
            customers=customers.get(t.id, 0),
        )
        for t in tenants
    ]


def tenant_read(session: Session, tenant: Tenant) -> OperatorTenantRead:
    return tenant_reads(session, [tenant])[0]


def update_tenant(session: Session, ref: str | uuid.UUID, data: OperatorTenantUpdate) -> Tenant:
    tenant = find_tenant(session, ref, lock=True)
    changes: dict[str, Any] = {}
    if data.name is not None and data.name != tenant.name:
        changes["name"] = {"from": tenant.name, "to": data.name}
        tenant.name = data.name
    current = set(_domains(session, tenant.id))
    wanted = set(data.domains) if data.domains is not None else set(current)
    wanted = (wanted | set(data.add_domains)) - set(data.remove_domains)
    added, removed = sorted(wanted - current), sorted(current - wanted)
    if added or removed:
        _change_domains(session, tenant, current, added, removed)
        changes["domains"] = {"added": added, "removed": removed}
    if not changes:
        return tenant
    session.flush()
    record(
        session,
        tenant_id=tenant.id,
        actor=OPERATOR_ACTOR,
        category=Category.TENANT,
        operation=Operation.UPDATE,
        object_name=tenant.name,
        object_id=tenant.id,
        details=changes,
    )
    log.info("operator changed tenant %s: %s", tenant.id, changes)
    return tenant


def _domains(session: Session, tenant_id: uuid.UUID) -> list[str]:
    return list(session.scalars(select(TenantDomain.domain).where(TenantDomain.tenant_id == tenant_id)))


def _change_domains(
    session: Session, tenant: Tenant, current: set[str], added: list[str], removed: list[str]
) -> None:
    if len(current) + len(added) - len(removed) < 1:
        raise Invalid("a tenant keeps at least one domain")
    if len(current) + len(added) - len(removed) > MAX_DOMAINS:
        raise Invalid(f"a tenant has at most {MAX_DOMAINS} domains")
    for domain in removed:
        in_use = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.tenant_id == tenant.id, User.upn.like(f"%@{domain}"))
        )
        if in_use:
            raise Conflict(f"{in_use} user(s) sign in with @{domain}: change or remove them first")
    if added:
        state_lookup(session, "roomwarden.domain", *added)  # unique across every tenant
        taken = session.scalars(select(TenantDomain.domain).where(TenantDomain.domain.in_(added))).all()
        if taken:
            raise Conflict(f"domain already registered: {', '.join(sorted(taken))}")
        session.add_all(TenantDomain(domain=d, tenant_id=tenant.id) for d in added)
    if removed:
        session.execute(
            delete(TenantDomain).where(TenantDomain.tenant_id == tenant.id, TenantDomain.domain.in_(removed))
        )


def delete_tenant(session: Session, ref: str | uuid.UUID, *, confirm: bool) -> Tenant:
    """Delete a tenant and everything it owns. Its partners first lose the link as in an
    off-boarding (recorded in each customer's log, which keeps the partner's records); the
    partners it managed for are told in their own logs."""
    if not confirm:
        raise Invalid("deleting a tenant needs explicit confirmation: add ?confirm=true")
    tenant = find_tenant(session, ref, lock=True)
    state_linked(session, [tenant.id])  # its partners and customers are told
    events.tenant_deleting.emit(events.TenantDeleting(session, tenant))
    session.delete(tenant)
    session.flush()
    log.warning("operator deleted tenant %s (%s)", tenant.id, tenant.name)
    return tenant
