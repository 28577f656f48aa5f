"""No one hands out more than they hold (issue 9, M6).

``roles.modify`` lets a principal create roles and assign them; without a limit it would be
every other permission too (assign yourself the MSA role). The rule, for everyone — a
tenant's Global admin passes it trivially, holding every permission over all rooms:

- the permissions of a role you create, change or delete, or whose assignments you create,
  change or delete, must all be your own;
- and every scope those permissions are (or would be) given over must lie inside your own
  scope for each of them: ``all`` only if you hold the permission over all rooms (for a
  partner: the whole link), a listed room only if it is one of your rooms for the permission,
  a listed room group only if one of your own scopes for the permission names that group (a
  group's members change over time, so only a group you are given as a whole stays inside
  your scope whatever it later holds).

Where a role already has assignments, changing or deleting the role counts as changing each
of them. The rule is checked after the ids are known to exist (422) and before anything is
written (403).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission
from roomwarden.access.resolver import Access, RoomSet
from roomwarden.access.schemas import ScopeIn, ScopeRead
from roomwarden.kit.errors import Forbidden
from roomwarden.rooms.models import Room, RoomGroup

CATALOGUE_ORDER = {p: i for i, p in enumerate(Permission)}


def scope_within(session: Session, rooms: RoomSet, scope: ScopeIn | ScopeRead) -> bool:
    """Whether every room ``scope`` reaches, now and later, is in ``rooms``."""
    if rooms.grant is None:
        return False
    if scope.all:
        return rooms.grant.all_rooms
    if rooms.is_everything:
        return True
    listed = set(scope.rooms)
    if listed:
        inside = session.scalar(
            select(func.count())
            .select_from(Room)
            .where(Room.tenant_id == rooms.tenant_id, Room.id.in_(sorted(listed)), rooms.clause(Room.id))
        )
        if inside != len(listed):
            return False
    groups = set(scope.room_groups)
    if groups:
        named = session.scalar(
            select(func.count())
            .select_from(RoomGroup)
            .where(
                RoomGroup.tenant_id == rooms.tenant_id,
                RoomGroup.id.in_(sorted(groups)),
                rooms.group_named(RoomGroup.id),
            )
        )
        if named != len(groups):
            return False
    return True


def require_within_own(
    session: Session,
    access: Access,
    permissions: Iterable[Permission],
    scopes: Sequence[ScopeIn | ScopeRead] = (),
) -> None:
    """Refuse (403) unless the caller holds every one of ``permissions`` over each of
    ``scopes`` (see the module's rule)."""
    perms = sorted(set(permissions), key=CATALOGUE_ORDER.__getitem__)
    if missing := [p.value for p in perms if not access.has(p)]:
        raise Forbidden(f"you cannot grant a permission you do not hold yourself: {', '.join(missing)}")
    for scope in scopes:
        if beyond := [p.value for p in perms if not scope_within(session, access.rooms(p), scope)]:
            raise Forbidden(
                "the scope reaches rooms or groups outside your own scope for: " + ", ".join(beyond)
            )
