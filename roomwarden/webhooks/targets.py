"""Who hears an event, decided twice: when the event is turned into deliveries, and again at
every attempt.

- The tenant where it happened: its endpoints that subscribed to the type.
- A partner: an event about one of its links (an invitation, the link, an approval request)
  reaches its endpoints; an event about a room reaches the endpoints of every partner whose
  active link's scope holds the room. Either way a room-bound event is sent to a partner only
  while the room is in the link's scope **at the moment of sending** (``partner_may_hear``,
  with the scope rules of ``access.resolver``): a room taken out of the scope, or a link that
  ended, stops every further event about the room, queued ones included.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.access.resolver import Grant, RoomSet, active_link
from roomwarden.events.models import EventRecord
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import PartnerLink
from roomwarden.rooms.models import Room
from roomwarden.webhooks.models import WebhookDelivery, WebhookEndpoint


def _partners(session: Session, event: EventRecord) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
    """``(partner tenant, link)`` pairs the event concerns."""
    if event.link_id is not None:
        link = session.get(PartnerLink, event.link_id)
        return [] if link is None else [(link.partner_tenant_id, link.id)]
    if event.partner_tenant_id is not None:
        return [(event.partner_tenant_id, None)]
    if event.room_id is None:
        return []
    rows = session.execute(
        select(PartnerLink.partner_tenant_id, PartnerLink.id).where(
            PartnerLink.tenant_id == event.tenant_id, PartnerLink.status == "active"
        )
    ).all()
    return [(partner, link) for partner, link in rows]


def partner_may_hear(
    session: Session,
    tenant_id: uuid.UUID,
    room_id: uuid.UUID | None,
    partner_tenant_id: uuid.UUID,
    link_id: uuid.UUID | None,
) -> bool:
    """May the partner hear an event of ``tenant_id`` now? Events without a room (its
    invitation, its link) always; a room's only through an active link whose scope holds the
    room now."""
    if room_id is None:
        return True
    link = active_link(session, tenant_id, partner_tenant_id)
    if link is None or (link_id is not None and link.id != link_id):
        return False
    rooms = RoomSet(tenant_id, Grant(all_rooms=True), link)
    found = select(Room.id).where(Room.tenant_id == tenant_id, Room.id == room_id, rooms.clause(Room.id))
    return session.scalar(found) is not None


def may_send(session: Session, delivery: WebhookDelivery) -> bool:
    """The check of every attempt: a tenant's own endpoints always hear its events."""
    if delivery.tenant_id == delivery.event_tenant_id:
        return True
    return partner_may_hear(
        session, delivery.event_tenant_id, delivery.room_id, delivery.tenant_id, delivery.link_id
    )


def payload(event: EventRecord) -> str:
    """The body: ``{type, timestamp, data}``, ``data`` holding the event's ids and states."""
    data: dict[str, Any] = {"event_id": str(event.id), "tenant_id": str(event.tenant_id)}
    if event.room_id is not None:
        data["room_id"] = str(event.room_id)
    if event.link_id is not None:
        data["link_id"] = str(event.link_id)
    data.update(event.data)
    body = {
        "type": event.type,
        "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def delivery_of(event: EventRecord, endpoint: WebhookEndpoint, link_id: uuid.UUID | None) -> WebhookDelivery:
    return WebhookDelivery(
        tenant_id=endpoint.tenant_id,
        endpoint_id=endpoint.id,
        event_id=event.id,
        event_type=event.type,
        event_tenant_id=event.tenant_id,
        room_id=event.room_id,
        link_id=link_id,
        payload=payload(event),
    )


def _subscribed(endpoints: Iterable[WebhookEndpoint], event_type: str) -> list[WebhookEndpoint]:
    return [e for e in endpoints if event_type in e.events]


def deliveries_for(session: Session, event: EventRecord) -> list[WebhookDelivery]:
    """One pending delivery per endpoint that hears ``event`` now."""
    tenants: dict[uuid.UUID, uuid.UUID | None] = {event.tenant_id: None}
    for partner, link in _partners(session, event):
        if partner != event.tenant_id and partner_may_hear(
            session, event.tenant_id, event.room_id, partner, link
        ):
            tenants[partner] = link
    endpoints = session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.tenant_id.in_(list(tenants)), WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    return [delivery_of(event, e, tenants[e.tenant_id]) for e in _subscribed(endpoints, event.type)]


def dispatch(session: Session, limit: int = 200, tenant_ids: Collection[uuid.UUID] | None = None) -> int:
    """Turn up to ``limit`` recorded events (of ``tenant_ids``, if given) into deliveries
    (events other runners hold are skipped); returns how many events were dispatched."""
    stmt = select(EventRecord).where(EventRecord.dispatched_at.is_(None))
    if tenant_ids is not None:
        stmt = stmt.where(EventRecord.tenant_id.in_(list(tenant_ids)))
    batch = session.scalars(
        stmt.order_by(EventRecord.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    now = utcnow()
    for event in batch:
        session.add_all(deliveries_for(session, event))
        event.dispatched_at = now
    session.flush()
    return len(batch)
