"""Room groups. A scoped principal sees the groups its scope names and the groups holding
at least one of its rooms, and of each group only the members it may see; it changes only
groups its scope names, and only the membership of rooms inside its scope, so a group can
never be used to pull a room into someone's scope."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, delete, func, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access, RoomSet
from roomwarden.audit.service import Category, Operation
from roomwarden.kit.errors import Conflict, Forbidden, Invalid, NotFound
from roomwarden.rooms import events, rule_groups, rules
from roomwarden.rooms.models import Room, RoomGroup, RoomGroupMember
from roomwarden.rooms.schemas import RoomGroupCreate, RoomGroupUpdate

#: Rooms a rule preview lists (its count covers them all).
PREVIEW_ROOMS = 50


def group_visible(rooms: RoomSet) -> ColumnElement[bool]:
    holds_visible_room = (
        select(RoomGroupMember.room_id)
        .where(RoomGroupMember.group_id == RoomGroup.id, rooms.clause(RoomGroupMember.room_id))
        .exists()
    )
    return or_(rooms.group_named(RoomGroup.id), holds_visible_room)


def list_groups_query(access: Access, q: str | None = None) -> Select[RoomGroup]:
    rooms = access.rooms(P.GROUPS_VIEW)
    stmt = select(RoomGroup).where(RoomGroup.tenant_id == access.tenant_id, group_visible(rooms))
    if q:
        stmt = stmt.where(func.lower(RoomGroup.name).contains(q.lower(), autoescape=True))
    return stmt


def visible_group(session: Session, access: Access, group_id: uuid.UUID, *, lock: bool = False) -> RoomGroup:
    rooms = access.rooms(P.GROUPS_VIEW)
    stmt = select(RoomGroup).where(
        RoomGroup.tenant_id == access.tenant_id, RoomGroup.id == group_id, group_visible(rooms)
    )
    if lock:
        stmt = stmt.with_for_update()
    group = session.scalar(stmt)
    if group is None:
        raise NotFound("room group not found")
    return group


def member_ids(session: Session, group_id: uuid.UUID, rooms: RoomSet) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(RoomGroupMember.room_id)
            .where(RoomGroupMember.group_id == group_id, rooms.clause(RoomGroupMember.room_id))
            .order_by(RoomGroupMember.room_id)
        )
    )


def member_counts(session: Session, group_ids: Sequence[uuid.UUID], rooms: RoomSet) -> dict[uuid.UUID, int]:
    rows = session.execute(
        select(RoomGroupMember.group_id, func.count())
        .where(RoomGroupMember.group_id.in_(list(group_ids)), rooms.clause(RoomGroupMember.room_id))
        .group_by(RoomGroupMember.group_id)
    ).all()
    counts = {gid: 0 for gid in group_ids}
    counts.update({gid: n for gid, n in rows})
    return counts


def _existing_rooms(
    session: Session, tenant_id: uuid.UUID, ids: list[uuid.UUID], within: RoomSet
) -> set[uuid.UUID]:
    """The given ids, which must all be rooms of the tenant inside ``within``; anything else
    is reported exactly like a room that does not exist."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    found = set(
        session.scalars(
            select(Room.id).where(Room.tenant_id == tenant_id, Room.id.in_(wanted), within.clause(Room.id))
        )
    )
    if missing := [str(i) for i in wanted if i not in found]:
        raise Invalid(f"no room with id: {', '.join(missing)}")
    return found


def _name_free(session: Session, tenant_id: uuid.UUID, name: str, exclude: uuid.UUID | None = None) -> None:
    stmt = select(RoomGroup.id).where(RoomGroup.tenant_id == tenant_id, RoomGroup.name == name)
    if exclude is not None:
        stmt = stmt.where(RoomGroup.id != exclude)
    if session.scalar(stmt) is not None:
        raise Conflict("a room group with this name already exists")


def require_sees_every_group(access: Access, action: str) -> None:
    """Group names are unique across the tenant, so "name taken" would reveal a group the
    caller cannot see: naming a group is reserved to callers who see every group."""
    if access.is_partner or not access.tenant_wide(P.GROUPS_VIEW):
        raise Forbidden(f"{action} needs groups.view over all rooms (group names are unique in the tenant)")


def create_group(session: Session, access: Access, data: RoomGroupCreate) -> RoomGroup:
    access.require_tenant_wide(P.GROUPS_CREATE, "room group", partner_visible=True)
    require_sees_every_group(access, "creating a room group")
    if data.rule is not None:
        return _create_rule_group(session, access, data.name, data.rule)
    rooms = _existing_rooms(session, access.tenant_id, data.room_ids, access.rooms(P.GROUPS_CREATE))
    _name_free(session, access.tenant_id, data.name)
    group = RoomGroup(tenant_id=access.tenant_id, name=data.name)
    session.add(group)
    session.flush()
    session.add_all(
        RoomGroupMember(tenant_id=access.tenant_id, group_id=group.id, room_id=r) for r in sorted(rooms)
    )
    session.flush()
    access.audit(
        session,
        Category.ROOM_GROUP,
        Operation.CREATE,
        group.name,
        group.id,
        {"room_ids": sorted(str(r) for r in rooms)},
    )
    return group


