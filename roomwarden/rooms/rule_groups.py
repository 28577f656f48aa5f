"""The members of rule-based groups, kept exact (SPEC §3).

A rule group's members are rows of ``room_group_members`` like a list group's, so every scope
naming the group — people's and partner links' — reads them through the same materialised
rooms. They change only here, in the transaction of whatever moved them: the rule itself
(``apply_rule``), and every change of a room's fields or of a ring's name (``follow_rooms``).
Each change is also announced like any other membership change
(``events.group_members_changed``), so the partner links naming the group record it."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from functools import lru_cache

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from roomwarden.access.resolver import Access
from roomwarden.rooms import events, rules
from roomwarden.rooms.models import Room, RoomGroup, RoomGroupMember, UpdateRing

#: The fields of a room that a rule may name (``update_ring`` is the ring's name).
ROOM_RULE_FIELDS = frozenset({"country", "city", "building", "name", "update_ring_id"})
_ONE_ROOM = 1


@lru_cache(maxsize=2048)
def compiled(text: str) -> rules.Rule:
    """A stored rule, parsed once per process (rules are immutable trees)."""
    return rules.parse(text)


def selected(session: Session, tenant_id: uuid.UUID, rule: rules.Rule) -> set[uuid.UUID]:
    """Every room of the tenant the rule selects now."""
    return set(session.scalars(select(Room.id).where(Room.tenant_id == tenant_id, rules.sql(rule))))


def apply_rule(session: Session, group: RoomGroup) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Make the group's members exactly what its rule selects; the rooms added and removed."""
    assert group.rule is not None
    wanted = selected(session, group.tenant_id, compiled(group.rule))
    members = select(RoomGroupMember.room_id).where(RoomGroupMember.group_id == group.id)
    current = set(session.scalars(members))
    _write(session, group.tenant_id, group.id, wanted - current, current - wanted)
    return wanted - current, current - wanted


def follow_rooms(session: Session, access: Access, room_ids: Collection[uuid.UUID]) -> None:
    """Rooms were created or changed, or their ring renamed: every rule group of the tenant
    takes or drops them now. One room is matched in Python against its fields; more (a ring's
    rooms) in SQL."""
    if not room_ids:
        return
    groups = session.execute(
        select(RoomGroup.id, RoomGroup.name, RoomGroup.rule)
        .where(RoomGroup.tenant_id == access.tenant_id, RoomGroup.rule.is_not(None))
        .order_by(RoomGroup.id)
    ).all()
    if not groups:
        return
    ids = sorted(set(room_ids))
    fields = _fields(session, access.tenant_id, ids[0]) if len(ids) == _ONE_ROOM else None
    for group_id, name, text in groups:
        rule = compiled(text)
        if fields is not None:
            matching = {ids[0]} if rules.matcher(rule)(fields) else set()
        else:
            chosen = select(Room.id).where(
                Room.tenant_id == access.tenant_id, Room.id.in_(ids), rules.sql(rule)
            )
            matching = set(session.scalars(chosen))
        current = set(
            session.scalars(
                select(RoomGroupMember.room_id).where(
                    RoomGroupMember.group_id == group_id, RoomGroupMember.room_id.in_(ids)
                )
            )
        )
        added, removed = matching - current, current - matching
        if added or removed:
            _write(session, access.tenant_id, group_id, added, removed)
            change = events.GroupMembersChanged(session, access, group_id, name, added=added, removed=removed)
            events.group_members_changed.emit(change)


def room_fields(room: Room, ring_name: str) -> rules.Fields:
    return {
        "country": room.country,
        "city": room.city,
        "building": room.building,
        "name": room.name,
        "update_ring": ring_name,
    }


def _fields(session: Session, tenant_id: uuid.UUID, room_id: uuid.UUID) -> rules.Fields:
    room, ring = session.execute(
        select(Room, UpdateRing.name)
        .join(UpdateRing, (UpdateRing.tenant_id == Room.tenant_id) & (UpdateRing.id == Room.update_ring_id))
        .where(Room.tenant_id == tenant_id, Room.id == room_id)
    ).one()
    return room_fields(room, ring)


def _write(
    session: Session,
    tenant_id: uuid.UUID,
    group_id: uuid.UUID,
    added: set[uuid.UUID],
    removed: set[uuid.UUID],
) -> None:
    if added:
        session.add_all(
            RoomGroupMember(tenant_id=tenant_id, group_id=group_id, room_id=r) for r in sorted(added)
        )
    if removed:
        session.execute(
            delete(RoomGroupMember).where(
                RoomGroupMember.group_id == group_id, RoomGroupMember.room_id.in_(removed)
            )
        )
    session.flush()
