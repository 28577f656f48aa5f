"""The one place that decides what a principal may do in a tenant (SPEC §2-3).

``resolve_access`` reads the principal's assignments in a tenant with a single indexed
query whose cost depends on the principal's assignments, never on the number of rooms.
Everything room-shaped is then answered by ``RoomSet``: a typed description of the rooms a
principal may touch with one permission, turned into a SQL predicate by the queries that
need it, so no list is ever filtered in Python.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    Uuid,
    and_,
    bindparam,
    false,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.orm import Session, aliased

from roomwarden.access.attribution import allowed_by, needed_permission
from roomwarden.access.models import (
    AssignmentMember,
    Role,
    RoleAssignment,
    RolePermission,
    Scope,
    ScopeEffectiveRoom,
    ScopeGroup,
)
from roomwarden.access.permissions import ALL_PERMISSIONS, PARTNER_ADMIN, Permission
from roomwarden.audit.service import Actor, Category, Operation, record
from roomwarden.identity.models import SecurityGroupMember, User
from roomwarden.identity.principal import CALLER_COLUMNS, Principal, caller_principal
from roomwarden.kit.db import UTCDateTime
from roomwarden.kit.errors import Forbidden, NotFound
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import Elevation, PartnerLink, live_elevation, live_link
from roomwarden.tenants.models import Tenant, TenantSettings


@dataclass(frozen=True, slots=True)
class Grant:
    """Everything one permission reaches: all rooms, or the union of some scopes."""

    all_rooms: bool = False
    scope_ids: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class LinkInfo:
    id: uuid.UUID
    partner_tenant_id: uuid.UUID
    scope_id: uuid.UUID
    all_rooms: bool


#: a room-id column or expression (a mapped attribute or a core column; nullable ones too)
RoomIdColumn = SQLColumnExpression[uuid.UUID | None]


def scope_room_ids(scope_ids: frozenset[uuid.UUID] | set[uuid.UUID]) -> Select:
    """The effective rooms of some scopes (listed rooms and the current members of listed
    groups) as one ``room_id`` sub-select over their materialisation."""
    return select(ScopeEffectiveRoom.room_id).where(ScopeEffectiveRoom.scope_id.in_(sorted(scope_ids)))


#: The probe's own name for the materialised scope, since the outer query may range over the
#: same table (a scope's page). Built once: building an alias costs more than the rest of the
#: check. Probes are only ever siblings in a statement, never nested in one another, so one
#: alias serves them all.
_PROBE = aliased(ScopeEffectiveRoom, name="scope_probe")


def _in_scopes(scope_ids: frozenset[uuid.UUID], room_id: RoomIdColumn) -> ColumnElement[bool]:
    """``room_id`` lies in one of the scopes: a primary-key probe per scope, correlated with
    the outer row, so its cost does not depend on the size of the scopes."""
    ids = sorted(scope_ids)
    eff = _PROBE
    probe = select(eff.room_id).where(eff.room_id == room_id)
    if len(ids) == 1:
        return probe.where(eff.scope_id == ids[0]).exists()
    return probe.where(eff.scope_id.in_(ids)).exists()


_NOTHING = false()


@functools.lru_cache(maxsize=64)
def _bound_in_scopes(room_id: RoomIdColumn, singles: tuple[bool, ...]) -> ColumnElement[bool]:
    """``RoomSet.bound``'s predicate: one probe per scope set, by ``==`` for one scope."""
    parts = []
    for i, single in enumerate(singles):
        probe = select(_PROBE.room_id).where(_PROBE.room_id == room_id)
        if single:
            probe = probe.where(_PROBE.scope_id == bindparam(f"rs_scope_{i}"))
        else:
            probe = probe.where(_PROBE.scope_id.in_(bindparam(f"rs_scope_{i}", expanding=True)))
        parts.append(probe.exists())
    return and_(true(), *parts)


