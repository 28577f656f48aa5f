"""Your account (every signed-in person, customer or partner): who you are, how this
session signed in, and the own-account actions of the API — change your password (local
accounts; throttled like a sign-in, ``identity.http.change_own_password``) and sign out
everywhere. Both end every earlier token and session of the person (``identity.account``);
after a password change this browser gets a fresh session, as the API answers a fresh token."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

import segno
from fastapi import Request, Response
from sqlalchemy import select

from roomwarden.audit.service import Category, Operation, record
from roomwarden.identity import account, sessions, totp
from roomwarden.identity.http import (
    change_own_password,
    clear_cookie,
    counted_failures,
    session_cookie,
    set_cookie,
)
from roomwarden.identity.models import User
from roomwarden.identity.schemas import PasswordChange
from roomwarden.kit.api import audited, read_only
from roomwarden.kit.errors import AppError, Invalid
from roomwarden.portal.deps import FormDep
from roomwarden.portal.forms import errors_of, text, validate
from roomwarden.portal.partner_side import PartnerCtx, PartnerCtxDep
from roomwarden.portal.web import FormRefused, portal_router, redirect
from roomwarden.tenants.models import Tenant, TenantSettings

pages = portal_router()
#: the IANA zones a person may choose for the portal's times (tzdata's list)
ZONES = sorted(z for z in available_timezones() if "/" in z or z == "UTC")
METHODS = {
    "password": "a password",
    "password+totp": "a password and a verification code",
    "oidc": "your organisation's identity provider",
}


def _page(
    ctx: PartnerCtx,
    errors: dict[str, str],
    done: str = "",
    *,
    enrolment: dict[str, str] | None = None,
    recovery_codes: list[str] | None = None,
) -> Response:
    user = ctx.session.get_one(User, ctx.principal.user_id)
    response = ctx.page(
        "account.html",
        current=None,
        zones=ZONES,
        tenant_zone=ctx.session.scalar(
            select(TenantSettings.default_time_zone).where(TenantSettings.tenant_id == user.tenant_id)
        )
        or "UTC",
        status=422 if errors else 200,
        enrolment=enrolment,
        recovery_codes=recovery_codes,
        user=user,
        tenant=ctx.session.get_one(Tenant, user.tenant_id),
        method=METHODS.get(ctx.active.method, ctx.active.method),
        mfa=ctx.active.principal.mfa,
        has_password=user.password_hash is not None,
        errors=errors,
        done=done,
    )
    if enrolment or recovery_codes:  # a secret on the page: never kept by the browser or a proxy
        response.headers["Cache-Control"] = "no-store"
    return response


def _own(request: Request, ctx: PartnerCtx) -> None:
    """A refused attempt on one's own account is recorded in one's home tenant, as the API's."""
    request.state.audit_tenant_id = ctx.principal.tenant_id
    request.state.audit_object_id, request.state.audit_object_name = ctx.principal.user_id, ctx.principal.upn


@pages.get("/account", name="portal.account")
def account_page(ctx: PartnerCtxDep, done: str = "") -> Response:
    return _page(ctx, {}, done)


@pages.post("/account/password")
@audited(Category.USER, Operation.UPDATE)
@read_only  # the current password is counted like a sign-in, in transactions of its own
def account_password(request: Request, ctx: PartnerCtxDep, form: FormDep) -> Response:
    values: dict[str, Any] = {
        "current_password": text(form, "current_password", 256),
        "new_password": text(form, "new_password", 256),
    }
    _own(request, ctx)
    try:
        body = validate(PasswordChange, values)
        user = change_own_password(
            request, ctx.session, ctx.principal, body.current_password, body.new_password
        )
    except AppError as exc:
        errors = errors_of(exc, "new_password")
        raise FormRefused(exc, lambda s: _page(ctx.with_session(s), errors)) from exc
    with request.app.state.db.transaction() as own:  # every session ended: this browser's anew
        token = sessions.start_session(
            own, request.app.state.settings, user, mfa=ctx.active.principal.mfa, method=ctx.active.method
        )
    response = redirect(ctx.url("account") + "?done=password")
    set_cookie(
        request,
        response,
        session_cookie(request),
        token,
        max_age=request.app.state.settings.session_absolute_seconds,
    )
    return response


@pages.post("/account/sign-out-everywhere")
@audited(Category.USER, Operation.UPDATE)
def account_sign_out_everywhere(request: Request, ctx: PartnerCtxDep) -> Response:
    """Every token and session of the person ends, this browser's included."""
    _own(request, ctx)
    account.sign_out_everywhere(ctx.session, ctx.principal.user_id)
    response = redirect("/signed-out")
    clear_cookie(request, response, session_cookie(request))
    return response


# -- the second factor (the API's /me/totp..., with the same proofs) ----------------------------


