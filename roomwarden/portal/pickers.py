"""Choosers of rooms that scale (SPEC §9): a field **Search rooms** and a button **Search**, a
page of matching rooms with a checkbox each (named by the room's name), the rooms already
chosen kept as checked boxes, and the effective number of rooms the choice delegates. It works
without JavaScript: searching and paging submit the form to itself, which draws it again with
everything typed and chosen so far. A page never lists all of a large tenant's rooms.

Only rooms the user may see are offered, named or counted (``rooms.service.list_rooms_query``,
the API's own list)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, union
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from roomwarden.access.resolver import Access
from roomwarden.identity.models import SecurityGroup, User
from roomwarden.kit.natural import natural_key
from roomwarden.portal.forms import text
from roomwarden.rooms.groups import list_groups_query
from roomwarden.rooms.models import Room, RoomGroup, RoomGroupMember
from roomwarden.rooms.service import list_rooms_query

PAGE_SIZE = 25
#: the form fields of a picker of ``rooms``: its search text and the page of results shown
SEARCH, PAGE = "rooms_q", "rooms_page"


@dataclass(frozen=True, slots=True)
class Picker:
    """One chooser as drawn: the ids chosen (the form field ``field``), its search (the fields
    ``{field}_q`` and ``{field}_page``) and a page of the other items that match."""

    field: str
    q: str
    page: int
    chosen: list[tuple[uuid.UUID, str]]
    results: list[tuple[uuid.UUID, str]]
    more: bool
    #: for a room chooser, the rooms the choice covers now (chosen rooms and groups' rooms)
    effective: int | None = None


#: the room chooser of a partner's scope (the first picker; its names are kept)
RoomPicker = Picker


#: a statement of ``(id, name)`` rows
Rows = Select[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Source:
    """What a picker offers: ``rows(q)`` selects ``(id, name)`` of every item offered that
    matches the search ``q`` (all of them for ""), in the order of ``key`` (a natural sort key,
    indexed per tenant) and ``id``."""

    rows: Callable[[str], Rows]
    id: Any
    key: Any


def state(form: FormData, field: str) -> tuple[str, int]:
    """A picker's search and page from a submitted form: its **Search** starts at page 0 (a
    page button is sent only when it is the one pressed)."""
    q = text(form, f"{field}_q", 200).strip()
    raw = text(form, f"{field}_page", 6)
    page = int(raw) if raw.isdigit() and form.get("search") != field else 0
    return q, page


def search_state(form: FormData) -> tuple[str, int]:
    """The room picker's search and page; **Search** starts at page 0."""
    q = text(form, SEARCH, 200).strip()
    raw = text(form, PAGE, 6)
    page = int(raw) if raw.isdigit() and not form.get("search") else 0
    return q, page


def searching(form: FormData, *fields: str) -> bool:
    """The form was sent by a picker's **Search** or a results page button, not to save."""
    return bool(form.get("search")) or any(text(form, f"{f}_page", 6) for f in (fields or ("rooms",)))


def pick(
    session: Session,
    source: Source,
    field: str,
    chosen: Sequence[uuid.UUID],
    q: str = "",
    page: int = 0,
    effective: int | None = None,
) -> Picker:
    """The chosen items still offered (by name) and one page of the others matching ``q``:
    two statements with a LIMIT, whatever the number of items offered."""
    names: dict[uuid.UUID, str] = {}
    if chosen:
        names = {i: n for i, n in session.execute(source.rows("").where(source.id.in_(list(chosen))))}
    kept = sorted(((i, names[i]) for i in dict.fromkeys(chosen) if i in names), key=_by_name)
    stmt = source.rows(q)
    if names:
        stmt = stmt.where(source.id.not_in(list(names)))
    stmt = stmt.order_by(source.key, source.id).offset(page * PAGE_SIZE).limit(PAGE_SIZE + 1)
    rows = [(i, n) for i, n in session.execute(stmt)]
    return Picker(field, q, page, kept, rows[:PAGE_SIZE], len(rows) > PAGE_SIZE, effective)


def _contains(column: Any, q: str) -> ColumnElement[bool]:
    """A substring, letter case aside: "%" and "_" are literal characters, not wildcards."""
    return func.lower(column).contains(q.lower(), autoescape=True)


def rooms(access: Access, within: ColumnElement[bool] | None = None) -> Source:
    """The rooms the user may see (and ``within``, e.g. those it may act on), searched by
    name, mailbox, city and building as the Rooms list is."""

    def rows(q: str) -> Rows:
        stmt = list_rooms_query(access, q=q or None).with_only_columns(Room.id, Room.name)
        return stmt if within is None else stmt.where(within)

    return Source(rows, Room.id, Room.name_key)


def room_groups(tenant_id: uuid.UUID, within: ColumnElement[bool]) -> Source:
    """The tenant's room groups ``within`` names (e.g. ``RoomSet.group_named``)."""

    def rows(q: str) -> Rows:
        stmt = select(RoomGroup.id, RoomGroup.name).where(RoomGroup.tenant_id == tenant_id, within)
        return stmt.where(_contains(RoomGroup.name, q)) if q else stmt

    return Source(rows, RoomGroup.id, RoomGroup.name_key)


def visible_room_groups(access: Access) -> Source:
    """The room groups the user may see (``rooms.groups.list_groups_query``)."""

    def rows(q: str) -> Rows:
        stmt = list_groups_query(access).with_only_columns(RoomGroup.id, RoomGroup.name)
        return stmt.where(_contains(RoomGroup.name, q)) if q else stmt

    return Source(rows, RoomGroup.id, RoomGroup.name_key)


def users(tenant_id: uuid.UUID, *, active: bool = False) -> Source:
    """The users of a tenant (``active``: only those not deactivated), named "Display name
    (upn)", searched by name and UPN."""

    def rows(q: str) -> Rows:
        label = User.display_name + " (" + User.upn + ")"
        stmt = select(User.id, label).where(User.tenant_id == tenant_id)
        stmt = stmt.where(User.is_active) if active else stmt
        return stmt.where(or_(_contains(User.display_name, q), _contains(User.upn, q))) if q else stmt

    return Source(rows, User.id, User.name_key)


def security_groups(tenant_id: uuid.UUID) -> Source:
    def rows(q: str) -> Rows:
        stmt = select(SecurityGroup.id, SecurityGroup.name).where(SecurityGroup.tenant_id == tenant_id)
        return stmt.where(_contains(SecurityGroup.name, q)) if q else stmt

    return Source(rows, SecurityGroup.id, SecurityGroup.name_key)


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
    field: str = "rooms",
    within: ColumnElement[bool] | None = None,
) -> Picker:
    """A room chooser with the effective number of rooms the choice (and ``group_ids``, or
    all rooms) covers."""
    source = rooms(access, within)
    visible = (
        [i for i, _ in session.execute(source.rows("").where(Room.id.in_(list(chosen))))] if chosen else []
    )
    effective = effective_rooms(session, access, chosen=visible, group_ids=group_ids, all_rooms=all_rooms)
    return pick(session, source, field, chosen, q, page, effective)


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
