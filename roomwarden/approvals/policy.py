"""Pure rules of change control, tested without a database: which events a change touches,
whether a link's policy holds it, the request's state machine, expiry, and staleness."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from roomwarden.kit.errors import Conflict

ROOM_UPDATE = "room.update"
UPDATE_RING_CHANGE = "update_ring.change"
INCIDENT_CREATE = "incident.create"
TICKET_UPDATE = "ticket.update"
PARTNER_ROLE_CHANGE = "partner_role.change"
ELEVATION_ACTIVATE = "elevation.activate"
EVENTS = (
    ROOM_UPDATE,
    UPDATE_RING_CHANGE,
    INCIDENT_CREATE,
    TICKET_UPDATE,
    PARTNER_ROLE_CHANGE,
    ELEVATION_ACTIVATE,
)
#: An event a policy does not name is ``auto``, but an activation, which is ``manual``.
DEFAULTS = {ELEVATION_ACTIVATE: "manual"}


def mode(policy: Mapping[str, str], event: str) -> str:
    return policy.get(event, DEFAULTS.get(event, "auto"))


DEFAULT_EXPIRY_DAYS = 7

PENDING = "pending"
#: Every state a request can reach from ``pending``; each is final.
FINAL = ("approved", "rejected", "cancelled", "expired", "failed")
TRANSITIONS: dict[str, frozenset[str]] = {PENDING: frozenset(FINAL), **{s: frozenset() for s in FINAL}}

#: Room fields that are a room change; ``update_ring_id`` is a ring move.
ROOM_FIELDS = frozenset({"name", "resource_account", "country", "city", "building", "time_zone"})


def room_events(fields: Iterable[str]) -> list[str]:
    """The events one room PATCH touches: its own fields (``room.update``), a ring move
    (``update_ring.change``), or both."""
    fields = set(fields)
    events = []
    if fields & ROOM_FIELDS or not fields:  # an empty change is a (no-op) room change
        events.append(ROOM_UPDATE)
    if "update_ring_id" in fields:
        events.append(UPDATE_RING_CHANGE)
    return events


def held_events(policy: Mapping[str, str], events: Iterable[str]) -> list[str]:
    """The events of a change that the link's policy sets to ``manual``. A change is held
    when any of them is: a manual event is never applied on the back of an automatic one."""
    return [e for e in events if mode(policy, e) == "manual"]


def switched_to_auto(before: Mapping[str, str], after: Mapping[str, str]) -> set[str]:
    return {e for e in EVENTS if mode(before, e) == "manual" and mode(after, e) == "auto"}


def check_transition(current: str, new: str) -> None:
    if new not in TRANSITIONS.get(current, frozenset()):
        raise Conflict(f"the request is already {current}" if current != PENDING else f"cannot become {new}")


def expires_at(created: datetime, days: int) -> datetime:
    return created + timedelta(days=days)


def is_expired(expires: datetime, now: datetime) -> bool:
    return now >= expires


def changed_fields(
    snapshot: Mapping[str, Any] | None, current: Mapping[str, Any] | None, compared: Iterable[str]
) -> list[str]:
    """The compared fields whose value differs between the request's snapshot and now."""
    if snapshot is None or current is None:
        return []
    return [k for k in compared if snapshot.get(k) != current.get(k)]


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """A readable before/after: one entry per field whose value the change sets or alters
    (every field of a created or deleted object)."""
    keys = list(dict.fromkeys([*(before or {}), *(after or {})]))
    out = []
    for k in keys:
        old = before.get(k) if before is not None else None
        new = after.get(k) if after is not None else None
        if before is None or after is None or old != new:
            out.append({"field": k, "before": old, "after": new})
    return out
