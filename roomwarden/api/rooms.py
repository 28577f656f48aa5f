from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Request
from sqlalchemy.orm import Session

from roomwarden.access.deps import AccessDep
from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.approvals.http import HELD, held_or
from roomwarden.approvals.service import apply_or_hold
from roomwarden.audit.service import Category, Operation
from roomwarden.kit.api import SessionDep, audited, not_audited, read_only
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.pagination import Page, PageDep, Search, paginate
from roomwarden.kit.routing import router
from roomwarden.rooms import groups, rings, service, tickets
from roomwarden.rooms.models import Room, RoomGroup, Ticket, UpdateRing
from roomwarden.rooms.schemas import (
    Country,
    EnrollmentKeyRead,
    HealthState,
    IncidentCreate,
    KeyResetRead,
    RingCreate,
    RingUpdate,
    RoomCreate,
    RoomGroupCreate,
    RoomGroupRead,
    RoomGroupSummary,
    RoomGroupUpdate,
    RoomRead,
    RoomUpdate,
    RulePreview,
    RulePreviewIn,
    Severity,
    TicketDetail,
    TicketHistoryItem,
    TicketRead,
    TicketSource,
    TicketStatus,
    TicketUpdateIn,
)
from roomwarden.software import compliance
from roomwarden.software.schemas import UpdateRingRead

api = router(prefix="/api/v1/tenants/{tenant_id}")


def _box(request: Request) -> SecretBox:
    return request.app.state.secret_box


# -- rooms -----------------------------------------------------------------------------------


@api.get("/rooms", response_model=Page[RoomRead], tags=["rooms"])
def list_rooms(
    session: SessionDep,
    access: AccessDep,
    pages: PageDep,
    q: Search = None,
    group_id: uuid.UUID | None = None,
    ring_id: uuid.UUID | None = None,
    country: Annotated[Country | None, Query()] = None,
    health_state: HealthState | None = None,
) -> Page[RoomRead]:
    stmt = service.list_rooms_query(
        access,
        q=q,
        group_id=group_id,
        ring_id=ring_id,
        country=country,
        health_state=health_state,
        page=pages,
    )
    page = paginate(session, stmt, Room.id, pages, lambda r: r)
    return Page[RoomRead](items=service.room_reads(session, page.items), next_cursor=page.next_cursor)


@api.post("/rooms", response_model=RoomRead, status_code=201, tags=["rooms"])
@audited(Category.ROOM, Operation.CREATE)
def create_room(request: Request, session: SessionDep, access: AccessDep, body: RoomCreate) -> RoomRead:
    return service.room_read(session, service.create_room(session, access, _box(request), body))


@api.get("/rooms/{room_id}", response_model=RoomRead, tags=["rooms"])
def get_room(session: SessionDep, access: AccessDep, room_id: uuid.UUID) -> RoomRead:
    return service.visible_room_read(session, access, room_id)


@api.patch("/rooms/{room_id}", response_model=RoomRead, tags=["rooms"], responses=HELD)
@audited(Category.ROOM, Operation.UPDATE)
def update_room(session: SessionDep, access: AccessDep, room_id: uuid.UUID, body: RoomUpdate) -> RoomRead:
    done = apply_or_hold(session, access, "room.update", body, room_id=room_id)
    return held_or(session, done, lambda room: service.room_read(session, room))


@api.post("/rooms/{room_id}/unenroll", response_model=RoomRead, tags=["rooms"])
@audited(Category.ROOM, Operation.UPDATE)
def unenroll_room(session: SessionDep, access: AccessDep, room_id: uuid.UUID) -> RoomRead:
    return service.room_read(session, service.unenroll_room(session, access, room_id))


@api.post("/rooms/{room_id}/enroll", response_model=RoomRead, tags=["rooms"])
@audited(Category.ROOM, Operation.UPDATE)
def enroll_room(session: SessionDep, access: AccessDep, room_id: uuid.UUID) -> RoomRead:
    """Re-enrol an unenrolled room (the reverse of `unenroll`; needs `rooms.unenroll` on the
    room). An enrolled room answers 409. Its health is `unknown` until the device reports."""
    return service.room_read(session, service.enroll_room(session, access, room_id))


@api.delete("/rooms/{room_id}", status_code=204, tags=["rooms"])
@audited(Category.ROOM, Operation.DELETE)
def delete_room(session: SessionDep, access: AccessDep, room_id: uuid.UUID) -> None:
    """Delete a room with its tickets (needs `rooms.create` on the room; never a partner).
    The audit log keeps each ticket with its whole history (one `Ticket`/`Delete` record per
    ticket) and the room's own `Room`/`Delete` record lists them; partner links that delegated
    the room record that it left their delegation."""
    service.delete_room(session, access, room_id)