@dataclass(frozen=True, slots=True)
class RoomSet:
    """The rooms of ``tenant_id`` a principal may touch with one permission.

    Queries over rooms (and everything that follows a room: tickets, group members, ring
    counts, reports) take a ``RoomSet`` rather than ids, so none can forget the check.
    """

    tenant_id: uuid.UUID
    grant: Grant | None
    link: LinkInfo | None = None

    @property
    def is_empty(self) -> bool:
        return self.grant is None

    @property
    def is_everything(self) -> bool:
        return self.grant is not None and self.grant.all_rooms and (self.link is None or self.link.all_rooms)

    def _limits(self) -> list[frozenset[uuid.UUID]]:
        """The scope sets a room must lie in: the grant's (any of them) and the link's."""
        assert self.grant is not None
        parts = []
        if not self.grant.all_rooms:
            parts.append(self.grant.scope_ids)
        if self.link is not None and not self.link.all_rooms:
            parts.append(frozenset({self.link.scope_id}))
        return parts

    def clause(self, room_id: RoomIdColumn) -> ColumnElement[bool]:
        """A predicate on a room-id column; the caller also filters by ``tenant_id``."""
        if self.grant is None:
            return false()
        parts = [_in_scopes(ids, room_id) for ids in self._limits()]
        return and_(true(), *parts) if parts else true()

    def bound(self, room_id: RoomIdColumn) -> tuple[ColumnElement[bool], dict[str, Any]]:
        """``clause`` as a predicate built once per shape (how many scope sets limit the
        room, and which of them hold one scope), with the scope ids as bound parameters: a
        statement made with it is built once too. The parameters are named ``rs_...``."""
        if self.grant is None:
            return _NOTHING, {}
        limits = self._limits()
        params: dict[str, Any] = {}
        for i, ids in enumerate(limits):
            params[f"rs_scope_{i}"] = next(iter(ids)) if len(ids) == 1 else sorted(ids)
        return _bound_in_scopes(room_id, tuple(len(ids) == 1 for ids in limits)), params

    def effective_ids(self) -> Select | None:
        """The ids of the rooms in this set as one sub-select, or ``None`` for every room of
        the tenant. Its size is bounded by the principal's scopes, not by the tenant."""
        if self.grant is None:
            return select(ScopeEffectiveRoom.room_id).where(false())
        limits = self._limits()
        if not limits:
            return None
        first, *rest = limits
        stmt = scope_room_ids(first).distinct()
        for ids in rest:
            stmt = stmt.where(_in_scopes(ids, ScopeEffectiveRoom.room_id))
        return stmt

    def first_ids(self, room_id: RoomIdColumn, after: uuid.UUID | None, count: int) -> ColumnElement[bool]:
        """``clause`` for one keyset page of an unfiltered list: the page's ids are read from
        the materialised scope in id order — one index range scan per granting scope, each
        stopping after ``count`` rows — so a page costs the same in a 125-room scope and a
        12,500-room one, and in a small tenant and a large one."""
        if self.grant is None:
            return false()
        limits = self._limits()
        if not limits:
            return true()
        first, *rest = limits
        pages = []
        for scope_id in sorted(first):
            page = select(ScopeEffectiveRoom.room_id).where(ScopeEffectiveRoom.scope_id == scope_id)
            if after is not None:
                page = page.where(ScopeEffectiveRoom.room_id > after)
            for ids in rest:
                page = page.where(_in_scopes(ids, ScopeEffectiveRoom.room_id))
            pages.append(page.order_by(ScopeEffectiveRoom.room_id).limit(count))
        if len(pages) == 1:
            return room_id.in_(pages[0])
        merged = union(*(p.subquery().select() for p in pages)).subquery("page")
        return room_id.in_(select(merged.c.room_id).order_by(merged.c.room_id).limit(count))

    def group_named(self, group_id: SQLColumnExpression[uuid.UUID]) -> ColumnElement[bool]:
        """A predicate on a room-group-id column: the group is named by a scope of this
        set (and by the link's scope, for a partner), or the set is everything."""
        if self.grant is None:
            return false()
        if self.is_everything:
            return true()
        parts: list[ColumnElement[bool]] = []
        for all_rooms, ids in (
            (self.grant.all_rooms, self.grant.scope_ids),
            (
                self.link is None or self.link.all_rooms,
                frozenset({self.link.scope_id}) if self.link else frozenset(),
            ),
        ):
            if not all_rooms:
                named = select(ScopeGroup.group_id).where(ScopeGroup.scope_id.in_(sorted(ids)))
                parts.append(group_id.in_(named))
        return and_(true(), *parts)


