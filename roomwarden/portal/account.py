"""Your account (every signed-in person, customer or partner): who you are, how this
session signed in, and the own-account actions of the API — change your password (local
accounts; throttled like a sign-in, ``identity.http.change_own_password``) and sign out
everywhere. Both end every earlier token and session of the person (``identity.account``);
after a password change this browser gets a fresh session, as the API answers a fresh token."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from roomwarden.audit.service import Category, Operation
from roomwarden.identity import account, sessions
from roomwarden.identity.http import change_own_password, clear_cookie, session_cookie, set_cookie
from roomwarden.identity.models import User
from roomwarden.identity.schemas import PasswordChange
from roomwarden.kit.api import audited, read_only
from roomwarden.kit.errors import AppError
from roomwarden.portal.deps import FormDep
from roomwarden.portal.forms import errors_of, text, validate
from roomwarden.portal.partner_side import PartnerCtx, PartnerCtxDep
from roomwarden.portal.web import FormRefused, portal_router, redirect
from roomwarden.tenants.models import Tenant

pages = portal_router()
METHODS = {
    "password": "a password",
    "password+totp": "a password and a verification code",
    "oidc": "your organisation's identity provider",
}


def _page(ctx: PartnerCtx, errors: dict[str, str], done: str = "") -> Response:
    user = ctx.session.get_one(User, ctx.principal.user_id)
    return ctx.page(
        "account.html",
        current=None,
        status=422 if errors else 200,
        user=user,
        tenant=ctx.session.get_one(Tenant, user.tenant_id),
        method=METHODS.get(ctx.active.method, ctx.active.method),
        mfa=ctx.active.principal.mfa,
        has_password=user.password_hash is not None,
        errors=errors,
        done=done,
    )


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