@api.post("/rooms/{room_id}/reset-key", response_model=KeyResetRead, tags=["rooms"])
@audited(Category.ENROLLMENT_KEY, Operation.UPDATE)
def reset_key(request: Request, session: SessionDep, access: AccessDep, room_id: uuid.UUID) -> KeyResetRead:
    room = service.reset_key(session, access, _box(request), room_id)
    return KeyResetRead(room_id=room.id, reset_at=room.updated_at)


@api.get("/rooms/{room_id}/enrollment-key", response_model=EnrollmentKeyRead, tags=["rooms"])
@audited(Category.ENROLLMENT_KEY, Operation.READ)
def download_key(
    request: Request, session: SessionDep, access: AccessDep, room_id: uuid.UUID
) -> EnrollmentKeyRead:
    key = service.download_key(session, access, _box(request), room_id)
    return EnrollmentKeyRead(room_id=room_id, enrollment_key=key)


# -- room groups -----------------------------------------------------------------------------------


def _group_read(session: Session, access: Access, group: RoomGroup) -> RoomGroupRead:
    ids = groups.member_ids(session, group.id, access.rooms(P.GROUPS_VIEW))
    return RoomGroupRead(
        id=group.id,
        tenant_id=group.tenant_id,
        name=group.name,
        rule=group.rule,
        created_at=group.created_at,
        room_ids=ids,
        room_count=len(ids),
    )


@api.get("/room-groups", response_model=Page[RoomGroupSummary], tags=["room groups"])
def list_room_groups(
    session: SessionDep, access: AccessDep, pages: PageDep, q: Search = None
) -> Page[RoomGroupSummary]:
    page = paginate(session, groups.list_groups_query(access, q), RoomGroup.id, pages, lambda g: g)
    counts = groups.member_counts(session, [g.id for g in page.items], access.rooms(P.GROUPS_VIEW))
    items = [
        RoomGroupSummary(
            id=g.id,
            tenant_id=g.tenant_id,
            name=g.name,
            rule=g.rule,
            created_at=g.created_at,
            room_count=counts[g.id],
        )
        for g in page.items
    ]
    return Page[RoomGroupSummary](items=items, next_cursor=page.next_cursor)


@api.post("/room-groups", response_model=RoomGroupRead, status_code=201, tags=["room groups"])
@audited(Category.ROOM_GROUP, Operation.CREATE)
def create_room_group(session: SessionDep, access: AccessDep, body: RoomGroupCreate) -> RoomGroupRead:
    return _group_read(session, access, groups.create_group(session, access, body))


@api.post("/room-groups/preview", response_model=RulePreview, tags=["room groups"])
@not_audited("a preview changes nothing")
@read_only
def preview_room_group_rule(session: SessionDep, access: AccessDep, body: RulePreviewIn) -> RulePreview:
    """What a rule would select now, of the rooms the caller may view (its count, and the
    first rooms by name); nothing is saved. An invalid rule answers 422 with its ``position``
    and ``reason``."""
    count, first = groups.preview(session, access, body.rule)
    return RulePreview(count=count, rooms=[RoomRead.model_validate(r) for r in first])


@api.get("/room-groups/{group_id}", response_model=RoomGroupRead, tags=["room groups"])
def get_room_group(session: SessionDep, access: AccessDep, group_id: uuid.UUID) -> RoomGroupRead:
    return _group_read(session, access, groups.visible_group(session, access, group_id))


@api.patch("/room-groups/{group_id}", response_model=RoomGroupRead, tags=["room groups"])
@audited(Category.ROOM_GROUP, Operation.UPDATE)
def update_room_group(
    session: SessionDep, access: AccessDep, group_id: uuid.UUID, body: RoomGroupUpdate
) -> RoomGroupRead:
    return _group_read(session, access, groups.update_group(session, access, group_id, body))


@api.delete("/room-groups/{group_id}", status_code=204, tags=["room groups"])
@audited(Category.ROOM_GROUP, Operation.DELETE)
def delete_room_group(session: SessionDep, access: AccessDep, group_id: uuid.UUID) -> None:
    groups.delete_group(session, access, group_id)


# -- update rings ------------------------------------------------------------------------------------


def _ring_reads(session: Session, access: Access, items: list[UpdateRing]) -> list[UpdateRingRead]:
    ids = [r.id for r in items]
    counts = rings.room_counts(session, access, ids)
    software = compliance.ring_software(session, access, ids)
    return [
        UpdateRingRead(
            id=r.id,
            tenant_id=r.tenant_id,
            name=r.name,
            deferral_days=r.deferral_days,
            paused=r.paused,
            is_default=r.is_default,
            created_at=r.created_at,
            room_count=counts[r.id],
            software=software[r.id],
        )
        for r in items
    ]


