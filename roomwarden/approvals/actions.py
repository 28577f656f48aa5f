"""The partner actions change control can hold, each applied by the very service function
of its direct path: holding runs it in a savepoint that is rolled back (so validation and
authorisation are the direct path's, refusals included), approval runs it for real.

- ``room.update``: PATCH rooms/{id}; event ``room.update`` for room fields,
  ``update_ring.change`` for a ring move (both when it does both: held if either is manual)
- ``update_ring.update``: PATCH update-rings/{id}; ``update_ring.change``
- ``incident.create``: POST incidents; ``incident.create``
- ``ticket.update``: PATCH tickets/{id}; ``ticket.update``
- ``room.suppress|unsuppress``: PUT/DELETE rooms/{id}/suppressions/{signal}; ``room.update``
- ``role.create|update|delete``: POST roles, PATCH/DELETE roles/{id}; ``partner_role.change``
- ``assignment.create|update|delete``: POST roles/{id}/assignments, PATCH/DELETE
  assignments/{id} (also under roles/{id}/); ``partner_role.change``
- ``group_members.update``: the members of a partner's own security group that the link's
  partner role assignments name (PATCH security-groups/{id} in the partner's directory);
  ``partner_role.change``. Held by ``approvals.partner_groups``, not by a direct path here.
- ``elevation.activate``: POST assignments/{id}/activate by a member of an eligible partner
  assignment; ``elevation.activate``. Held and applied by ``approvals.elevations``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roomwarden.access import service as access_service
from roomwarden.access.models import AssignmentMember, Role, RoleAssignment
from roomwarden.access.resolver import Access
from roomwarden.access.schemas import AssignmentCreate, AssignmentUpdate, RoleCreate, RoleUpdate
from roomwarden.approvals import partner_groups, policy
from roomwarden.devices import suppressions
from roomwarden.devices.schemas import SuppressionChange, SuppressionEnd
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import PartnerLink
from roomwarden.partners.schemas import ActivationCreate
from roomwarden.rooms import rings, tickets
from roomwarden.rooms import service as rooms_service
from roomwarden.rooms.models import Room, Ticket, TicketUpdate, UpdateRing
from roomwarden.rooms.schemas import IncidentCreate, RingUpdate, RoomUpdate, TicketUpdateIn

Params = dict[str, uuid.UUID]
Snapshot = dict[str, Any]


# -- the state of each kind of target ------------------------------------------------------------


def _locked(stmt: Any, lock: bool) -> Any:
    return stmt.with_for_update().execution_options(populate_existing=True) if lock else stmt


def _room(session: Session, tenant_id: uuid.UUID, room_id: uuid.UUID, lock: bool) -> Snapshot | None:
    room = session.scalar(_locked(select(Room).where(Room.tenant_id == tenant_id, Room.id == room_id), lock))
    if room is None:
        return None
    ring = session.scalar(select(UpdateRing.name).where(UpdateRing.id == room.update_ring_id))
    return {
        **{f: getattr(room, f) for f in rooms_service.ROOM_FIELDS},
        "update_ring_id": str(room.update_ring_id),
        "update_ring": ring,
        "enrollment_state": room.enrollment_state,
    }


def _ring(session: Session, tenant_id: uuid.UUID, ring_id: uuid.UUID, lock: bool) -> Snapshot | None:
    stmt = select(UpdateRing).where(UpdateRing.tenant_id == tenant_id, UpdateRing.id == ring_id)
    ring = session.scalar(_locked(stmt, lock))
    if ring is None:
        return None
    return {"name": ring.name, "deferral_days": ring.deferral_days, "paused": ring.paused}


def _ticket(session: Session, tenant_id: uuid.UUID, ticket_id: uuid.UUID, lock: bool) -> Snapshot | None:
    stmt = select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.id == ticket_id)
    ticket = session.scalar(_locked(stmt, lock))
    if ticket is None:
        return None
    entries = session.scalar(
        select(func.count()).select_from(TicketUpdate).where(TicketUpdate.ticket_id == ticket.id)
    )
    return {
        "room_id": str(ticket.room_id),
        "title": ticket.title,
        "description": ticket.description,
        "severity": ticket.severity,
        "status": ticket.status,
        "history_entries": entries,
    }


def _role(session: Session, tenant_id: uuid.UUID, role_id: uuid.UUID, lock: bool) -> Snapshot | None:
    role = session.scalar(_locked(select(Role).where(Role.tenant_id == tenant_id, Role.id == role_id), lock))
    if role is None:
        return None
    perms = access_service.permissions_of(session, [role.id])[role.id]
    return {
        "name": role.name,
        "description": role.description,
        "kind": role.kind,
        "permissions": [p.value for p in perms],
    }


def _assignment(
    session: Session, tenant_id: uuid.UUID, assignment_id: uuid.UUID, lock: bool
) -> Snapshot | None:
    stmt = select(RoleAssignment).where(
        RoleAssignment.tenant_id == tenant_id, RoleAssignment.id == assignment_id
    )
    a = session.scalar(_locked(stmt, lock))
    if a is None:
        return None
    role_name = session.scalar(select(Role.name).where(Role.id == a.role_id))
    members = session.execute(
        select(AssignmentMember.user_id, AssignmentMember.group_id).where(
            AssignmentMember.assignment_id == a.id
        )
    ).all()
    scope = access_service.assignment_reads(session, [a])[0].scope
    return {
        "role_id": str(a.role_id),
        "role": role_name,
        "name": a.name,
        "description": a.description,
        "email_notifications": a.email_notifications,
        "members": sorted(f"user:{u}" if u else f"group:{g}" for u, g in members),
        "scope": scope.model_dump(mode="json"),
    }


def _partner_roles(session: Session, tenant_id: uuid.UUID, link_id: uuid.UUID, lock: bool) -> Snapshot | None:
    stmt = select(PartnerLink).where(PartnerLink.tenant_id == tenant_id, PartnerLink.id == link_id)
    link = session.scalar(stmt)
    return None if link is None or not link.live(utcnow()) else {"link_id": str(link.id)}


SNAPSHOTS: dict[str, Callable[[Session, uuid.UUID, uuid.UUID, bool], Snapshot | None]] = {
    "room": _room,
    "update_ring": _ring,
    "ticket": _ticket,
    "role": _role,
    "assignment": _assignment,
    "partner_roles": _partner_roles,
    partner_groups.TARGET: partner_groups.snapshot,
}
NAMES = {
    "room": lambda s: s["name"],
    "update_ring": lambda s: s["name"],
    "ticket": lambda s: s["title"],
    "role": lambda s: s["name"],
    "assignment": lambda s: f"{s['role']}: {s['name']}",
    "partner_roles": lambda s: "partner roles",
    partner_groups.TARGET: lambda s: s["name"],
}


def snapshot(
    session: Session,
    tenant_id: uuid.UUID,
    target_type: str,
    target_id: uuid.UUID | None,
    *,
    lock: bool = False,
) -> Snapshot | None:
    if target_id is None:
        return None
    return SNAPSHOTS[target_type](session, tenant_id, target_id, lock)


# -- the actions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    key: str
    target_type: str
    #: The body's model, to rebuild the exact request at approval (``None``: no body).
    schema: type[BaseModel] | None
    run: Callable[[Session, Access, Params, Any], Any]
    target: Callable[[Access, Params, Any], uuid.UUID | None]
    events: Callable[[Any], list[str]]
    #: A creation's result, read as this kind of target for the "after" view.
    result_type: str | None = None
    #: Snapshot fields that must not have changed for the approval to apply; ``None``: all
    #: but derived names. A creation only needs its target to exist (and be allowed).
    compared: tuple[str, ...] | None = None

    def compared_fields(self, snap: Snapshot | None) -> list[str]:
        if snap is None:
            return []
        if self.compared is not None:
            return list(self.compared)
        return [k for k in snap if k not in ("update_ring", "role")]


class GroupMembers(BaseModel):
    member_ids: list[uuid.UUID]


def _applied_by_partner_groups(session: Session, access: Access, params: Params, body: Any) -> Any:
    raise AssertionError("a partner group's members change in the directory, held there")


def _applied_by_elevations(session: Session, access: Access, params: Params, body: Any) -> Any:
    raise AssertionError("an activation is held and applied by approvals.elevations")


def _events(*events: str) -> Callable[[Any], list[str]]:
    return lambda body: list(events)


def _param(name: str) -> Callable[[Access, Params, Any], uuid.UUID | None]:
    return lambda access, params, body: params[name]


ACTIONS: dict[str, Action] = {
    a.key: a
    for a in (
        Action(
            "room.update",
            "room",
            RoomUpdate,
            lambda s, a, p, b: rooms_service.update_room(s, a, p["room_id"], b),
            _param("room_id"),
            lambda body: policy.room_events(body.model_fields_set),
        ),
        Action(
            "room.suppress",
            "room",
            SuppressionChange,
            lambda s, a, p, b: suppressions.suppress(s, a, p["room_id"], b),
            _param("room_id"),
            _events(policy.ROOM_UPDATE),
        ),
        Action(
            "room.unsuppress",
            "room",
            SuppressionEnd,
            lambda s, a, p, b: suppressions.end_suppression(s, a, p["room_id"], b),
            _param("room_id"),
            _events(policy.ROOM_UPDATE),
        ),
        Action(
            "update_ring.update",
            "update_ring",
            RingUpdate,
            lambda s, a, p, b: rings.update_ring(s, a, p["ring_id"], b),
            _param("ring_id"),
            _events(policy.UPDATE_RING_CHANGE),
        ),
        Action(
            "incident.create",
            "room",
            IncidentCreate,
            lambda s, a, p, b: tickets.create_incident(s, a, b),
            lambda access, params, body: body.room_id,
            _events(policy.INCIDENT_CREATE),
            result_type="ticket",
            compared=(),
        ),
        Action(
            "ticket.update",
            "ticket",
            TicketUpdateIn,
            lambda s, a, p, b: tickets.update_ticket(s, a, p["ticket_id"], b),
            _param("ticket_id"),
            _events(policy.TICKET_UPDATE),
        ),
        Action(
            "role.create",
            "partner_roles",
            RoleCreate,
            lambda s, a, p, b: access_service.create_role(s, a, b),
            lambda access, params, body: access.link.id if access.link else None,
            _events(policy.PARTNER_ROLE_CHANGE),
            result_type="role",
            compared=(),
        ),
        Action(
            "role.update",
            "role",
            RoleUpdate,
            lambda s, a, p, b: access_service.update_role(s, a, p["role_id"], b),
            _param("role_id"),
            _events(policy.PARTNER_ROLE_CHANGE),
        ),
        Action(
            "role.delete",
            "role",
            None,
            lambda s, a, p, b: access_service.delete_role(s, a, p["role_id"]),
            _param("role_id"),
            _events(policy.PARTNER_ROLE_CHANGE),
        ),
        Action(
            "assignment.create",
            "role",
            AssignmentCreate,
            lambda s, a, p, b: access_service.create_assignment(s, a, p["role_id"], b),
            _param("role_id"),
            _events(policy.PARTNER_ROLE_CHANGE),
            result_type="assignment",
        ),
        Action(
            "assignment.update",
            "assignment",
            AssignmentUpdate,
            lambda s, a, p, b: access_service.update_assignment(
                s, a, p["assignment_id"], b, p.get("role_id")
            ),
            _param("assignment_id"),
            _events(policy.PARTNER_ROLE_CHANGE),
        ),
        Action(
            partner_groups.ACTION,
            partner_groups.TARGET,
            GroupMembers,
            _applied_by_partner_groups,
            _param("group_id"),
            _events(policy.PARTNER_ROLE_CHANGE),
            compared=("member_ids",),
        ),
        Action(
            "elevation.activate",
            "assignment",
            ActivationCreate,
            _applied_by_elevations,
            _param("assignment_id"),
            _events(policy.ELEVATION_ACTIVATE),
            compared=(),
        ),
        Action(
            "assignment.delete",
            "assignment",
            None,
            lambda s, a, p, b: access_service.delete_assignment(s, a, p["assignment_id"], p.get("role_id")),
            _param("assignment_id"),
            _events(policy.PARTNER_ROLE_CHANGE),
        ),
    )
}


def encode_change(params: Params, body: BaseModel | None) -> dict[str, Any]:
    """The exact request: path ids and the fields the partner sent (unset fields stay unset,
    so a partial update stays partial)."""
    return {
        "params": {k: str(v) for k, v in params.items() if v is not None},
        "body": body.model_dump(mode="json", exclude_unset=True, by_alias=True) if body is not None else None,
    }


def decode_change(action: Action, change: dict[str, Any]) -> tuple[Params, BaseModel | None]:
    params = {k: uuid.UUID(v) for k, v in change["params"].items()}
    body = action.schema.model_validate(change["body"]) if action.schema is not None else None
    return params, body


def room_of(action: Action, target_id: uuid.UUID | None, before: Snapshot | None) -> uuid.UUID | None:
    """The room a request concerns, for reviewers scoped to some rooms."""
    if action.target_type == "room":
        return target_id
    if action.target_type == "ticket" and before is not None:
        return uuid.UUID(before["room_id"])
    return None
