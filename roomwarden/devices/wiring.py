"""What devices answer for the packages below them (``kit.extensions``), registered at start-up
by ``roomwarden.wiring.install``: a room's device and signals in its representation, and the
end of a room's device when the room is unenrolled or deleted."""

from __future__ import annotations

from sqlalchemy import select

from roomwarden.devices import service
from roomwarden.rooms import events as room_events
from roomwarden.rooms import extensions as room_extensions
from roomwarden.rooms.events import RoomDeleting, RoomUnenrolling
from roomwarden.rooms.models import Room


def install() -> None:
    room_extensions.room_details.register(service.room_details)
    room_extensions.room_details_joined.register(_JOINED)
    room_events.room_unenrolling.connect(_unenrolling)
    room_events.room_deleting.connect(_deleting)


_JOINED = room_extensions.DetailsJoin(extend=service.with_room_details, read=service.room_details_of)


def _unenrolling(event: RoomUnenrolling) -> None:
    service.end_for_room(event.session, event.access, event.room, "the room was unenrolled")


def _deleting(event: RoomDeleting) -> None:
    room = event.session.scalar(select(Room).where(Room.id == event.room_id))
    if room is not None:
        service.end_for_room(event.session, event.access, room, "the room was deleted")