def _create_rule_group(session: Session, access: Access, name: str, rule: str) -> RoomGroup:
    require_rule_author(access, P.GROUPS_CREATE)
    rule_groups.compiled(rule)  # 422 with the position and the reason, before anything is written
    _name_free(session, access.tenant_id, name)
    group = RoomGroup(tenant_id=access.tenant_id, name=name, rule=rule)
    session.add(group)
    session.flush()
    added, _ = rule_groups.apply_rule(session, group)
    details = {"rule": rule, "rooms_added": len(added)}
    access.audit(session, Category.ROOM_GROUP, Operation.CREATE, group.name, group.id, details)
    return group


def require_rule_author(access: Access, perm: P) -> None:
    """A rule selects from every room of the tenant, so only a customer principal holding
    ``perm`` over all rooms writes one (SPEC §3)."""
    if access.is_partner or not access.tenant_wide(perm):
        raise Forbidden(f"a rule-based room group needs {perm.value} over all rooms")


def preview(session: Session, access: Access, rule: str) -> tuple[int, list[Room]]:
    """What ``rule`` would select now, of the rooms the caller may view (count, first rooms
    by name); nothing is written. For those who may write a rule."""
    if not (access.tenant_wide(P.GROUPS_CREATE) or access.tenant_wide(P.GROUPS_MODIFY)) or access.is_partner:
        raise Forbidden("previewing a rule needs groups.create or groups.modify over all rooms")
    parsed = rule_groups.compiled(rule)
    visible = access.rooms(P.ROOMS_VIEW).clause(Room.id)
    where = (Room.tenant_id == access.tenant_id, rules.sql(parsed), visible)
    count = session.scalar(select(func.count()).select_from(Room).where(*where)) or 0
    first = session.scalars(select(Room).where(*where).order_by(Room.name, Room.id).limit(PREVIEW_ROOMS))
    return count, list(first)


def _require_modify(session: Session, access: Access, group: RoomGroup) -> RoomSet:
    modifiable = access.rooms(P.GROUPS_MODIFY)
    named = session.scalar(select(modifiable.group_named(RoomGroup.id)).where(RoomGroup.id == group.id))
    if not named:
        raise Forbidden("groups.modify is not granted on this room group")
    return modifiable


def update_group(session: Session, access: Access, group_id: uuid.UUID, data: RoomGroupUpdate) -> RoomGroup:
    group = visible_group(session, access, group_id, lock=True)
    modifiable = _require_modify(session, access, group)
    changes: dict[str, object] = {}
    if "name" in data.model_fields_set and data.name != group.name:
        require_sees_every_group(access, "renaming a room group")
        _name_free(session, access.tenant_id, data.name, exclude=group.id)
        changes["name"] = {"from": group.name, "to": data.name}
        group.name = data.name
    added: set[uuid.UUID] = set()
    removed: set[uuid.UUID] = set()
    if "rule" in data.model_fields_set:
        added, removed = _change_rule(session, access, group, data.rule, changes)
    if "room_ids" in data.model_fields_set:
        if group.rule is not None:
            raise Invalid("a rule-based group's members follow its rule: change the rule", field="room_ids")
        wanted = _existing_rooms(session, access.tenant_id, data.room_ids, modifiable)
        current = set(member_ids(session, group.id, modifiable))
        if added := wanted - current:
            session.add_all(
                RoomGroupMember(tenant_id=access.tenant_id, group_id=group.id, room_id=r)
                for r in sorted(added)
            )
        if removed := current - wanted:
            session.execute(
                delete(RoomGroupMember).where(
                    RoomGroupMember.group_id == group.id, RoomGroupMember.room_id.in_(removed)
                )
            )
        changes["rooms_added"] = sorted(str(r) for r in added)
        changes["rooms_removed"] = sorted(str(r) for r in removed)
    session.flush()
    access.audit(session, Category.ROOM_GROUP, Operation.UPDATE, group.name, group.id, changes)
    if added or removed:
        events.group_members_changed.emit(
            events.GroupMembersChanged(session, access, group.id, group.name, added=added, removed=removed)
        )
    return group


def _change_rule(
    session: Session, access: Access, group: RoomGroup, rule: str | None, changes: dict[str, object]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """A new rule takes effect at once; ``None`` leaves the group a list of what it holds.
    The record says how many rooms the rule added and removed (SPEC §3)."""
    require_rule_author(access, P.GROUPS_MODIFY)
    if rule == group.rule:
        return set(), set()
    if rule is not None:
        rule_groups.compiled(rule)
    changes["rule"] = {"from": group.rule, "to": rule}
    group.rule = rule
    session.flush()
    if rule is None:
        return set(), set()
    added, removed = rule_groups.apply_rule(session, group)
    changes["rooms_added"], changes["rooms_removed"] = len(added), len(removed)
    return added, removed


def delete_group(session: Session, access: Access, group_id: uuid.UUID) -> None:
    """Deleting a group changes every scope that names it, so it is tenant-level."""
    group = visible_group(session, access, group_id, lock=True)
    if not access.tenant_wide(P.GROUPS_MODIFY):
        raise Forbidden("deleting a room group needs groups.modify over all rooms")
    name = group.name
    members = member_ids(session, group.id, access.rooms(P.GROUPS_MODIFY))
    events.group_members_changed.emit(
        events.GroupMembersChanged(session, access, group.id, name, removed=members, deleted=True)
    )
    session.delete(group)
    session.flush()
    access.audit(session, Category.ROOM_GROUP, Operation.DELETE, name, group_id)