@api.get("/update-rings", response_model=Page[UpdateRingRead], tags=["update rings"])
def list_rings(session: SessionDep, access: AccessDep, pages: PageDep) -> Page[UpdateRingRead]:
    """Every ring of the tenant, each with the rooms (``room_count``) and the software versions
    (``software``) of the rooms the caller may see in it."""
    page = paginate(session, rings.list_rings_query(access), UpdateRing.id, pages, lambda r: r)
    return Page[UpdateRingRead](items=_ring_reads(session, access, page.items), next_cursor=page.next_cursor)


@api.post("/update-rings", response_model=UpdateRingRead, status_code=201, tags=["update rings"])
@audited(Category.UPDATE_RING, Operation.CREATE)
def create_ring(session: SessionDep, access: AccessDep, body: RingCreate) -> UpdateRingRead:
    return _ring_reads(session, access, [rings.create_ring(session, access, body)])[0]


@api.get("/update-rings/{ring_id}", response_model=UpdateRingRead, tags=["update rings"])
def get_ring(session: SessionDep, access: AccessDep, ring_id: uuid.UUID) -> UpdateRingRead:
    return _ring_reads(session, access, [rings.visible_ring(session, access, ring_id)])[0]


@api.patch("/update-rings/{ring_id}", response_model=UpdateRingRead, tags=["update rings"], responses=HELD)
@audited(Category.UPDATE_RING, Operation.UPDATE)
def update_ring(
    session: SessionDep, access: AccessDep, ring_id: uuid.UUID, body: RingUpdate
) -> UpdateRingRead:
    """Rename a ring, change its ``deferral_days`` (0-60) or pause it (``paused``: its rooms
    are offered nothing from their next report on). A partner's change is an
    ``update_ring.change`` of its link's change control."""
    done = apply_or_hold(session, access, "update_ring.update", body, ring_id=ring_id)
    return held_or(session, done, lambda ring: _ring_reads(session, access, [ring])[0])


@api.delete("/update-rings/{ring_id}", status_code=204, tags=["update rings"])
@audited(Category.UPDATE_RING, Operation.DELETE)
def delete_ring(session: SessionDep, access: AccessDep, ring_id: uuid.UUID) -> None:
    """Delete an empty update ring (needs `rings.create` over all rooms). The default ring
    and a ring that still holds rooms answer 409: move the rooms to another ring first."""
    rings.delete_ring(session, access, ring_id)


# -- tickets ----------------------------------------------------------------------------------------------


def _ticket_detail(session: Session, ticket: Ticket) -> TicketDetail:
    updates = [TicketHistoryItem.model_validate(u) for u in tickets.history(session, ticket.id)]
    return TicketDetail(**TicketRead.model_validate(ticket).model_dump(), updates=updates)


@api.get("/tickets", response_model=Page[TicketRead], tags=["tickets"])
def list_tickets(
    session: SessionDep,
    access: AccessDep,
    pages: PageDep,
    room_id: uuid.UUID | None = None,
    status: TicketStatus | None = None,
    severity: Severity | None = None,
    source: TicketSource | None = None,
) -> Page[TicketRead]:
    stmt = tickets.list_tickets_query(
        access, room_id=room_id, status=status, severity=severity, source=source
    )
    return paginate(session, stmt, Ticket.id, pages, TicketRead.model_validate)


@api.post("/incidents", response_model=TicketDetail, status_code=201, tags=["tickets"], responses=HELD)
@audited(Category.TICKET, Operation.CREATE)
def create_incident(session: SessionDep, access: AccessDep, body: IncidentCreate) -> TicketDetail:
    done = apply_or_hold(session, access, "incident.create", body)
    return held_or(session, done, lambda ticket: _ticket_detail(session, ticket))


@api.get("/tickets/{ticket_id}", response_model=TicketDetail, tags=["tickets"])
def get_ticket(session: SessionDep, access: AccessDep, ticket_id: uuid.UUID) -> TicketDetail:
    return _ticket_detail(session, tickets.visible_ticket(session, access, ticket_id))


@api.patch("/tickets/{ticket_id}", response_model=TicketDetail, tags=["tickets"], responses=HELD)
@audited(Category.TICKET, Operation.UPDATE)
def update_ticket(
    session: SessionDep, access: AccessDep, ticket_id: uuid.UUID, body: TicketUpdateIn
) -> TicketDetail:
    done = apply_or_hold(session, access, "ticket.update", body, ticket_id=ticket_id)
    return held_or(session, done, lambda ticket: _ticket_detail(session, ticket))
