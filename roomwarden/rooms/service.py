"""Rooms: create, read, modify, move between rings, unenroll and re-enrol, delete, and their
enrollment keys.

Every read goes through ``visible_room`` (``rooms.view`` on that room, else 404) and every
change then checks its own permission on the room (else 403), per SPEC §3.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, func, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access, RoomSet
from roomwarden.audit.service import Category, Operation
from roomwarden.events import service as outbox
from roomwarden.kit.crypto import SecretBox, new_enrollment_key
from roomwarden.kit.db import state_lookup
from roomwarden.kit.errors import Conflict, Forbidden, Invalid, NotFound
from roomwarden.kit.pagination import PageParams
from roomwarden.kit.time import utcnow
from roomwarden.rooms import events, extensions, rule_groups
from roomwarden.rooms.groups import group_visible
from roomwarden.rooms.models import (
    Room,
    RoomGroup,
    RoomGroupMember,
    Ticket,
    TicketUpdate,
    UpdateRing,
    health_state_is,
)
from roomwarden.rooms.schemas import (
    RoomCreate,
    RoomDevice,
    RoomRead,
    RoomSignalRead,
    RoomSoftwareRead,
    RoomUpdate,
)
from roomwarden.tenants.models import TenantDomain, TenantSettings

ROOM_FIELDS = ("name", "resource_account", "country", "city", "building", "time_zone")


def key_hash(key: str) -> str:
    """How a room is found by its enrollment key (the key itself is stored sealed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def room_reads(session: Session, rooms: Sequence[Room]) -> list[RoomRead]:
    """The representation of rooms, with their device, signals and software (rooms.extensions)."""
    details = extensions.details(session, rooms)
    return [_read(room, details.get(room.id)) for room in rooms]


def _read(room: Room, extra: extensions.RoomDetails | None) -> RoomRead:
    read = RoomRead.model_validate(room)
    if extra is not None:
        read.device = RoomDevice.model_validate(extra.device) if extra.device else None
        read.signals = [RoomSignalRead.model_validate(s) for s in extra.signals]
        read.software = [RoomSoftwareRead.model_validate(s) for s in extra.software]
    return read


def room_read(session: Session, room: Room) -> RoomRead:
    return room_reads(session, [room])[0]


def room_allows(session: Session, rooms: RoomSet, room_id: uuid.UUID) -> bool:
    if rooms.is_everything:
        return True
    if rooms.is_empty:
        return False
    stmt = select(Room.id).where(Room.tenant_id == rooms.tenant_id, Room.id == room_id, rooms.clause(Room.id))
    return session.scalar(stmt) is not None


@functools.lru_cache(maxsize=64)
def _visible(lock: bool, limits: ColumnElement[bool] | None) -> Select[Any]:
    """A room by tenant and id (and ``limits``, a ``RoomSet.bound`` predicate), built once
    per shape: on the path of every room read, building it cost more than running it."""
    stmt = select(Room).where(Room.tenant_id == bindparam("tenant_id"), Room.id == bindparam("room_id"))
    if limits is not None:
        stmt = stmt.where(limits)
    return stmt.with_for_update() if lock else stmt


@functools.lru_cache(maxsize=64)
def _visible_with_details(limits: ColumnElement[bool] | None) -> Select[Any]:
    """``_visible`` reading the room's details too (``extensions.room_details_joined``)."""
    return extensions.room_details_joined().extend(_visible(False, limits))


def _visibility(access: Access, room_id: uuid.UUID) -> tuple[ColumnElement[bool] | None, dict[str, Any]]:
    rooms = access.rooms(P.ROOMS_VIEW)
    params: dict[str, Any] = {"tenant_id": access.tenant_id, "room_id": room_id}
    limits = None
    if not rooms.is_everything:
        limits, scopes = rooms.bound(Room.id)
        params.update(scopes)
    return limits, params


def visible_room(session: Session, access: Access, room_id: uuid.UUID, *, lock: bool = False) -> Room:
    limits, params = _visibility(access, room_id)
    room = session.scalar(_visible(lock, limits), params)
    if room is None:
        raise NotFound("room not found")
    return room


def visible_room_read(session: Session, access: Access, room_id: uuid.UUID) -> RoomRead:
    """``room_read(session, visible_room(session, access, room_id))`` in one statement: the
    room with its device and signals (``extensions.room_details_joined``), where reading the
    room and then its details took two."""
    limits, params = _visibility(access, room_id)
    rows = session.execute(_visible_with_details(limits), params).all()
    if not rows:
        raise NotFound("room not found")
    room = rows[0][0]
    return _read(room, extensions.room_details_joined().read(session, room, rows))


def require_on_room(session: Session, access: Access, perm: P, room: Room) -> None:
    if not room_allows(session, access.rooms(perm), room.id):
        raise Forbidden(f"{perm.value} is not granted on this room")


def list_rooms_query(
    access: Access,
    *,
    q: str | None = None,
    group_id: uuid.UUID | None = None,
    ring_id: uuid.UUID | None = None,
    country: str | None = None,
    health_state: str | None = None,
    enrollment_state: str | None = None,
    page: PageParams | None = None,
) -> Select[Room]:
    """Rooms visible to the caller. Given the ``page`` of an unfiltered list, the page's ids
    are taken from the caller's scope first (``RoomSet.first_ids``)."""
    rooms = access.rooms(P.ROOMS_VIEW)
    unfiltered = not any((q, group_id, ring_id, country, health_state, enrollment_state))
    if page is not None and unfiltered:
        visible = rooms.first_ids(Room.id, page.after, page.limit + 1)
    else:
        visible = rooms.clause(Room.id)
    stmt = select(Room).where(Room.tenant_id == access.tenant_id, visible)
    if q:  # a substring: "%" and "_" are literal characters, not wildcards
        needle = q.lower()
        stmt = stmt.where(
            func.lower(Room.name).contains(needle, autoescape=True)
            | Room.resource_account.contains(needle, autoescape=True)
            | func.lower(Room.city).contains(needle, autoescape=True)
            | func.lower(Room.building).contains(needle, autoescape=True)
        )
    if group_id is not None:
        # A group the caller cannot see filters like a group that does not exist: to nothing.
        seen = select(RoomGroup.id).where(
            RoomGroup.tenant_id == access.tenant_id,
            RoomGroup.id == group_id,
            group_visible(access.rooms(P.GROUPS_VIEW)),
        )
        members = select(RoomGroupMember.room_id).where(RoomGroupMember.group_id.in_(seen))
        stmt = stmt.where(Room.id.in_(members))
    if ring_id is not None:
        stmt = stmt.where(Room.update_ring_id == ring_id)
    if country:
        stmt = stmt.where(Room.country == country.upper())
    if health_state:
        stmt = stmt.where(health_state_is(health_state))
    if enrollment_state:
        stmt = stmt.where(Room.enrollment_state == enrollment_state)
    return stmt


def _ring(session: Session, tenant_id: uuid.UUID, ring_id: uuid.UUID | None) -> UpdateRing:
    stmt = select(UpdateRing).where(UpdateRing.tenant_id == tenant_id)
    stmt = stmt.where(UpdateRing.id == ring_id) if ring_id else stmt.where(UpdateRing.is_default)
    ring = session.scalar(stmt)
    if ring is None:
        raise Invalid(f"no update ring with id {ring_id}" if ring_id else "the tenant has no default ring")
    return ring


def _account_free(
    session: Session, tenant_id: uuid.UUID, account: str, exclude: uuid.UUID | None = None
) -> None:
    """A room's mailbox is this tenant's: a resource account in a domain another tenant holds
    would be that organisation's mailbox (domains are unique across the service, SPEC §1)."""
    domain = account.rsplit("@", 1)[-1].lower()
    if "," not in domain:  # no domain holds one
        state_lookup(session, "roomwarden.domain", domain)
    owner = session.scalar(select(TenantDomain.tenant_id).where(TenantDomain.domain == domain))
    if owner is not None and owner != tenant_id:
        raise Invalid(
            "the resource account's domain belongs to another organisation: "
            "use a mailbox in one of this organisation's domains",
            field="resource_account",
        )
    stmt = select(Room.id).where(Room.tenant_id == tenant_id, Room.resource_account == account)
    if exclude is not None:
        stmt = stmt.where(Room.id != exclude)
    if session.scalar(stmt) is not None:
        raise Conflict("a room with this resource account already exists")


def require_sees_every_room(access: Access) -> None:
    """Resource accounts are unique across the tenant, so "already in use" would tell a
    scoped caller about a room it cannot see. Changing one is therefore reserved to callers
    who see and change every room of the tenant: the tenant's own users with ``rooms.view``
    and ``rooms.modify`` over all rooms, never a partner (SPEC §3: nothing outside scope
    leaks)."""
    if access.is_partner or not (access.tenant_wide(P.ROOMS_VIEW) and access.tenant_wide(P.ROOMS_MODIFY)):
        raise Forbidden(
            "changing a room's resource account needs rooms.view and rooms.modify over all rooms "
            "of the tenant (resource accounts are unique across the tenant)"
        )


def _groups_for_new_room(session: Session, access: Access, group_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """A room outside any group needs ``rooms.create`` tenant-wide; a scoped creator may
    place it only in groups its ``rooms.create`` scope names."""
    creatable = access.rooms(P.ROOMS_CREATE)
    if creatable.is_empty:
        raise Forbidden("rooms.create is required")
    wanted = sorted(set(group_ids))
    if not wanted:
        if not creatable.is_everything:
            raise Forbidden("a room outside any group needs rooms.create over all rooms")
        return []
    # A group the caller can neither see nor create in reads exactly like a missing one.
    known = or_(creatable.group_named(RoomGroup.id), group_visible(access.rooms(P.GROUPS_VIEW)))
    rows = session.execute(
        select(RoomGroup.id, creatable.group_named(RoomGroup.id)).where(
            RoomGroup.tenant_id == access.tenant_id, RoomGroup.id.in_(wanted), known
        )
    ).all()
    found = {gid: bool(allowed) for gid, allowed in rows}
    if missing := [str(g) for g in wanted if g not in found]:
        raise Invalid(f"no room group with id: {', '.join(missing)}")
    if denied := [str(g) for g in wanted if not found[g]]:
        raise Forbidden(f"rooms.create does not cover room group: {', '.join(denied)}")
    return wanted


def create_room(session: Session, access: Access, box: SecretBox, data: RoomCreate) -> Room:
    group_ids = _groups_for_new_room(session, access, data.room_group_ids)
    ring = _ring(session, access.tenant_id, data.update_ring_id)
    _account_free(session, access.tenant_id, data.resource_account)
    key = new_enrollment_key()
    time_zone = data.time_zone or session.scalar(
        select(TenantSettings.default_time_zone).where(TenantSettings.tenant_id == access.tenant_id)
    )
    room = Room(
        tenant_id=access.tenant_id,
        name=data.name,
        resource_account=data.resource_account,
        country=data.country,
        city=data.city,
        building=data.building,
        update_ring_id=ring.id,
        time_zone=time_zone or "UTC",
        enrollment_key_sealed=box.seal(key),
        enrollment_key_hash=key_hash(key),
    )
    session.add(room)
    session.flush()
    session.add_all(
        RoomGroupMember(tenant_id=access.tenant_id, group_id=g, room_id=room.id) for g in group_ids
    )
    session.flush()
    access.audit(
        session,
        Category.ROOM,
        Operation.CREATE,
        room.name,
        room.id,
        {**_snapshot(room), "room_group_ids": [str(g) for g in group_ids]},
    )
    for group_id in group_ids:  # a new room in a group a partner's link names is delegated
        name = session.scalar(select(RoomGroup.name).where(RoomGroup.id == group_id)) or str(group_id)
        joined = events.GroupMembersChanged(session, access, group_id, name, added=[room.id])
        events.group_members_changed.emit(joined)
    rule_groups.follow_rooms(session, access, [room.id])
    return room


def _snapshot(room: Room) -> dict[str, Any]:
    return {f: getattr(room, f) for f in (*ROOM_FIELDS, "update_ring_id")}


def update_room(session: Session, access: Access, room_id: uuid.UUID, data: RoomUpdate) -> Room:
    room = visible_room(session, access, room_id, lock=True)
    fields = data.model_fields_set
    if fields & set(ROOM_FIELDS):
        require_on_room(session, access, P.ROOMS_MODIFY, room)
    if "update_ring_id" in fields:
        require_on_room(session, access, P.RINGS_MODIFY, room)
        _ring(session, access.tenant_id, data.update_ring_id)
    if "resource_account" in fields and data.resource_account != room.resource_account:
        require_sees_every_room(access)
        _account_free(session, access.tenant_id, data.resource_account, exclude=room.id)
    changes = {}
    for field in (*ROOM_FIELDS, "update_ring_id"):
        if field in fields and getattr(room, field) != getattr(data, field):
            changes[field] = {"from": getattr(room, field), "to": getattr(data, field)}
            setattr(room, field, getattr(data, field))
    session.flush()
    category = Category.UPDATE_RING if set(changes) == {"update_ring_id"} else Category.ROOM
    access.audit(session, category, Operation.UPDATE, room.name, room.id, changes)
    if set(changes) & rule_groups.ROOM_RULE_FIELDS:
        rule_groups.follow_rooms(session, access, [room.id])
    return room


def unenroll_room(session: Session, access: Access, room_id: uuid.UUID) -> Room:
    return _set_enrollment(session, access, room_id, "unenrolled")


def enroll_room(session: Session, access: Access, room_id: uuid.UUID) -> Room:
    """Re-enrol an unenrolled room: the reverse of ``unenroll_room``."""
    return _set_enrollment(session, access, room_id, "enrolled")


def _set_enrollment(session: Session, access: Access, room_id: uuid.UUID, state: str) -> Room:
    """Both directions need ``rooms.unenroll`` on the room (it governs a room's enrollment
    state). Unenrolling ends the room's device; its health is unknown until a device enrols
    and reports again."""
    room = visible_room(session, access, room_id, lock=True)
    require_on_room(session, access, P.ROOMS_UNENROLL, room)
    if room.enrollment_state == state:
        raise Conflict(f"the room is already {state}")
    before, previous_health = room.enrollment_state, room.health_state
    room.enrollment_state = state
    if state == "unenrolled":
        events.room_unenrolling.emit(events.RoomUnenrolling(session, access, room))
        previous_health = room.health_state  # the device's end may have said it already
    room.reported_health, room.last_report_at = "unknown", None
    outbox.health_changed(session, room, previous_health)
    outbox.emit(session, f"room.{state}", tenant_id=room.tenant_id, room_id=room.id)
    session.flush()
    access.audit(
        session,
        Category.ROOM,
        Operation.UPDATE,
        room.name,
        room.id,
        {"enrollment_state": {"from": before, "to": state}},
        permission=P.ROOMS_UNENROLL,
    )
    return room


def _ticket_history(session: Session, room_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every ticket of the room with its full history, as the audit log keeps them."""
    tickets = session.scalars(select(Ticket).where(Ticket.room_id == room_id).order_by(Ticket.id)).all()
    updates: dict[uuid.UUID, list[dict[str, Any]]] = {t.id: [] for t in tickets}
    if tickets:
        for u in session.scalars(
            select(TicketUpdate)
            .where(TicketUpdate.ticket_id.in_(list(updates)))
            .order_by(TicketUpdate.ticket_id, TicketUpdate.id)
        ):
            updates[u.ticket_id].append(
                {
                    "at": u.created_at.isoformat(),
                    "author_user_id": str(u.author_user_id) if u.author_user_id else None,
                    "author_tenant_id": str(u.author_tenant_id) if u.author_tenant_id else None,
                    "status_from": u.status_from,
                    "status_to": u.status_to,
                    "comment": u.comment,
                }
            )
    return [
        {
            "id": str(t.id),
            "kind": t.kind,
            "title": t.title,
            "description": t.description,
            "status": t.status,
            "severity": t.severity,
            "created_at": t.created_at.isoformat(),
            "updated_at": t.updated_at.isoformat(),
            "created_by_user_id": str(t.created_by_user_id) if t.created_by_user_id else None,
            "created_by_tenant_id": str(t.created_by_tenant_id) if t.created_by_tenant_id else None,
            "history": updates[t.id],
        }
        for t in tickets
    ]


def delete_room(session: Session, access: Access, room_id: uuid.UUID) -> None:
    """Delete a room and its tickets. Whoever may create rooms where this one is may delete it
    (``rooms.create`` on the room; never a partner: the permission is outside the Partner
    admin column). Nothing of the room's tickets is lost: each ticket's deletion is recorded
    with its whole history (category ``Ticket``, so it is found with the room's other ticket
    records), and the room's own record lists them. Partner links that delegated the room,
    by name or through a group, record that it left their delegation."""
    room = visible_room(session, access, room_id, lock=True)
    if not room_allows(session, access.rooms(P.ROOMS_CREATE), room.id):
        raise Forbidden("deleting a room needs rooms.create on it")
    name, snapshot = room.name, _snapshot(room)
    tickets = _ticket_history(session, room.id)
    group_rows = session.execute(
        select(RoomGroup.id, RoomGroup.name)
        .join(RoomGroupMember, RoomGroupMember.group_id == RoomGroup.id)
        .where(RoomGroupMember.room_id == room.id)
        .order_by(RoomGroup.id)
    ).all()
    for ticket in tickets:
        access.audit(
            session,
            Category.TICKET,
            Operation.DELETE,
            ticket["title"],
            uuid.UUID(ticket["id"]),
            {"reason": "its room was deleted", "room": {"id": str(room.id), "name": name}, "ticket": ticket},
            permission=P.ROOMS_CREATE,
        )
    for group_id, group_name in group_rows:
        changed = events.GroupMembersChanged(session, access, group_id, group_name, removed=[room.id])
        events.group_members_changed.emit(changed)
    events.room_deleting.emit(events.RoomDeleting(session, access, room.id, name))
    session.execute(delete(Ticket).where(Ticket.tenant_id == access.tenant_id, Ticket.room_id == room.id))
    session.delete(room)
    session.flush()
    access.audit(
        session,
        Category.ROOM,
        Operation.DELETE,
        name,
        room_id,
        {
            **snapshot,
            "enrollment_state": room.enrollment_state,
            "room_groups": [{"id": str(g), "name": n} for g, n in group_rows],
            "tickets_deleted": len(tickets),
            "tickets": [
                {k: t[k] for k in ("id", "title", "status", "severity", "created_at")} for t in tickets
            ],
        },
        permission=P.ROOMS_CREATE,
    )


def reset_key(session: Session, access: Access, box: SecretBox, room_id: uuid.UUID) -> Room:
    room = visible_room(session, access, room_id, lock=True)
    require_on_room(session, access, P.ROOMS_RESET_KEY, room)
    key = new_enrollment_key()
    room.enrollment_key_sealed, room.enrollment_key_hash = box.seal(key), key_hash(key)
    room.updated_at = utcnow()
    session.flush()
    access.audit(session, Category.ENROLLMENT_KEY, Operation.UPDATE, room.name, room.id, {"action": "reset"})
    return room


def download_key(session: Session, access: Access, box: SecretBox, room_id: uuid.UUID) -> str:
    """Reading a secret is recorded: the customer can always tell who saw a room's key."""
    room = visible_room(session, access, room_id)
    require_on_room(session, access, P.ROOMS_DOWNLOAD_KEY, room)
    key = box.open(room.enrollment_key_sealed)
    access.audit(session, Category.ENROLLMENT_KEY, Operation.READ, room.name, room.id, {"action": "download"})
    return key
