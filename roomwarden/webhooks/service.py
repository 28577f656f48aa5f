"""Managing a tenant's webhook endpoints (SPEC §13): the Global admin, or whoever holds
``settings.modify`` over all rooms; partner users acting in a customer never see them (404).
A partner tenant manages its own endpoints in its own tenant. Every change is audited
(category ``Webhook``); URLs are recorded without their path, which may carry a token."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.audit.service import Category, Operation
from roomwarden.events import service as events
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.errors import Conflict, Invalid, NotFound
from roomwarden.kit.time import utcnow
from roomwarden.settings import Settings
from roomwarden.webhooks import guard, targets
from roomwarden.webhooks.models import WebhookDelivery, WebhookEndpoint
from roomwarden.webhooks.schemas import WebhookCreate, WebhookUpdate

#: how long the secret replaced by a rotation still signs
OLD_SECRET_SIGNS_FOR = timedelta(hours=24)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def require_manager(access: Access) -> None:
    if access.is_partner:
        raise NotFound("webhooks not found")
    access.require_tenant_wide(P.SETTINGS_MODIFY, "webhooks")


def endpoints_query(access: Access) -> Select[WebhookEndpoint]:
    require_manager(access)
    return select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == access.tenant_id)


def get_endpoint(
    session: Session, access: Access, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    stmt = endpoints_query(access).where(WebhookEndpoint.id == endpoint_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    endpoint = session.scalar(stmt)
    if endpoint is None:
        raise NotFound("webhook endpoint not found")
    return endpoint


def _check_url(settings: Settings, url: str) -> None:
    if problem := guard.url_problem(settings, url):
        raise Invalid(f"the URL cannot receive webhooks: {problem}")


def create(
    session: Session, access: Access, box: SecretBox, settings: Settings, data: WebhookCreate
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (returned this once; kept sealed)."""
    require_manager(access)
    _check_url(settings, data.url)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        tenant_id=access.tenant_id,
        url=data.url,
        description=data.description,
        events=data.events,
        secret_sealed=box.seal(secret),
    )
    session.add(endpoint)
    session.flush()
    access.audit(
        session,
        Category.WEBHOOK,
        Operation.CREATE,
        guard.redacted(endpoint.url),
        endpoint.id,
        {"url": guard.redacted(endpoint.url), "events": endpoint.events},
    )
    return endpoint, secret


def update(
    session: Session, access: Access, settings: Settings, endpoint_id: uuid.UUID, data: WebhookUpdate
) -> WebhookEndpoint:
    endpoint = get_endpoint(session, access, endpoint_id, lock=True)
    changes: dict[str, Any] = {}
    if data.url is not None and data.url != endpoint.url:
        _check_url(settings, data.url)
        changes["url"] = {"from": guard.redacted(endpoint.url), "to": guard.redacted(data.url)}
        endpoint.url = data.url
    if data.events is not None and data.events != endpoint.events:
        changes["events"] = {"from": endpoint.events, "to": data.events}
        endpoint.events = data.events
    if data.description is not None and data.description != endpoint.description:
        changes["description"] = "changed"
        endpoint.description = data.description
    if data.enabled is not None and data.enabled != endpoint.enabled:
        changes["enabled"] = {"from": endpoint.enabled, "to": data.enabled}
        endpoint.enabled = data.enabled
        endpoint.disabled_reason = None if data.enabled else "disabled by an administrator"
        endpoint.failing_since = None
    if not changes:
        return endpoint
    endpoint.updated_at = utcnow()
    session.flush()
    access.audit(
        session, Category.WEBHOOK, Operation.UPDATE, guard.redacted(endpoint.url), endpoint.id, changes
    )
    if changes.get("enabled", {}).get("to") is True:
        session.info[events.EVENTS_RECORDED] = True  # its pending deliveries may go now
    return endpoint


def delete(session: Session, access: Access, endpoint_id: uuid.UUID) -> None:
    endpoint = get_endpoint(session, access, endpoint_id, lock=True)
    name = guard.redacted(endpoint.url)
    session.delete(endpoint)
    session.flush()
    access.audit(session, Category.WEBHOOK, Operation.DELETE, name, endpoint_id, {"url": name})


def rotate_secret(
    session: Session, access: Access, box: SecretBox, endpoint_id: uuid.UUID
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the one it replaces also signs for 24 hours (each delivery carries both
    signatures meanwhile), so receivers can switch without missing one."""
    endpoint = get_endpoint(session, access, endpoint_id, lock=True)
    secret = new_secret()
    now = utcnow()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_secret_until = now + OLD_SECRET_SIGNS_FOR
    endpoint.secret_sealed = box.seal(secret)
    endpoint.updated_at = now
    session.flush()
    access.audit(
        session,
        Category.WEBHOOK,
        Operation.UPDATE,
        guard.redacted(endpoint.url),
        endpoint.id,
        {"secret": "rotated", "previous_secret_until": endpoint.previous_secret_until.isoformat()},
    )
    return endpoint, secret


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict(f"the endpoint is disabled ({endpoint.disabled_reason}); enable it first")


def send_test(session: Session, access: Access, endpoint_id: uuid.UUID) -> WebhookDelivery:
    """A ``webhook.test`` event for this endpoint alone, delivered like any other."""
    endpoint = get_endpoint(session, access, endpoint_id, lock=True)
    _require_enabled(endpoint)
    event = events.emit(
        session, "webhook.test", tenant_id=access.tenant_id, data={"endpoint_id": endpoint.id}
    )
    event.dispatched_at = utcnow()  # its one delivery is made here
    session.flush()
    delivery = targets.delivery_of(event, endpoint, None)
    session.add(delivery)
    session.flush()
    access.audit(
        session,
        Category.WEBHOOK,
        Operation.CREATE,
        guard.redacted(endpoint.url),
        endpoint.id,
        {"test_event": str(event.id), "delivery_id": str(delivery.id)},
    )
    return delivery


def deliveries_query(
    session: Session, access: Access, endpoint_id: uuid.UUID, status: str | None = None
) -> Select[WebhookDelivery]:
    endpoint = get_endpoint(session, access, endpoint_id)
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == endpoint.tenant_id, WebhookDelivery.endpoint_id == endpoint.id
    )
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    return stmt


def get_delivery(
    session: Session, access: Access, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    stmt = deliveries_query(session, access, endpoint_id).where(WebhookDelivery.id == delivery_id)
    delivery = session.scalar(stmt.with_for_update())
    if delivery is None:
        raise NotFound("delivery not found")
    return delivery


def retry(
    session: Session, access: Access, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send the delivery again now, with a fresh retry schedule (whatever its status)."""
    endpoint = get_endpoint(session, access, endpoint_id, lock=True)
    _require_enabled(endpoint)
    delivery = get_delivery(session, access, endpoint_id, delivery_id)
    before = delivery.status
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, utcnow()
    session.flush()
    access.audit(
        session,
        Category.WEBHOOK,
        Operation.UPDATE,
        guard.redacted(endpoint.url),
        endpoint.id,
        {"delivery_id": str(delivery.id), "retry": {"from": before, "to": "pending"}},
    )
    session.info[events.EVENTS_RECORDED] = True
    return delivery
