"""A partner link's end on the customer's partner page (SPEC §4 "Expiry and renewal"): set,
move or clear it, and renew an expired link, through the API's services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import Response

from roomwarden.audit.service import Category, Operation
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError
from roomwarden.partners import links
from roomwarden.partners.schemas import LinkRenew, LinkUpdate
from roomwarden.portal.deps import FormDep, TenantCtx
from roomwarden.portal.forms import FieldErrors, errors_of, text
from roomwarden.portal.partners import refused
from roomwarden.portal.web import portal_router, redirect

pages = portal_router()

BAD_END = "Enter a date and time (UTC) in the future, at most 730 days ahead, or leave it empty for no end."


def _end(value: str) -> datetime | None:
    """The form's end (a date, or a date and time, in UTC); empty for none."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FieldErrors({"expires_at": BAD_END}) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _messages(exc: AppError) -> dict[str, str]:
    errors = errors_of(exc, "expires_at")
    return {"expires_at": BAD_END} if "expires_at" in errors and exc.status == 422 else errors


@pages.post("/t/{tenant_id}/partners/{link_id}/expiry", name="portal.partner_expiry")
@audited(Category.PARTNER, Operation.UPDATE)
def partner_expiry(ctx: TenantCtx, link_id: uuid.UUID, form: FormDep) -> Response:
    values = {"expires_at": text(form, "expires_at", 40).strip()}
    try:
        links.update_link(ctx.session, ctx.access, link_id, LinkUpdate(expires_at=_end(values["expires_at"])))
    except AppError as exc:
        raise refused(ctx, link_id, exc, _messages(exc), expiry_values=values) from exc
    return redirect(ctx.url("partner", link_id=str(link_id)) + "?done=expiry")


@pages.post("/t/{tenant_id}/partners/{link_id}/renew", name="portal.partner_renew")
@audited(Category.PARTNER, Operation.UPDATE)
def partner_renew(ctx: TenantCtx, link_id: uuid.UUID, form: FormDep) -> Response:
    values = {"expires_at": text(form, "expires_at", 40).strip()}
    try:
        links.renew(ctx.session, ctx.access, link_id, LinkRenew(expires_at=_end(values["expires_at"])))
    except AppError as exc:
        raise refused(ctx, link_id, exc, _messages(exc), expiry_values=values) from exc
    return redirect(ctx.url("partner", link_id=str(link_id)) + "?done=renewed")