@dataclass(frozen=True, slots=True)
class Access:
    """A principal's rights in one tenant, resolved for the current request."""

    tenant_id: uuid.UUID
    principal: Principal
    grants: dict[Permission, Grant] = field(default_factory=dict)
    link: LinkInfo | None = None
    # For a partner: the customer requires partner users to sign in with a second factor.
    mfa_required: bool = False

    @property
    def is_partner(self) -> bool:
        return self.link is not None

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    def audit(
        self,
        session: Session,
        category: Category,
        operation: Operation,
        object_name: str,
        object_id: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
        *,
        permission: Permission | None = None,
    ) -> None:
        """Record a successful change by this principal in this tenant's audit log, naming
        the role that allowed it (``permission`` when the category does not say which)."""
        record(
            session,
            tenant_id=self.tenant_id,
            actor=self.actor,
            category=category,
            operation=operation,
            object_name=object_name,
            object_id=object_id,
            details=details,
            allowed_by=allowed_by(
                session,
                tenant_id=self.tenant_id,
                user_id=self.principal.user_id,
                own_global_admin=self.principal.is_global_admin and not self.is_partner,
                partner_link_id=self.link.id if self.link else None,
                permission=permission or needed_permission(category, operation),
            ),
        )

    def has(self, perm: Permission) -> bool:
        return perm in self.grants

    def tenant_wide(self, perm: Permission) -> bool:
        return self.rooms(perm).is_everything

    def rooms(self, perm: Permission) -> RoomSet:
        return RoomSet(self.tenant_id, self.grants.get(perm), self.link)

    def require_tenant_wide(
        self, perm: Permission, what: str = "resource", *, partner_visible: bool = False
    ) -> None:
        """Tenant-level actions: partners never see surfaces outside their column (404) —
        unless the surface itself is visible to them (``partner_visible``: creating a group
        where they list groups), then 403; the tenant's own users without the right get 403."""
        if self.is_partner and perm not in PARTNER_ADMIN and not partner_visible:
            raise NotFound(f"{what} not found")
        if not self.tenant_wide(perm):
            raise Forbidden(f"{perm.value} over all rooms is required")


# The statements of a decision are built once, with bound parameters, and reused: building a
# SQLAlchemy statement costs more Python than running a cached one.
_UID = bindparam("uid", type_=Uuid())
_TID = bindparam("tid", type_=Uuid())
_PID = bindparam("pid", type_=Uuid())
#: The request's instant: a link past its end (``expires_at``) decides nothing from then on.
_NOW = bindparam("now", type_=UTCDateTime())
#: A membership row naming the user, itself or through one of its security groups.
_NAMES_ME = or_(
    AssignmentMember.user_id == _UID,
    AssignmentMember.group_id.in_(
        select(SecurityGroupMember.group_id).where(SecurityGroupMember.user_id == _UID)
    ),
)
_MY_ASSIGNMENTS = select(AssignmentMember.assignment_id).where(AssignmentMember.tenant_id == _TID, _NAMES_ME)


def _grant_rows(link_filter: ColumnElement[bool], *held: ColumnElement[bool]) -> Select:
    """(permission, scope id, scope is all, link id) of every assignment naming the user."""
    return (
        select(RolePermission.permission, Scope.id, Scope.all_rooms, Role.partner_link_id)
        .select_from(RoleAssignment)
        .join(Role, and_(Role.id == RoleAssignment.role_id, link_filter))
        .join(RolePermission, RolePermission.role_id == Role.id)
        .join(Scope, Scope.id == RoleAssignment.scope_id)
        .where(RoleAssignment.tenant_id == _TID, RoleAssignment.id.in_(_MY_ASSIGNMENTS), *held)
    )


