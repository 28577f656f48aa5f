"""Checking the materialised scope membership against its definition.

``scope_effective_rooms`` is kept by database triggers (migration 0011) on every change to
``scope_rooms``, ``scope_groups`` and ``room_group_members``. This module states the
definition once — a scope's listed rooms plus the current members of its listed groups — and
compares the two, so that an operator can prove the materialisation is right
(``roomwarden access check-scopes``) and repair it if someone edited the tables by hand.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, delete, insert, select, tuple_, union
from sqlalchemy.orm import Session

from roomwarden.access.models import ScopeEffectiveRoom, ScopeGroup, ScopeRoom
from roomwarden.rooms.models import RoomGroupMember

Pair = tuple[uuid.UUID, uuid.UUID, uuid.UUID]  # (tenant_id, scope_id, room_id)


def definition(tenant_id: uuid.UUID | None = None) -> Select:
    """Every (tenant, scope, room) pair the definition of SPEC §3 gives."""
    direct = select(ScopeRoom.tenant_id, ScopeRoom.scope_id, ScopeRoom.room_id)
    via_groups = select(ScopeGroup.tenant_id, ScopeGroup.scope_id, RoomGroupMember.room_id).join(
        RoomGroupMember, RoomGroupMember.group_id == ScopeGroup.group_id
    )
    if tenant_id is not None:
        direct = direct.where(ScopeRoom.tenant_id == tenant_id)
        via_groups = via_groups.where(ScopeGroup.tenant_id == tenant_id)
    u = union(direct, via_groups).subquery("definition")
    return select(u.c.tenant_id, u.c.scope_id, u.c.room_id)


@dataclass(frozen=True)
class Drift:
    missing: list[Pair]  # in the definition, not materialised: access wrongly refused
    extra: list[Pair]  # materialised, not in the definition: access wrongly granted

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra


def check(session: Session, tenant_id: uuid.UUID | None = None) -> Drift:
    """Compare the materialisation with the definition (for one tenant, or all)."""
    stored = select(ScopeEffectiveRoom.tenant_id, ScopeEffectiveRoom.scope_id, ScopeEffectiveRoom.room_id)
    if tenant_id is not None:
        stored = stored.where(ScopeEffectiveRoom.tenant_id == tenant_id)
    want = definition(tenant_id).subquery("want")
    have = stored.subquery("have")
    missing = session.execute(
        select(want.c.tenant_id, want.c.scope_id, want.c.room_id).where(
            tuple_(want.c.scope_id, want.c.room_id).not_in(select(have.c.scope_id, have.c.room_id))
        )
    ).all()
    extra = session.execute(
        select(have.c.tenant_id, have.c.scope_id, have.c.room_id).where(
            tuple_(have.c.scope_id, have.c.room_id).not_in(select(want.c.scope_id, want.c.room_id))
        )
    ).all()
    return Drift(missing=[tuple(r) for r in missing], extra=[tuple(r) for r in extra])


def repair(session: Session, drift: Drift) -> None:
    """Make the materialisation equal to the definition; the caller commits."""
    for _tenant, scope_id, room_id in drift.extra:
        session.execute(
            delete(ScopeEffectiveRoom).where(
                ScopeEffectiveRoom.scope_id == scope_id, ScopeEffectiveRoom.room_id == room_id
            )
        )
    if drift.missing:
        session.execute(
            insert(ScopeEffectiveRoom),
            [{"tenant_id": t, "scope_id": s, "room_id": r} for t, s, r in drift.missing],
        )
    session.flush()
