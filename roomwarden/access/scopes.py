"""Storing and reading scopes (SPEC §3), shared by assignments, partner links and
invitations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from roomwarden.access.models import Scope, ScopeGroup, ScopeRoom
from roomwarden.access.schemas import ScopeIn, ScopeRead
from roomwarden.kit.errors import Invalid
from roomwarden.rooms.models import Room, RoomGroup


def _check_ids(
    session: Session, tenant_id: uuid.UUID, data: ScopeIn
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    rooms, groups = sorted(set(data.rooms)), sorted(set(data.room_groups))
    if rooms:
        found = set(session.scalars(select(Room.id).where(Room.tenant_id == tenant_id, Room.id.in_(rooms))))
        if missing := [str(r) for r in rooms if r not in found]:
            raise Invalid(f"scope names no room with id: {', '.join(missing)}")
    if groups:
        found = set(
            session.scalars(
                select(RoomGroup.id).where(RoomGroup.tenant_id == tenant_id, RoomGroup.id.in_(groups))
            )
        )
        if missing := [str(g) for g in groups if g not in found]:
            raise Invalid(f"scope names no room group with id: {', '.join(missing)}")
    return rooms, groups


def validate_scope(session: Session, tenant_id: uuid.UUID, data: ScopeIn) -> ScopeRead:
    """Check a scope's ids and return it normalised, without storing anything."""
    rooms, groups = _check_ids(session, tenant_id, data)
    return ScopeRead(all=data.all, rooms=rooms, room_groups=groups)


def create_scope(session: Session, tenant_id: uuid.UUID, data: ScopeIn) -> Scope:
    rooms, groups = _check_ids(session, tenant_id, data)
    scope = Scope(tenant_id=tenant_id, all_rooms=data.all)
    session.add(scope)
    session.flush()
    _fill(session, scope, rooms, groups)
    return scope


def replace_scope(session: Session, scope: Scope, data: ScopeIn) -> None:
    rooms, groups = _check_ids(session, scope.tenant_id, data)
    session.execute(delete(ScopeRoom).where(ScopeRoom.scope_id == scope.id))
    session.execute(delete(ScopeGroup).where(ScopeGroup.scope_id == scope.id))
    scope.all_rooms = data.all
    _fill(session, scope, rooms, groups)


def _fill(session: Session, scope: Scope, rooms: list[uuid.UUID], groups: list[uuid.UUID]) -> None:
    session.add_all(ScopeRoom(tenant_id=scope.tenant_id, scope_id=scope.id, room_id=r) for r in rooms)
    session.add_all(ScopeGroup(tenant_id=scope.tenant_id, scope_id=scope.id, group_id=g) for g in groups)
    session.flush()


def read_scopes(session: Session, scope_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ScopeRead]:
    ids = list(scope_ids)
    if not ids:
        return {}
    alls = {sid: a for sid, a in session.execute(select(Scope.id, Scope.all_rooms).where(Scope.id.in_(ids)))}
    rooms: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    groups: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    for sid, rid in session.execute(
        select(ScopeRoom.scope_id, ScopeRoom.room_id)
        .where(ScopeRoom.scope_id.in_(ids))
        .order_by(ScopeRoom.room_id)
    ):
        rooms[sid].append(rid)
    for sid, gid in session.execute(
        select(ScopeGroup.scope_id, ScopeGroup.group_id)
        .where(ScopeGroup.scope_id.in_(ids))
        .order_by(ScopeGroup.group_id)
    ):
        groups[sid].append(gid)
    return {i: ScopeRead(all=alls[i], rooms=rooms[i], room_groups=groups[i]) for i in ids}


def delete_scopes(session: Session, scope_ids: Sequence[uuid.UUID]) -> None:
    if scope_ids:
        session.execute(delete(Scope).where(Scope.id.in_(list(scope_ids))))