#: A partner assignment is held when permanent, or, when eligible, while the user's
#: activation of it runs (SPEC §4 "Just-in-time elevation"): the end holds at the request's
#: instant, with no job run.
_HELD = or_(
    RoleAssignment.activation == "permanent",
    select(Elevation.id)
    .where(Elevation.assignment_id == RoleAssignment.id, Elevation.user_id == _UID, live_elevation(_NOW))
    .exists(),
)
_OWN_GRANTS = _grant_rows(Role.partner_link_id.is_(None))
_partner_grants = _grant_rows(Role.partner_link_id.is_not(None), _HELD).subquery("grants")
_LinkScope = aliased(Scope, name="link_scope")
# A partner's decision in one statement: the live link (active and not past its end, which also
# proves the customer exists), the customer's MFA rule and the grants of the link's roles; no
# row means no link.
_PARTNER_GRANTS = (
    select(
        PartnerLink.id.label("link_id"),
        PartnerLink.scope_id.label("link_scope_id"),
        _LinkScope.all_rooms.label("link_all_rooms"),
        TenantSettings.require_mfa_for_partners.label("require_mfa"),
        _partner_grants.c.permission.label("permission"),
        _partner_grants.c.id.label("scope_id"),
        _partner_grants.c.all_rooms.label("scope_all_rooms"),
    )
    .join(_LinkScope, _LinkScope.id == PartnerLink.scope_id)
    .outerjoin(TenantSettings, TenantSettings.tenant_id == PartnerLink.tenant_id)
    .outerjoin(_partner_grants, _partner_grants.c.partner_link_id == PartnerLink.id)
    .where(
        PartnerLink.tenant_id == _TID,
        PartnerLink.partner_tenant_id == _PID,
        live_link(_NOW),
    )
)


def _fold(rows: Any, allowed: frozenset[Permission]) -> dict[Permission, Grant]:
    all_rooms: set[Permission] = set()
    scopes: dict[Permission, set[uuid.UUID]] = defaultdict(set)
    for perm_id, scope_id, scope_all in rows:
        if perm_id is None:
            continue
        try:
            perm = Permission(perm_id)
        except ValueError:  # a permission retired from the catalogue grants nothing
            continue
        if perm not in allowed:
            continue
        if scope_all:
            all_rooms.add(perm)
        else:
            scopes[perm].add(scope_id)
    perms = all_rooms | scopes.keys()
    return {p: Grant(all_rooms=p in all_rooms, scope_ids=frozenset(scopes.get(p, ()))) for p in perms}


def _own_grants(session: Session, principal: Principal, tenant_id: uuid.UUID) -> dict[Permission, Grant]:
    """A user's grants in its own tenant: its customer roles' assignments, one statement."""
    rows = session.execute(_OWN_GRANTS, {"uid": principal.user_id, "tid": tenant_id}).all()
    return _fold(((r[0], r[1], r[2]) for r in rows), ALL_PERMISSIONS)


def active_link(session: Session, customer_id: uuid.UUID, partner_id: uuid.UUID) -> LinkInfo | None:
    row = session.execute(
        select(PartnerLink.id, PartnerLink.scope_id, Scope.all_rooms)
        .join(Scope, Scope.id == PartnerLink.scope_id)
        .where(
            PartnerLink.tenant_id == customer_id,
            PartnerLink.partner_tenant_id == partner_id,
            live_link(utcnow()),
        )
    ).first()
    if row is None:
        return None
    return LinkInfo(id=row[0], partner_tenant_id=partner_id, scope_id=row[1], all_rooms=row[2])


def resolve_access(session: Session, principal: Principal, tenant_id: uuid.UUID) -> Access:
    """The principal's rights in ``tenant_id``, or ``NotFound`` when the tenant is not
    visible to it: a tenant is visible to its own users, and to partner users who hold at
    least one role in an active link with it. One statement at most."""
    if principal.tenant_id == tenant_id:
        if principal.is_global_admin:
            return Access(tenant_id, principal, dict(_GLOBAL_ADMIN))
        return Access(tenant_id, principal, _own_grants(session, principal, tenant_id))
    params = {"uid": principal.user_id, "tid": tenant_id, "pid": principal.tenant_id, "now": utcnow()}
    rows = session.execute(_PARTNER_GRANTS, params).all()
    if not rows:
        raise NotFound("tenant not found")
    link_id, scope_id, link_all, require_mfa = rows[0][:4]
    grants = _fold(((r[4], r[5], r[6]) for r in rows), PARTNER_ADMIN)
    if not grants:
        raise NotFound("tenant not found")
    link = LinkInfo(id=link_id, partner_tenant_id=principal.tenant_id, scope_id=scope_id, all_rooms=link_all)
    return Access(tenant_id, principal, grants, link, mfa_required=bool(require_mfa))


_GLOBAL_ADMIN = {p: Grant(all_rooms=True) for p in ALL_PERMISSIONS}

