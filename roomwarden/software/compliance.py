"""Compliance against the release catalogue (SPEC §12).

Per component a device runs ``current`` (the newest release, or newer), ``previous`` (the
release before it, or between the two) or ``outdated`` (anything older, a version that is not
dotted numbers). A room lists the components its device runs (its last report's ``software``),
and the ones whose last install failed; a component without any release has no compliance
(null).

A ring counts, over its rooms the caller may see with ``rings.view`` (the same rooms as its
``room_count``), how many run each version of each component and how many are current: the
rooms are filtered in the query, so a count never includes a room outside the caller's view.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.rooms.models import Room
from roomwarden.software.models import DeviceSoftware, Release
from roomwarden.software.schemas import RingSoftwareRead, VersionCount

#: Per component: the newest release and the one before it, as (version, key).
Heads = dict[str, list[tuple[str, str]]]


def catalogue_heads(session: Session, components: Iterable[str]) -> Heads:
    """The two newest releases of each of ``components``: one query (none for no component)."""
    names = sorted(set(components))
    if not names:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=Release.component, order_by=Release.version_key.desc())
        .label("rank")
    )
    ranked = (
        select(Release.component, Release.version, Release.version_key, rank)
        .where(Release.component.in_(names))
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.component, ranked.c.version, ranked.c.version_key)
        .where(ranked.c.rank <= 2)
        .order_by(ranked.c.component, ranked.c.rank)
    )
    heads: Heads = {}
    for component, version, key in rows:
        heads.setdefault(component, []).append((version, key))
    return heads


def standing(key: str | None, heads: Sequence[tuple[str, str]]) -> str | None:
    """``current``, ``previous`` or ``outdated`` of a version key against its component's
    newest releases; None when the component has none."""
    if not heads:
        return None
    if key is not None and key >= heads[0][1]:
        return "current"
    if key is not None and len(heads) > 1 and key >= heads[1][1]:
        return "previous"
    return "outdated"


def room_software(session: Session, rooms: Sequence[Room]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """``rooms.extensions`` details: for each room (whose device has reported), its device's
    components with their compliance. Two queries for a page of rooms (one when its devices run nothing), none
    when no device has reported."""
    if not rooms:
        return {}
    rows: dict[uuid.UUID, dict[str, DeviceSoftware]] = {r.id: {} for r in rooms}
    stmt = select(DeviceSoftware).where(
        DeviceSoftware.tenant_id.in_(sorted({r.tenant_id for r in rooms})),
        DeviceSoftware.room_id.in_(list(rows)),
    )
    for r in session.scalars(stmt):
        rows[r.room_id][r.component] = r
    heads = catalogue_heads(session, (c for own in rows.values() for c in own))
    out: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for room_id, own in rows.items():
        items = []
        for component in sorted(own):
            row = own[component]
            component_heads = heads.get(component, [])
            items.append(
                {
                    "component": component,
                    "version": row.version,
                    "compliance": standing(row.version_key, component_heads),
                    "newest": component_heads[0][0] if component_heads else None,
                    "last_result": None
                    if row.result_status is None
                    else {
                        "version": row.result_version,
                        "status": row.result_status,
                        "detail": row.result_detail or "",
                        "at": row.result_at,
                    },
                }
            )
        out[room_id] = items
    return out


def ring_software(
    session: Session, access: Access, ring_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RingSoftwareRead]]:
    """Per ring, per component: the visible rooms running each version, and how many are
    current. Two queries whatever the number of rings and rooms (one when they run nothing)."""
    out: dict[uuid.UUID, list[RingSoftwareRead]] = {rid: [] for rid in ring_ids}
    if not ring_ids:
        return out
    rooms = access.rooms(P.RINGS_VIEW)
    counts: dict[uuid.UUID, dict[str, list[tuple[str, str | None, int]]]] = {rid: {} for rid in ring_ids}
    if not rooms.is_empty:
        rows = session.execute(
            select(
                Room.update_ring_id,
                DeviceSoftware.component,
                DeviceSoftware.version,
                DeviceSoftware.version_key,
                func.count(),
            )
            .join(Room, (Room.tenant_id == DeviceSoftware.tenant_id) & (Room.id == DeviceSoftware.room_id))
            .where(
                Room.tenant_id == access.tenant_id,
                Room.update_ring_id.in_(list(ring_ids)),
                rooms.clause(Room.id),
                DeviceSoftware.version.is_not(None),
            )
            .group_by(
                Room.update_ring_id,
                DeviceSoftware.component,
                DeviceSoftware.version,
                DeviceSoftware.version_key,
            )
        )
        for ring_id, component, version, key, n in rows:
            counts[ring_id].setdefault(component, []).append((version or "", key, n))
    heads = catalogue_heads(session, (c for per in counts.values() for c in per))
    for ring_id in ring_ids:
        per = counts[ring_id]
        for component in sorted(per):
            found = sorted(per.get(component, []), key=lambda v: (v[1] or "", v[0]), reverse=True)
            component_heads = heads.get(component, [])
            out[ring_id].append(
                RingSoftwareRead(
                    component=component,
                    newest=component_heads[0][0] if component_heads else None,
                    current=sum(n for _, key, n in found if standing(key, component_heads) == "current"),
                    versions=[VersionCount(version=v, rooms=n) for v, _, n in found],
                )
            )
    return out
