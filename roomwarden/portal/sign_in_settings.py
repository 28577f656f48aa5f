"""Sign-in settings (Global admins of the tenant only; partners never see them): the
tenant's identity source — local accounts or its own OpenID Connect provider — through
``identity.oidc.config``, as ``PUT .../identity-provider`` does. The provider is checked by
discovery before anything is saved, outside any write transaction; the client secret is
write-only."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Response

from roomwarden.access.deps import global_admin
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.oidc import config
from roomwarden.identity.oidc.schemas import IdentityProviderRead, IdentityProviderUpdate
from roomwarden.kit.api import audited, read_only
from roomwarden.kit.errors import AppError
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.forms import FieldErrors, errors_of, text, validate
from roomwarden.portal.web import FormRefused, portal_router, redirect

pages = portal_router()
SOURCES = [
    ("local", "Local accounts (passwords kept by Roomwarden)"),
    ("oidc", "OpenID Connect (your identity provider)"),
]


def _values(read: IdentityProviderRead) -> dict[str, Any]:
    return {
        "type": read.type,
        "issuer": read.issuer or "",
        "client_id": read.client_id or "",
        "admin_claim": read.admin_claim or "",
        "admin_value": read.admin_value or "",
        "mfa_acr_values": " ".join(read.mfa_acr_values),
        "trust_preferred_username": read.trust_preferred_username,
    }


def _page(ctx: Ctx, values: dict[str, Any] | None, errors: dict[str, str], done: str = "") -> Response:
    read = config.read(ctx.session, ctx.request.app.state.settings, ctx.tenant_id)
    return ctx.page(
        "directory/sign_in.html",
        current="settings",
        status=422 if errors else 200,
        read=read,
        values=values if values is not None else _values(read),
        errors=errors,
        sources=SOURCES,
        done=done,
    )


def _required(data: dict[str, Any]) -> None:
    """What the form lacks, next to its field (the API's model says it about the whole body)."""
    errors: dict[str, str] = {}
    if data["type"] is None:
        errors["type"] = "Choose how the people of this tenant sign in."
    if data["type"] == "oidc":
        if not data.get("issuer"):
            errors["issuer"] = "Enter the issuer URL of your identity provider."
        if not data.get("client_id"):
            errors["client_id"] = "Enter the client ID registered at your identity provider."
        if bool(data.get("admin_claim")) != bool(data.get("admin_value")):
            field = "admin_value" if data.get("admin_claim") else "admin_claim"
            errors[field] = "Give both the admin claim and its value, or neither."
    if errors:
        raise FieldErrors(errors)


@pages.get("/t/{tenant_id}/sign-in-settings", name="portal.sign_in_settings")
def sign_in_settings(ctx: TenantCtx, done: str = "") -> Response:
    global_admin(ctx.access)
    return _page(ctx, None, {}, done)


@pages.post("/t/{tenant_id}/sign-in-settings")
@audited(Category.IDENTITY_PROVIDER, Operation.UPDATE)
@read_only  # the provider is asked over the network: no write transaction is held meanwhile
def sign_in_settings_update(ctx: TenantCtx, form: FormDep) -> Response:
    global_admin(ctx.access)
    values = {
        name: text(form, name, limit).strip()
        for name, limit in (
            ("type", 10),
            ("issuer", 500),
            ("client_id", 255),
            ("admin_claim", 100),
            ("admin_value", 200),
            ("mfa_acr_values", 4000),
        )
    }
    secret = text(form, "client_secret", 2000)
    trusted = text(form, "trust_preferred_username", 10) == "yes"
    data: dict[str, Any] = {
        **{k: v or None for k, v in values.items() if k != "mfa_acr_values"},
        "mfa_acr_values": [v for v in re.split(r"[\s,]+", values["mfa_acr_values"]) if v],
        "client_secret": secret or None,
        "trust_preferred_username": trusted,
    }
    values_shown: dict[str, Any] = {**values, "trust_preferred_username": trusted}
    if data["type"] not in ("oidc", None):  # local keeps the provider's settings as they are
        data = {"type": data["type"]}
    state = ctx.request.app.state
    try:
        _required(data)
        body = config.check_provider(state.settings, validate(IdentityProviderUpdate, data))
        with state.db.transaction(tenants=[ctx.access.tenant_id]) as own:
            config.update(own, ctx.access, state.secret_box, body)
    except AppError as exc:
        # The service's refusals concern the provider (issuer) or a missing secret.
        if exc.field == "client_secret":
            errors = {"client_secret": "Enter the client secret: a new issuer or client ID needs its own."}
        else:
            errors = errors_of(exc, "issuer")
        raise FormRefused(exc, lambda s: _page(ctx.with_session(s), values_shown, errors)) from exc
    return redirect(ctx.url("sign_in_settings") + "?done=saved")