def _qr(uri: str) -> str:
    """The otpauth:// URI as an inline SVG QR code, drawn on the server (no script, no image
    request that could leak the secret)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, title="QR code of your new second factor"))


@pages.post("/account/totp")
@audited(Category.USER, Operation.UPDATE)
@read_only  # the current password is counted like a sign-in, in transactions of its own
def account_totp_begin(request: Request, ctx: PartnerCtxDep, form: FormDep) -> Response:
    """Set up: the current password, then the secret as a QR code and as text, and a field
    for the first code (nothing is required at sign-in until that code is confirmed)."""
    _own(request, ctx)
    password = text(form, "totp_password", 256)
    db = request.app.state.db
    try:
        own_tenant = [ctx.principal.tenant_id]
        with counted_failures(request, ctx.principal.upn), db.transaction(tenants=own_tenant) as own:
            secret, uri = totp.begin(own, ctx.principal, request.app.state.secret_box, password)
    except AppError as exc:
        errors = {"totp_password": errors_of(exc).popitem()[1]}
        raise FormRefused(exc, lambda s: _page(ctx.with_session(s), errors)) from exc
    ctx.session.expire_all()  # the sealed secret was written by the transaction above
    return _page(ctx, {}, enrolment=_enrolment(secret, uri))


def _enrolment(secret: str, uri: str) -> dict[str, str]:
    return {"secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)), "qr": _qr(uri)}


def _pending(ctx: PartnerCtx, request: Request) -> dict[str, str] | None:
    found = totp.pending(ctx.session, ctx.principal, request.app.state.secret_box)
    return _enrolment(*found) if found else None


@pages.post("/account/totp/confirm")
@audited(Category.USER, Operation.UPDATE)
def account_totp_confirm(request: Request, ctx: PartnerCtxDep, form: FormDep) -> Response:
    """Turn on with a code from the app; the recovery codes are shown this once."""
    _own(request, ctx)
    try:
        codes = totp.confirm(ctx.session, ctx.principal, request.app.state.secret_box, text(form, "otp", 64))
    except AppError as exc:
        errors = {"otp": errors_of(exc).popitem()[1]}

        def again(s: Any) -> Response:  # the QR code again, beside the refused code
            c = ctx.with_session(s)
            return _page(c, errors, enrolment=_pending(c, request))

        raise FormRefused(exc, again) from exc
    return _page(ctx, {}, "totp_on", recovery_codes=codes)


@pages.post("/account/totp/disable")
@audited(Category.USER, Operation.UPDATE)
@read_only  # a wrong code counts as a failed sign-in
def account_totp_disable(request: Request, ctx: PartnerCtxDep, form: FormDep) -> Response:
    _own(request, ctx)
    db = request.app.state.db
    try:
        own_tenant = [ctx.principal.tenant_id]
        with counted_failures(request, ctx.principal.upn), db.transaction(tenants=own_tenant) as own:
            totp.disable(own, ctx.principal, request.app.state.secret_box, text(form, "off_otp", 64))
    except AppError as exc:
        errors = {"off_otp": errors_of(exc).popitem()[1]}
        raise FormRefused(exc, lambda s: _page(ctx.with_session(s), errors)) from exc
    return redirect(ctx.url("account") + "?done=totp_off")


@pages.post("/account/totp/recovery-codes")
@audited(Category.USER, Operation.UPDATE)
@read_only  # a wrong code counts as a failed sign-in
def account_totp_recovery_codes(request: Request, ctx: PartnerCtxDep, form: FormDep) -> Response:
    _own(request, ctx)
    db = request.app.state.db
    try:
        own_tenant = [ctx.principal.tenant_id]
        with counted_failures(request, ctx.principal.upn), db.transaction(tenants=own_tenant) as own:
            codes = totp.new_recovery_codes(
                own, ctx.principal, request.app.state.secret_box, text(form, "renew_otp", 64)
            )
    except AppError as exc:
        errors = {"renew_otp": errors_of(exc).popitem()[1]}
        raise FormRefused(exc, lambda s: _page(ctx.with_session(s), errors)) from exc
    ctx.session.expire_all()
    return _page(ctx, {}, "codes", recovery_codes=codes)


@pages.post("/account/time-zone")
@audited(Category.USER, Operation.UPDATE)
def account_time_zone(request: Request, ctx: PartnerCtxDep, form: FormDep) -> Response:
    """The zone the portal shows this person's times in; empty: the organisation's default.
    Times stay UTC underneath (the API, the exports), and each shows its UTC on hover."""
    _own(request, ctx)
    zone = text(form, "time_zone", 64).strip()
    if zone and zone not in ZONES:
        exc = Invalid("choose a time zone from the list", field="time_zone")
        raise FormRefused(
            exc, lambda s: _page(ctx.with_session(s), {"time_zone": "Choose a time zone from the list."})
        )
    user = ctx.session.get_one(User, ctx.principal.user_id)
    if (user.time_zone or "") != zone:
        before = user.time_zone
        user.time_zone = zone or None
        ctx.session.flush()
        record(
            ctx.session,
            tenant_id=user.tenant_id,
            actor=ctx.principal.actor,
            category=Category.USER,
            operation=Operation.UPDATE,
            object_name=user.upn,
            object_id=user.id,
            details={"time_zone": {"from": before, "to": user.time_zone}},
        )
    return redirect(ctx.url("account") + "?done=time_zone")
