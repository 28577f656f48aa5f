"""Local sign-in (with throttling), the directory of users and security groups, and the
caller's own view of itself."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.orm import Session

from roomwarden.audit.service import Auditor, Category, Operation
from roomwarden.identity import totp
from roomwarden.identity.account import SIGNED_OUT, revoke_credentials
from roomwarden.identity.domains import domains_of
from roomwarden.identity.extensions import directory_change, group_members_change
from roomwarden.identity.models import SecurityGroup, SecurityGroupMember, User
from roomwarden.identity.passwords import hash_password
from roomwarden.identity.principal import Principal
from roomwarden.identity.schemas import GroupCreate, GroupUpdate, UserCreate, UserUpdate
from roomwarden.kit.db import state_lookup
from roomwarden.kit.errors import Conflict, Invalid, NotFound
from roomwarden.tenants.models import Tenant

# -- users ---------------------------------------------------------------------------------


def _user(session: Session, access: Auditor, user_id: uuid.UUID, *, lock: bool = False) -> User:
    stmt = select(User).where(User.id == user_id, User.tenant_id == access.tenant_id)
    if lock:
        stmt = stmt.with_for_update()
    user = session.scalar(stmt)
    if user is None:
        raise NotFound("user not found")
    return user


def get_user(session: Session, access: Auditor, user_id: uuid.UUID, *, lock: bool = False) -> User:
    return _user(session, access, user_id, lock=lock)


def list_users_query(access: Auditor, q: str | None):
    stmt = select(User).where(User.tenant_id == access.tenant_id)
    if q:
        needle = q.lower()
        stmt = stmt.where(
            or_(
                User.upn.contains(needle, autoescape=True),
                func.lower(User.display_name).contains(needle, autoescape=True),
            )
        )
    return stmt


def create_user(session: Session, access: Auditor, data: UserCreate) -> User:
    tenant_id = access.tenant_id
    domain = data.upn.rsplit("@", 1)[1]
    domains = domains_of(session, tenant_id)
    if domain not in domains:
        raise Invalid(f"the UPN's domain must be one of the tenant's domains: {', '.join(domains)}")
    if data.password is None and session.get_one(Tenant, tenant_id).identity_source != "oidc":
        raise Invalid(
            "a password is required: people of this tenant sign in with local accounts", field="password"
        )
    state_lookup(session, "roomwarden.upn", data.upn)  # unique across every tenant
    if session.scalar(select(User.id).where(User.upn == data.upn)) is not None:
        raise Conflict("a user with this UPN already exists")
    user = User(
        tenant_id=tenant_id,
        upn=data.upn,
        display_name=data.display_name,
        password_hash=hash_password(data.password) if data.password is not None else None,
        is_global_admin=data.is_global_admin,
    )
    session.add(user)
    session.flush()
    access.audit(
        session,
        Category.USER,
        Operation.CREATE,
        user.upn,
        user.id,
        {"display_name": user.display_name, "is_global_admin": user.is_global_admin},
    )
    return user


def _lock_global_admins(session: Session, tenant_id: uuid.UUID) -> list[uuid.UUID]:
    """Lock the tenant's active Global admins in id order. A change that may remove one takes
    these locks before the target's own row, so two such changes queue instead of deadlocking."""
    return list(
        session.scalars(
            select(User.id)
            .where(User.tenant_id == tenant_id, User.is_global_admin, User.is_active)
            .order_by(User.id)
            .with_for_update()
        )
    )


def _guard_last_global_admin(session: Session, access: Auditor, user: User) -> None:
    """A tenant always keeps one active Global admin. The admins' rows are locked so two
    concurrent demotions cannot both pass the check."""
    if set(_lock_global_admins(session, access.tenant_id)) <= {user.id}:
        raise Conflict("the tenant's last active Global admin cannot be removed or demoted")


def update_user(session: Session, access: Auditor, user_id: uuid.UUID, data: UserUpdate) -> User:
    if "is_active" in data.model_fields_set and not data.is_active:
        with directory_change()(session, access.tenant_id):  # its lock comes first
            return _update_user(session, access, user_id, data)
    return _update_user(session, access, user_id, data)


