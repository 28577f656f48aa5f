"""What room changes tell the packages above rooms (``kit.extensions``): a scope follows its
room groups' current members (SPEC §3), so a partner's delegation changes whenever a group its
link names gains or loses a room, and the customer's log must say so."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from roomwarden.access.resolver import Access
from roomwarden.kit.extensions import Event
from roomwarden.rooms.models import Room, Ticket


@dataclass(frozen=True, slots=True)
class GroupMembersChanged:
    """Rooms joined or left ``group_id`` (or the group is being deleted, before its rows go)."""

    session: Session
    access: Access
    group_id: uuid.UUID
    group_name: str
    added: Collection[uuid.UUID] = ()
    removed: Collection[uuid.UUID] = ()
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class RoomDeleting:
    """The room is being deleted (its rows are still there)."""

    session: Session
    access: Access
    room_id: uuid.UUID
    room_name: str


@dataclass(frozen=True, slots=True)
class RoomUnenrolling:
    """The room is being unenrolled (its row is locked): its device ends with it."""

    session: Session
    access: Access
    room: Room


@dataclass(frozen=True, slots=True)
class MonitoringTicketChanged:
    """A monitoring ticket opened, reopened, changed severity or was resolved or closed (by
    monitoring or by a person) at ``at``: the health report's roll-up follows it."""

    session: Session
    ticket: Ticket
    at: datetime


group_members_changed: Event[GroupMembersChanged] = Event("rooms.group_members_changed")
room_deleting: Event[RoomDeleting] = Event("rooms.room_deleting")
room_unenrolling: Event[RoomUnenrolling] = Event("rooms.room_unenrolling")
monitoring_ticket_changed: Event[MonitoringTicketChanged] = Event("rooms.monitoring_ticket_changed")
