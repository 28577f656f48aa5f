"""Choosers of rooms that scale (SPEC §9): a field **Search rooms** and a button **Search**, a
page of matching rooms with a checkbox each (named by the room's name), the rooms already
chosen kept as checked boxes, and the effective number of rooms the choice delegates. It works
without JavaScript: searching and paging submit the form to itself, which draws it again with
everything typed and chosen so far. A page never lists all of a large tenant's rooms.

Only rooms the user may see are offered, named or counted (``rooms.service.list_rooms_query``,
the API's own list)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from roomwarden.access.resolver import Access
from roomwarden.kit.natural import natural_key
from roomwarden.portal.forms import text
from roomwarden.rooms.models import Room, RoomGroupMember
from roomwarden.rooms.service import list_rooms_query

PAGE_SIZE = 25
#: the form fields of a picker of ``rooms``: its search text and the page of results shown
SEARCH, PAGE = "rooms_q", "rooms_page"


@dataclass(frozen=True, slots=True)
class RoomPicker:
    q: str
    page: int
    chosen: list[tuple[uuid.UUID, str]]
    results: list[tuple[uuid.UUID, str]]
    more: bool
    #: rooms the choice delegates now: the chosen rooms and the rooms of the chosen groups
    effective: int


def search_state(form: FormData) -> tuple[str, int]:
    """The picker's search and page from a submitted form; **Search** starts at page 0."""
    q = text(form, SEARCH, 200).strip()
    raw = text(form, PAGE, 6)
    page = int(raw) if raw.isdigit() and not form.get("search") else 0
    return q, page


def searching(form: FormData) -> bool:
    """The form was sent by the picker's **Search** or a results page button, not to save."""
    return bool(form.get("search")) or bool(text(form, PAGE, 6))


def names_of(session: Session, access: Access, room_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of those of ``room_ids`` the user may see."""
    if not room_ids:
        return {}
    stmt = list_rooms_query(access).where(Room.id.in_(list(room_ids))).with_only_columns(Room.id, Room.name)
    return {rid: name for rid, name in session.execute(stmt)}


def named(session: Session, access: Access, name: str) -> list[uuid.UUID]:
    """At most two visible rooms called ``name`` (letter case aside): one is the room meant."""
    stmt = list_rooms_query(access).where(func.lower(Room.name) == name.strip().lower())
    return list(session.scalars(stmt.with_only_columns(Room.id).order_by(Room.id).limit(2)))


def visible_ids(session: Session, access: Access, room_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    return set(names_of(session, access, room_ids))


def room_picker(
    session: Session,
    access: Access,
    *,
    chosen: Sequence[uuid.UUID],
    group_ids: Sequence[uuid.UUID],
    all_rooms: bool,
    q: str = "",
    page: int = 0,
) -> RoomPicker:
    names = names_of(session, access, chosen)
    kept = sorted(((rid, names[rid]) for rid in dict.fromkeys(chosen) if rid in names), key=_by_name)
    stmt = list_rooms_query(access, q=q or None).with_only_columns(Room.id, Room.name)
    if names:
        stmt = stmt.where(Room.id.not_in(list(names)))
    stmt = stmt.order_by(Room.name_key, Room.id).offset(page * PAGE_SIZE).limit(PAGE_SIZE + 1)
    rows = [(rid, name) for rid, name in session.execute(stmt)]
    return RoomPicker(
        q=q,
        page=page,
        chosen=kept,
        results=rows[:PAGE_SIZE],
        more=len(rows) > PAGE_SIZE,
        effective=effective_rooms(
            session, access, chosen=list(names), group_ids=group_ids, all_rooms=all_rooms
        ),
    )


def effective_rooms(
    session: Session,
    access: Access,
    *,
    chosen: Sequence[uuid.UUID],
    group_ids: Sequence[uuid.UUID],
    all_rooms: bool,
) -> int:
    """How many of the rooms the user may see the choice covers: all of them, or the chosen
    rooms and the current members of the chosen groups (each room once)."""
    stmt = list_rooms_query(access).with_only_columns(Room.id)
    if not all_rooms:
        # The candidates drive the count (group members by their index, chosen rooms by id),
        # never a scan of the tenant's rooms.
        candidates = union(
            select(RoomGroupMember.room_id).where(RoomGroupMember.group_id.in_(list(group_ids))),
            select(Room.id).where(Room.id.in_(list(chosen))),
        ).subquery()
        stmt = stmt.where(Room.id.in_(select(candidates.c[0])))
    return int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)


def _by_name(item: tuple[uuid.UUID, str]) -> tuple[str, str]:
    return natural_key(item[1]), str(item[0])
