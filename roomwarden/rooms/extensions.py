"""What ``rooms`` asks of the packages above it for a room's representation (``kit.extensions``):
its ``device``, ``signals`` and ``software``, which devices registers at start-up."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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


def details(session: Session, rooms: Sequence[Room]) -> Mapping[uuid.UUID, RoomDetails]:
    if not rooms:
        return {}
    return room_details()(session, rooms)
