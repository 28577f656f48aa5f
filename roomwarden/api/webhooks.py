"""Webhook endpoints (SPEC §13, docs/webhooks.md): the Global admin's, or ``settings.modify``
over all rooms. The secret is answered once, at creation and at rotation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Request

from roomwarden.access.deps import AccessDep
from roomwarden.audit.service import Category, Operation
from roomwarden.kit.api import SessionDep, audited
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.pagination import Page, PageDep, paginate
from roomwarden.kit.routing import router
from roomwarden.webhooks import service
from roomwarden.webhooks.models import WebhookDelivery, WebhookEndpoint
from roomwarden.webhooks.schemas import (
    DeliveryRead,
    DeliveryStatus,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)

api = router(prefix="/api/v1/tenants/{tenant_id}/webhooks", tags=["webhooks"])


def _box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


def delivery_read(delivery: WebhookDelivery) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,  # type: ignore[arg-type]
        attempts=delivery.attempts,
        response_code=delivery.response_status,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        last_attempt_at=delivery.last_attempt_at,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )


@api.get("", response_model=Page[WebhookRead])
def list_webhooks(session: SessionDep, access: AccessDep, pages: PageDep) -> Page[WebhookRead]:
    return paginate(
        session, service.endpoints_query(access), WebhookEndpoint.id, pages, WebhookRead.model_validate
    )


@api.post("", response_model=WebhookCreated, status_code=201)
@audited(Category.WEBHOOK, Operation.CREATE)
def create_webhook(
    request: Request, session: SessionDep, access: AccessDep, body: WebhookCreate
) -> WebhookCreated:
    """A new endpoint. Its signing secret (``whsec_`` + base64) is in this answer only: store
    it now. The URL must be ``https`` on a public address (docs/webhooks.md)."""
    endpoint, secret = service.create(session, access, _box(request), request.app.state.settings, body)
    return WebhookCreated(**WebhookRead.model_validate(endpoint).model_dump(), secret=secret)


@api.get("/{webhook_id}", response_model=WebhookRead)
def get_webhook(session: SessionDep, access: AccessDep, webhook_id: uuid.UUID) -> WebhookRead:
    return WebhookRead.model_validate(service.get_endpoint(session, access, webhook_id))


@api.patch("/{webhook_id}", response_model=WebhookRead)
@audited(Category.WEBHOOK, Operation.UPDATE)
def update_webhook(
    request: Request, session: SessionDep, access: AccessDep, webhook_id: uuid.UUID, body: WebhookUpdate
) -> WebhookRead:
    """Change the URL, the events, the description; ``enabled: true`` turns a disabled
    endpoint back on (its waiting deliveries are sent)."""
    endpoint = service.update(session, access, request.app.state.settings, webhook_id, body)
    return WebhookRead.model_validate(endpoint)


@api.delete("/{webhook_id}", status_code=204)
@audited(Category.WEBHOOK, Operation.DELETE)
def delete_webhook(session: SessionDep, access: AccessDep, webhook_id: uuid.UUID) -> None:
    service.delete(session, access, webhook_id)


@api.post("/{webhook_id}/rotate-secret", response_model=SecretRotated)
@audited(Category.WEBHOOK, Operation.UPDATE)
def rotate_secret(
    request: Request, session: SessionDep, access: AccessDep, webhook_id: uuid.UUID
) -> SecretRotated:
    """A new signing secret, in this answer only. The previous one also signs every delivery
    for 24 hours (``previous_secret_until``), so receivers can switch without a gap."""
    endpoint, secret = service.rotate_secret(session, access, _box(request), webhook_id)
    assert endpoint.previous_secret_until is not None
    return SecretRotated(id=endpoint.id, secret=secret, previous_secret_until=endpoint.previous_secret_until)


@api.post("/{webhook_id}/test", response_model=DeliveryRead, status_code=201)
@audited(Category.WEBHOOK, Operation.CREATE)
def send_test(session: SessionDep, access: AccessDep, webhook_id: uuid.UUID) -> DeliveryRead:
    """Send a ``webhook.test`` event to this endpoint (409 while it is disabled); the answer
    is its delivery, sent in the background."""
    delivery = service.send_test(session, access, webhook_id)
    return delivery_read(delivery)


@api.get("/{webhook_id}/deliveries", response_model=Page[DeliveryRead])
def list_deliveries(
    session: SessionDep,
    access: AccessDep,
    webhook_id: uuid.UUID,
    pages: PageDep,
    status: Annotated[DeliveryStatus | None, Query(description="only deliveries in this status")] = None,
) -> Page[DeliveryRead]:
    """The endpoint's deliveries, oldest first: status, attempts, the last response code and
    the next attempt."""
    stmt = service.deliveries_query(session, access, webhook_id, status)
    return paginate(session, stmt, WebhookDelivery.id, pages, delivery_read)


@api.post("/{webhook_id}/deliveries/{delivery_id}/retry", response_model=DeliveryRead)
@audited(Category.WEBHOOK, Operation.UPDATE)
def retry_delivery(
    session: SessionDep, access: AccessDep, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryRead:
    """Send the delivery again now, with a fresh retry schedule (409 while the endpoint is
    disabled)."""
    return delivery_read(service.retry(session, access, webhook_id, delivery_id))
