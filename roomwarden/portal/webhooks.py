"""Settings → Webhooks: a tenant's webhook endpoints (``webhooks.service``, as the API's
``/webhooks`` routes): add one (its secret shown once), send a test event, rotate the secret,
see and retry deliveries, delete it. The Global admin's, or ``settings.modify`` over all
rooms; partners acting in the customer never see it (404)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Response
from sqlalchemy.orm import Session

from roomwarden.audit.service import Category, Operation
from roomwarden.events.catalogue import CATALOGUE
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.forms import errors_of, text, validate
from roomwarden.portal.web import FormRefused, portal_router, redirect
from roomwarden.webhooks import service
from roomwarden.webhooks.models import WebhookDelivery, WebhookEndpoint
from roomwarden.webhooks.schemas import WebhookCreate, WebhookUpdate

pages = portal_router()
EVENT_CHOICES = [(e.name, f"{e.name} — {e.description}") for e in CATALOGUE]
DONE = {
    "test": "A test event is on its way.",
    "retried": "The delivery will be sent again now.",
    "deleted": "The endpoint was deleted.",
    "enabled": "The endpoint is enabled again.",
}


def _list(ctx: Ctx, values: dict[str, Any] | None, errors: dict[str, str], done: str = "") -> Response:
    endpoints = ctx.session.scalars(service.endpoints_query(ctx.access).order_by(WebhookEndpoint.id)).all()
    return ctx.page(
        "webhooks/list.html",
        current="settings",
        status=422 if errors else 200,
        endpoints=endpoints,
        values=values or {"url": "", "description": "", "events": []},
        errors=errors,
        choices=EVENT_CHOICES,
        done=DONE.get(done, ""),
    )


@pages.get("/t/{tenant_id}/settings/webhooks", name="portal.webhooks")
def webhooks_page(ctx: TenantCtx, done: str = "") -> Response:
    return _list(ctx, None, {}, done)


@pages.post("/t/{tenant_id}/settings/webhooks")
@audited(Category.WEBHOOK, Operation.CREATE)
def webhook_create(ctx: TenantCtx, form: FormDep) -> Response:
    values = {
        "url": text(form, "url", 2000).strip(),
        "description": text(form, "description", 500).strip(),
        "events": [str(v) for v in form.getlist("events")][:100],
    }
    state = ctx.request.app.state
    try:
        data = validate(WebhookCreate, values)
        endpoint, secret = service.create(ctx.session, ctx.access, state.secret_box, state.settings, data)
    except AppError as exc:
        errors = errors_of(exc, "url")
        raise FormRefused(exc, lambda s: _list(ctx.with_session(s), values, errors)) from exc
    return _secret(ctx, endpoint, secret, created=True)


def _secret(ctx: Ctx, endpoint: WebhookEndpoint, secret: str, *, created: bool) -> Response:
    """The secret, this once (the portal's pages are never stored: Cache-Control no-store)."""
    return ctx.page(
        "webhooks/secret.html", current="settings", endpoint=endpoint, secret=secret, created=created
    )


def _detail(ctx: Ctx, endpoint_id: uuid.UUID, done: str = "", error: str = "") -> Response:
    endpoint = service.get_endpoint(ctx.session, ctx.access, endpoint_id)
    stmt = service.deliveries_query(ctx.session, ctx.access, endpoint_id)
    deliveries = ctx.session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(50)).all()
    return ctx.page(
        "webhooks/detail.html",
        current="settings",
        status=409 if error else 200,
        endpoint=endpoint,
        deliveries=deliveries,
        done=DONE.get(done, ""),
        error=error,
    )


@pages.get("/t/{tenant_id}/settings/webhooks/{webhook_id}", name="portal.webhook")
def webhook_page(ctx: TenantCtx, webhook_id: uuid.UUID, done: str = "") -> Response:
    return _detail(ctx, webhook_id, done)


def _refused_on_detail(ctx: Ctx, webhook_id: uuid.UUID, exc: AppError) -> FormRefused:
    return FormRefused(exc, lambda s: _detail(ctx.with_session(s), webhook_id, error=exc.detail))


@pages.post("/t/{tenant_id}/settings/webhooks/{webhook_id}/test", name="portal.webhook_test")
@audited(Category.WEBHOOK, Operation.CREATE)
def webhook_test(ctx: TenantCtx, webhook_id: uuid.UUID) -> Response:
    try:
        service.send_test(ctx.session, ctx.access, webhook_id)
    except AppError as exc:
        raise _refused_on_detail(ctx, webhook_id, exc) from exc
    return redirect(ctx.url("webhook", webhook_id=str(webhook_id)) + "?done=test")


@pages.post("/t/{tenant_id}/settings/webhooks/{webhook_id}/rotate", name="portal.webhook_rotate")
@audited(Category.WEBHOOK, Operation.UPDATE)
def webhook_rotate(ctx: TenantCtx, webhook_id: uuid.UUID) -> Response:
    endpoint, secret = service.rotate_secret(
        ctx.session, ctx.access, ctx.request.app.state.secret_box, webhook_id
    )
    return _secret(ctx, endpoint, secret, created=False)


@pages.post("/t/{tenant_id}/settings/webhooks/{webhook_id}/enable", name="portal.webhook_enable")
@audited(Category.WEBHOOK, Operation.UPDATE)
def webhook_enable(ctx: TenantCtx, webhook_id: uuid.UUID) -> Response:
    data = validate(WebhookUpdate, {"enabled": True})
    service.update(ctx.session, ctx.access, ctx.request.app.state.settings, webhook_id, data)
    return redirect(ctx.url("webhook", webhook_id=str(webhook_id)) + "?done=enabled")


@pages.post(
    "/t/{tenant_id}/settings/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    name="portal.webhook_retry",
)
@audited(Category.WEBHOOK, Operation.UPDATE)
def webhook_retry(ctx: TenantCtx, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> Response:
    try:
        service.retry(ctx.session, ctx.access, webhook_id, delivery_id)
    except AppError as exc:
        raise _refused_on_detail(ctx, webhook_id, exc) from exc
    return redirect(ctx.url("webhook", webhook_id=str(webhook_id)) + "?done=retried")


def _confirm(ctx: Ctx, session: Session, webhook_id: uuid.UUID) -> Response:
    endpoint = service.get_endpoint(session, ctx.access, webhook_id)
    return ctx.with_session(session).page("webhooks/delete.html", current="settings", endpoint=endpoint)


@pages.get("/t/{tenant_id}/settings/webhooks/{webhook_id}/delete", name="portal.webhook_delete")
def webhook_delete_page(ctx: TenantCtx, webhook_id: uuid.UUID) -> Response:
    return _confirm(ctx, ctx.session, webhook_id)


@pages.post("/t/{tenant_id}/settings/webhooks/{webhook_id}/delete")
@audited(Category.WEBHOOK, Operation.DELETE)
def webhook_delete(ctx: TenantCtx, webhook_id: uuid.UUID) -> Response:
    service.delete(ctx.session, ctx.access, webhook_id)
    return redirect(ctx.url("webhooks") + "?done=deleted")