def _update_user(session: Session, access: Auditor, user_id: uuid.UUID, data: UserUpdate) -> User:
    fields = data.model_fields_set
    if fields & {"is_global_admin", "is_active"}:
        _lock_global_admins(session, access.tenant_id)
    user = _user(session, access, user_id, lock=True)
    losing_admin = (
        user.is_global_admin
        and user.is_active
        and (
            ("is_global_admin" in fields and not data.is_global_admin)
            or ("is_active" in fields and not data.is_active)
        )
    )
    if losing_admin:
        _guard_last_global_admin(session, access, user)
    changes: dict[str, object] = {}
    for field in ("display_name", "is_global_admin", "is_active"):
        if field in fields and getattr(user, field) != getattr(data, field):
            changes[field] = {"from": getattr(user, field), "to": getattr(data, field)}
            setattr(user, field, getattr(data, field))
    if "password" in fields:
        user.password_hash = hash_password(data.password)
        changes["password"] = "reset"
    if "totp_enabled" in fields and user.totp_enabled:
        totp.remove(session, user)
        changes["second_factor"] = "removed"
    if "password" in fields or ("is_active" in changes and not user.is_active):
        revoke_credentials(session, user)
        changes["sessions"] = SIGNED_OUT
    session.flush()
    access.audit(session, Category.USER, Operation.UPDATE, user.upn, user.id, changes)
    return user


def delete_user(session: Session, access: Auditor, user_id: uuid.UUID) -> None:
    with directory_change()(session, access.tenant_id):  # its lock comes first
        _delete_user(session, access, user_id)


def _delete_user(session: Session, access: Auditor, user_id: uuid.UUID) -> None:
    _lock_global_admins(session, access.tenant_id)
    user = _user(session, access, user_id, lock=True)
    if user.is_global_admin and user.is_active:
        _guard_last_global_admin(session, access, user)
    upn = user.upn
    session.delete(user)
    session.flush()
    access.audit(session, Category.USER, Operation.DELETE, upn, user_id)


# -- security groups -----------------------------------------------------------------------


def member_ids(session: Session, group_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(SecurityGroupMember.user_id)
            .where(SecurityGroupMember.group_id == group_id)
            .order_by(SecurityGroupMember.user_id)
        )
    )


