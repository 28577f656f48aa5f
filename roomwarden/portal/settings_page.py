"""Settings: the tenant's service settings (``tenants.service``), with a way into the
directory for Global admins."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from roomwarden.access.permissions import Permission as P
from roomwarden.audit.service import Category, Operation
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.forms import checked, errors_of, text, validate
from roomwarden.portal.web import FormRefused, portal_router, redirect
from roomwarden.tenants import service
from roomwarden.tenants.schemas import SettingsUpdate

pages = portal_router()


def _page(ctx: Ctx, values: dict[str, Any] | None, errors: dict[str, str], done: str = "") -> Response:
    row = service.read_settings(ctx.session, ctx.access)
    if values is None:
        values = {
            "notification_email": row.notification_email or "",
            "enable_all_tickets_view": row.enable_all_tickets_view,
            "require_mfa_for_partners": row.require_mfa_for_partners,
        }
    return ctx.page(
        "settings.html",
        current="settings",
        status=422 if errors else 200,
        row=row,
        values=values,
        errors=errors,
        done=done,
        may_modify=ctx.access.tenant_wide(P.SETTINGS_MODIFY),
        directory=not ctx.access.is_partner and ctx.access.principal.is_global_admin,
        webhooks=not ctx.access.is_partner and ctx.access.tenant_wide(P.SETTINGS_MODIFY),
    )


@pages.get("/t/{tenant_id}/settings", name="portal.settings")
def settings_page(ctx: TenantCtx, done: str = "") -> Response:
    return _page(ctx, None, {}, done)


@pages.post("/t/{tenant_id}/settings")
@audited(Category.SETTINGS, Operation.UPDATE)
def settings_update(ctx: TenantCtx, form: FormDep) -> Response:
    values = {
        "notification_email": text(form, "notification_email", 320).strip(),
        "enable_all_tickets_view": checked(form, "enable_all_tickets_view"),
        "require_mfa_for_partners": checked(form, "require_mfa_for_partners"),
    }
    data = {**values, "notification_email": values["notification_email"] or None}
    try:
        service.update_settings(ctx.session, ctx.access, validate(SettingsUpdate, data))
    except AppError as exc:
        errors = errors_of(exc)
        raise FormRefused(exc, lambda s: _page(ctx.with_session(s), values, errors)) from exc
    return redirect(ctx.url("settings") + "?done=saved")
