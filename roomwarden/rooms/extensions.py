"""What ``rooms`` asks of the packages above it for a room's representation (``kit.extensions``):
its ``device``, ``signals`` and ``software``, which devices registers at start-up."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from roomwarden.kit.extensions import Slot
from roomwarden.rooms.models import Room


@dataclass(frozen=True)
class RoomDetails:
    device: dict[str, Any] | None = None
    signals: list[dict[str, Any]] = field(default_factory=list)
    software: list[dict[str, Any]] = field(default_factory=list)


DetailsProvider = Callable[[Session, Sequence[Room]], Mapping[uuid.UUID, RoomDetails]]

room_details: Slot[DetailsProvider] = Slot("rooms.room_details")


@dataclass(frozen=True)
class DetailsJoin:
    """A room's details read in the room's own statement, one statement where two were:
    ``extend`` adds what the details need to a select whose first entity is ``Room`` (outer
    joins: one row or more per room, the room's in each); ``read`` turns one room's rows of
    that statement into its details."""

    extend: Callable[[Select[Any]], Select[Any]]
    read: Callable[[Session, Room, Sequence[Any]], RoomDetails]


room_details_joined: Slot[DetailsJoin] = Slot("rooms.room_details_joined")


def details(session: Session, rooms: Sequence[Room]) -> Mapping[uuid.UUID, RoomDetails]:
    if not rooms:
        return {}
    return room_details()(session, rooms)