def members_by_group(session: Session, group_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    out: dict[uuid.UUID, list[uuid.UUID]] = {g: [] for g in group_ids}
    rows = session.execute(
        select(SecurityGroupMember.group_id, SecurityGroupMember.user_id)
        .where(SecurityGroupMember.group_id.in_(group_ids))
        .order_by(SecurityGroupMember.user_id)
    )
    for gid, uid in rows:
        out[gid].append(uid)
    return out


def _group(session: Session, access: Auditor, group_id: uuid.UUID, *, lock: bool = False) -> SecurityGroup:
    stmt = select(SecurityGroup).where(
        SecurityGroup.id == group_id, SecurityGroup.tenant_id == access.tenant_id
    )
    if lock:
        stmt = stmt.with_for_update()
    group = session.scalar(stmt)
    if group is None:
        raise NotFound("security group not found")
    return group


def get_group(session: Session, access: Auditor, group_id: uuid.UUID) -> SecurityGroup:
    return _group(session, access, group_id)


def _check_users(session: Session, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    wanted = sorted(set(ids))
    found = set(session.scalars(select(User.id).where(User.tenant_id == tenant_id, User.id.in_(wanted))))
    if missing := [str(i) for i in wanted if i not in found]:
        raise Invalid(f"no user of this tenant with id: {', '.join(missing)}")
    return wanted


def _name_free(session: Session, tenant_id: uuid.UUID, name: str, exclude: uuid.UUID | None = None) -> None:
    stmt = select(SecurityGroup.id).where(SecurityGroup.tenant_id == tenant_id, SecurityGroup.name == name)
    if exclude is not None:
        stmt = stmt.where(SecurityGroup.id != exclude)
    if session.scalar(stmt) is not None:
        raise Conflict("a security group with this name already exists")


def create_group(session: Session, access: Auditor, data: GroupCreate) -> SecurityGroup:
    users = _check_users(session, access.tenant_id, data.member_ids)
    _name_free(session, access.tenant_id, data.name)
    group = SecurityGroup(tenant_id=access.tenant_id, name=data.name)
    session.add(group)
    session.flush()
    session.add_all(
        SecurityGroupMember(tenant_id=access.tenant_id, group_id=group.id, user_id=u) for u in users
    )
    session.flush()
    access.audit(
        session,
        Category.SECURITY_GROUP,
        Operation.CREATE,
        group.name,
        group.id,
        {"member_ids": [str(u) for u in users]},
    )
    return group


def update_group(session: Session, access: Auditor, group_id: uuid.UUID, data: GroupUpdate) -> SecurityGroup:
    if "member_ids" in data.model_fields_set:  # a group's members may be a link's last live admins
        with directory_change()(session, access.tenant_id):
            return _update_group(session, access, group_id, data)
    return _update_group(session, access, group_id, data)


def _update_group(session: Session, access: Auditor, group_id: uuid.UUID, data: GroupUpdate) -> SecurityGroup:
    group = _group(session, access, group_id, lock=True)
    changes: dict[str, object] = {}
    if "name" in data.model_fields_set and data.name != group.name:
        _name_free(session, access.tenant_id, data.name, exclude=group.id)
        changes["name"] = {"from": group.name, "to": data.name}
        group.name = data.name
    if "member_ids" in data.model_fields_set:
        wanted = _check_users(session, access.tenant_id, data.member_ids)
        current = member_ids(session, group.id)
        added, removed = sorted(set(wanted) - set(current)), sorted(set(current) - set(wanted))
        # a customer reviewing its partner's role changes may hold this one (change control)
        if (added or removed) and group_members_change()(session, access, group, wanted, current):
            changes["members_held_for_approval"] = {
                "added": [str(u) for u in added],
                "removed": [str(u) for u in removed],
            }
        else:
            set_group_members(session, group, wanted)
            changes["members_added"] = [str(u) for u in added]
            changes["members_removed"] = [str(u) for u in removed]
    session.flush()
    access.audit(session, Category.SECURITY_GROUP, Operation.UPDATE, group.name, group.id, changes)
    return group


def set_group_members(
    session: Session, group: SecurityGroup, wanted: list[uuid.UUID]
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Make the group's members ``wanted`` (users of the group's tenant, checked by the
    caller); answers who was added and who removed. No record: the caller writes it."""
    current = set(member_ids(session, group.id))
    added, removed = sorted(set(wanted) - current), sorted(current - set(wanted))
    if added:
        session.add_all(
            SecurityGroupMember(tenant_id=group.tenant_id, group_id=group.id, user_id=u) for u in added
        )
    if removed:
        session.execute(
            delete(SecurityGroupMember).where(
                SecurityGroupMember.group_id == group.id, SecurityGroupMember.user_id.in_(removed)
            )
        )
    session.flush()
    return added, removed


def check_users(session: Session, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """``ids``, sorted, when each is a user of ``tenant_id`` (422 otherwise)."""
    return _check_users(session, tenant_id, ids)


def delete_group(session: Session, access: Auditor, group_id: uuid.UUID) -> None:
    with directory_change()(session, access.tenant_id):
        group = _group(session, access, group_id, lock=True)
        name = group.name
        session.delete(group)
        session.flush()
    access.audit(session, Category.SECURITY_GROUP, Operation.DELETE, name, group_id)


def principal_user(session: Session, principal: Principal) -> User:
    return session.get_one(User, principal.user_id)


def principal_home(session: Session, principal: Principal) -> tuple[User, Tenant]:
    """The caller's user and its home tenant, in one statement (built once)."""
    user, home = session.execute(_USER_AND_HOME, {"uid": principal.user_id}).one()
    return user, home


_USER_AND_HOME = (
    select(User, Tenant).join(Tenant, Tenant.id == User.tenant_id).where(User.id == bindparam("uid"))
)
