"""Choices offered by forms: only what the user may see and act on, from the same
``Access`` the service then checks."""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.rooms.models import Room


def rooms_for(session: Session, access: Access, perm: P) -> list[Room]:
    """Rooms the user may act on with ``perm`` and may also see, by name."""
    clause = and_(access.rooms(perm).clause(Room.id), access.rooms(P.ROOMS_VIEW).clause(Room.id))
    stmt = select(Room).where(Room.tenant_id == access.tenant_id, clause).order_by(Room.name, Room.id)
    return list(session.scalars(stmt))