# A request's caller and its decision in one statement: the caller's row (re-read on every
# request, so deactivation, deletion and a new token version take effect at once on every
# worker) outer-joined with the decision's rows, which it would otherwise read next.
_own_decision = _OWN_GRANTS.subquery("own_decision")
_CALLER_IN_OWN_TENANT = (
    select(*CALLER_COLUMNS, _own_decision.c.permission, _own_decision.c.id, _own_decision.c.all_rooms)
    .select_from(User)
    .outerjoin(_own_decision, true())
    .where(User.id == _UID)
)
_partner_decision = _PARTNER_GRANTS.subquery("partner_decision")
_CALLER_AS_PARTNER = (
    select(*CALLER_COLUMNS, *_partner_decision.c)
    .select_from(User)
    .outerjoin(_partner_decision, true())
    .where(User.id == _UID)
)


@dataclass(frozen=True, slots=True)
class Caller:
    """A token's bearer, and its access in the tenant asked about (``None``: the tenant is
    not visible to it, which answers like a missing tenant)."""

    principal: Principal
    access: Access | None


def resolve_caller(
    session: Session,
    *,
    user_id: uuid.UUID,
    home_tenant_id: uuid.UUID,
    token_version: int,
    mfa: bool,
    tenant_id: uuid.UUID,
) -> Caller:
    """``resolve_access`` for the bearer of a verified token, reading the caller's row in
    the same statement as its decision: the user must still exist, be active, belong to the
    token's tenant and carry the token's version (else 401, before anything else is said);
    then the same rules as ``resolve_access``."""
    own = home_tenant_id == tenant_id
    if own:
        rows = session.execute(_CALLER_IN_OWN_TENANT, {"uid": user_id, "tid": tenant_id}).all()
    else:
        params = {"uid": user_id, "tid": tenant_id, "pid": home_tenant_id, "now": utcnow()}
        rows = session.execute(_CALLER_AS_PARTNER, params).all()
    principal = caller_principal(
        rows[0] if rows else None,
        user_id=user_id,
        home_tenant_id=home_tenant_id,
        token_version=token_version,
        mfa=mfa,
    )
    first = rows[0]
    n = len(CALLER_COLUMNS)
    if own:
        if principal.is_global_admin:
            return Caller(principal, Access(tenant_id, principal, dict(_GLOBAL_ADMIN)))
        grants = _fold(((r[n], r[n + 1], r[n + 2]) for r in rows), ALL_PERMISSIONS)
        return Caller(principal, Access(tenant_id, principal, grants))
    link_id, scope_id, link_all, require_mfa = first[n : n + 4]
    grants = _fold(((r[n + 4], r[n + 5], r[n + 6]) for r in rows), PARTNER_ADMIN)
    if link_id is None or not grants:
        return Caller(principal, None)
    link = LinkInfo(id=link_id, partner_tenant_id=home_tenant_id, scope_id=scope_id, all_rooms=link_all)
    return Caller(principal, Access(tenant_id, principal, grants, link, mfa_required=bool(require_mfa)))


def linked_customers(session: Session, principal: Principal) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """``(link_id, customer_tenant_id, customer_name)`` of every live link in which the
    principal holds at least one partner role (permanent, or eligible and activated now), by
    customer name (one statement, built once: ``_LINKED_CUSTOMERS``)."""
    params = {"uid": principal.user_id, "pid": principal.tenant_id, "now": utcnow()}
    return [(r[0], r[1], r[2]) for r in session.execute(_LINKED_CUSTOMERS, params)]


#: The live links of the caller's tenant (``pid``) in which the user (``uid``) holds a partner
#: role at ``now``, with their customers' names, by name.
_LINKED_CUSTOMERS = (
    select(PartnerLink.id, Tenant.id, Tenant.name)
    .join(Tenant, Tenant.id == PartnerLink.tenant_id)
    .where(
        PartnerLink.partner_tenant_id == _PID,
        live_link(_NOW),
        select(RoleAssignment.id)
        .join(Role, Role.id == RoleAssignment.role_id)
        .join(AssignmentMember, AssignmentMember.assignment_id == RoleAssignment.id)
        .where(Role.partner_link_id == PartnerLink.id, _NAMES_ME, _HELD)
        .exists(),
    )
    .order_by(Tenant.name, Tenant.id)
)
