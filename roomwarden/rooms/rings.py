"""Update rings. Every principal with ``rings.view`` sees every ring of the tenant (rings
are roll-out stages, not rooms) with a room count filtered to its own rooms. Creating a
ring and changing a ring's own settings are tenant-level; moving an in-scope room between
rings is a room change (``rooms.service.update_room``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access, RoomSet
from roomwarden.audit.service import Category, Operation
from roomwarden.kit.errors import Conflict, Forbidden, NotFound
from roomwarden.rooms import rule_groups
from roomwarden.rooms.models import Room, UpdateRing
from roomwarden.rooms.schemas import RingCreate, RingUpdate


def list_rings_query(access: Access) -> Select[UpdateRing]:
    stmt = select(UpdateRing).where(UpdateRing.tenant_id == access.tenant_id)
    return stmt if access.has(P.RINGS_VIEW) else stmt.where(false())


def visible_ring(session: Session, access: Access, ring_id: uuid.UUID, *, lock: bool = False) -> UpdateRing:
    stmt = select(UpdateRing).where(UpdateRing.tenant_id == access.tenant_id, UpdateRing.id == ring_id)
    if lock:
        stmt = stmt.with_for_update()
    ring = session.scalar(stmt) if access.has(P.RINGS_VIEW) else None
    if ring is None:
        raise NotFound("update ring not found")
    return ring


def room_counts(session: Session, access: Access, ring_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    rooms: RoomSet = access.rooms(P.RINGS_VIEW)
    rows = session.execute(
        select(Room.update_ring_id, func.count())
        .where(
            Room.tenant_id == access.tenant_id, Room.update_ring_id.in_(list(ring_ids)), rooms.clause(Room.id)
        )
        .group_by(Room.update_ring_id)
    ).all()
    counts = {rid: 0 for rid in ring_ids}
    counts.update({rid: n for rid, n in rows})
    return counts


def _name_free(session: Session, tenant_id: uuid.UUID, name: str, exclude: uuid.UUID | None = None) -> None:
    stmt = select(UpdateRing.id).where(UpdateRing.tenant_id == tenant_id, UpdateRing.name == name)
    if exclude is not None:
        stmt = stmt.where(UpdateRing.id != exclude)
    if session.scalar(stmt) is not None:
        raise Conflict("an update ring with this name already exists")


def create_ring(session: Session, access: Access, data: RingCreate) -> UpdateRing:
    access.require_tenant_wide(P.RINGS_CREATE, "update ring", partner_visible=True)
    if not access.has(P.RINGS_VIEW):  # ring names are unique: naming one needs to see them all
        raise Forbidden("creating an update ring needs rings.view (ring names are unique in the tenant)")
    _name_free(session, access.tenant_id, data.name)
    ring = UpdateRing(
        tenant_id=access.tenant_id, name=data.name, deferral_days=data.deferral_days, paused=data.paused
    )
    session.add(ring)
    session.flush()
    access.audit(
        session,
        Category.UPDATE_RING,
        Operation.CREATE,
        ring.name,
        ring.id,
        {"deferral_days": ring.deferral_days, "paused": ring.paused},
    )
    return ring


def update_ring(session: Session, access: Access, ring_id: uuid.UUID, data: RingUpdate) -> UpdateRing:
    ring = visible_ring(session, access, ring_id, lock=True)
    access.require_tenant_wide(P.RINGS_MODIFY, "update ring")
    changes: dict[str, object] = {}
    if "name" in data.model_fields_set and data.name != ring.name:
        _name_free(session, access.tenant_id, data.name, exclude=ring.id)
        changes["name"] = {"from": ring.name, "to": data.name}
        ring.name = data.name
    if "deferral_days" in data.model_fields_set and data.deferral_days != ring.deferral_days:
        changes["deferral_days"] = {"from": ring.deferral_days, "to": data.deferral_days}
        ring.deferral_days = data.deferral_days
    if "paused" in data.model_fields_set and data.paused != ring.paused:
        # takes effect at each room's next report: the offer is decided per report
        changes["paused"] = {"from": ring.paused, "to": data.paused}
        ring.paused = data.paused
    session.flush()
    access.audit(session, Category.UPDATE_RING, Operation.UPDATE, ring.name, ring.id, changes)
    if "name" in changes:  # rule groups may select rooms by their ring's name
        in_ring = select(Room.id).where(Room.tenant_id == ring.tenant_id, Room.update_ring_id == ring.id)
        rule_groups.follow_rooms(session, access, list(session.scalars(in_ring)))
    return ring


def delete_ring(session: Session, access: Access, ring_id: uuid.UUID) -> None:
    """Delete an empty update ring. The inverse of creating one, so tenant-level with
    ``rings.create`` (never a partner). The default ring (where new rooms go) and a ring that
    still holds rooms are refused (409): every room is in exactly one ring (SPEC §1)."""
    ring = visible_ring(session, access, ring_id, lock=True)
    access.require_tenant_wide(P.RINGS_CREATE, "update ring", partner_visible=True)
    if ring.is_default:
        raise Conflict(
            f"'{ring.name}' is the tenant's default update ring (new rooms join it): it cannot be deleted"
        )
    rooms = session.scalar(
        select(func.count())
        .select_from(Room)
        .where(Room.tenant_id == access.tenant_id, Room.update_ring_id == ring.id)
    )
    if rooms:
        raise Conflict(
            f"the update ring '{ring.name}' still holds {rooms} room(s): move them to another ring "
            "before deleting it"
        )
    name, deferral = ring.name, ring.deferral_days
    session.delete(ring)
    session.flush()
    access.audit(
        session,
        Category.UPDATE_RING,
        Operation.DELETE,
        name,
        ring_id,
        {"deferral_days": deferral},
        permission=P.RINGS_CREATE,
    )
