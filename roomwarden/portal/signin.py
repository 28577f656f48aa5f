"""Sign-in and sign-out (SPEC §7, §9): ``/login`` in two steps — Email, then Password (and
Verification code) for a local account, or the tenant's provider for a federated one — and
``POST /logout``.

Every refusal is a sentence next to the field it concerns, and none tells whether an account
exists: an unknown e-mail and a wrong password read the same, and the second step is the
same for every local address. Failures are throttled by the same counters as the API's
``/api/v1/auth/token``.
"""

from __future__ import annotations

import math
import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from roomwarden.identity import realm, sessions
from roomwarden.identity import signin as identity_signin
from roomwarden.identity.http import (
    clear_cookie,
    client_host,
    cookie_name,
    flow_cookie,
    session_cookie,
    set_cookie,
)
from roomwarden.identity.models import User
from roomwarden.identity.oidc import flow
from roomwarden.kit.api import not_audited, read_only
from roomwarden.kit.errors import TooManyRequests, Unauthenticated
from roomwarden.kit.time import utcnow
from roomwarden.portal.web import form_data, portal_router, public, redirect, render, session_of
from roomwarden.settings import Settings

pages = portal_router()
FormDep = Annotated[FormData, Depends(form_data)]

NOTICES = {
    "ended": "Your session has ended. Sign in again to continue.",
    "signed_out": "You have signed out.",
}
WRONG = "The email address or password is incorrect."
INACTIVE = "This account is deactivated. Ask an administrator of your organisation to reactivate it."
CODE_NEEDED = "Enter the verification code from your authenticator app."
CODE_WRONG = "The verification code is not valid, or it has been used already. Wait for the next code."


def safe_next(value: str | None) -> str:
    """Only a path of this service: never another site (``//evil``, ``/\\evil``, a scheme)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(c in value for c in "\\\r\n\t") or any(ord(c) < 32 for c in value):
        return "/"
    return value


def _login_csrf(request: Request) -> str:
    return request.cookies.get(cookie_name(request, "roomwarden_login")) or secrets.token_urlsafe(32)


def _page(request: Request, status: int = 200, **context: Any) -> Response:
    token = _login_csrf(request)
    context.setdefault("step", "email")
    context.setdefault("email", "")
    context.setdefault("errors", {})
    context.setdefault("notice", None)
    context.setdefault("next_path", "/")
    response = render(request, None, "login.html", status=status, csrf_token=token, **context)
    set_cookie(request, response, cookie_name(request, "roomwarden_login"), token, max_age=3600)
    return response


@pages.get("/login", name="portal.login")
@public
def login_form(request: Request, next: str | None = None, ended: str | None = None) -> Response:
    if request.state.web_session is not None:
        return redirect(safe_next(next))
    notice = NOTICES["ended"] if ended else None
    return _page(request, notice=notice, next_path=safe_next(next))


@pages.get("/signed-out", name="portal.signed_out")
@public
def signed_out(request: Request) -> Response:
    return _page(request, notice=NOTICES["signed_out"])


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


@pages.post("/login")
@public
@read_only
@not_audited("sign-in records its own failures (identity.throttle)")
async def login_submit(request: Request, form: FormDep) -> Response:
    next_path = safe_next(_text(form, "next", 2000))
    email = _text(form, "email", 320).strip().lower()
    if "@" not in email or len(email) < 3 or email.startswith("@") or email.endswith("@"):
        return _page(
            request,
            422,
            email=email,
            next_path=next_path,
            errors={"email": "Enter your email address, for example alice@contoso.com."},
        )
    if _text(form, "step", 20) != "password":
        where = await run_in_threadpool(_discover, request, email, next_path)
        if isinstance(where, flow.ProviderSnapshot):  # ask the provider, no transaction open
            try:
                where = await request.app.state.provider_calls.run(
                    request.scope,
                    where,
                    realm.redirect,
                    request.app.state.settings,
                    where,
                    email,
                    next_path,
                )
            except flow.SignInFailed:
                where = realm.start_page(email, next_path)
        if isinstance(where, realm.Redirect):
            # A page that sends the browser on, not a 303: the browser holds a form's whole
            # redirect chain to this page's CSP form-action 'self', and the provider is
            # another origin. The page's own navigation is not a form submission.
            response = render(request, None, "login_continue.html", url=where.url)
            response.headers["Cache-Control"] = "no-store"
            if where.flow is not None:
                max_age = request.app.state.settings.oidc_flow_seconds
                set_cookie(request, response, flow_cookie(request), where.flow, max_age=max_age)
            return response
        return _page(request, step="password", email=email, next_path=next_path)
    return await _sign_in(request, email, form, next_path)


def _discover(request: Request, email: str, next_path: str) -> realm.Realm | flow.ProviderSnapshot:
    with request.app.state.db.transaction(write=False) as session:
        return realm.discover(session, email, next_path)


async def _sign_in(request: Request, email: str, form: FormData, next_path: str) -> Response:
    """The API's own sign-in (identity.signin): the same throttle counters, the same rules."""
    state = request.app.state
    settings: Settings = state.settings
    password = _text(form, "password", 256)
    code = _text(form, "otp", 32).strip() or None  # a one-time code or a recovery code

    def refuse(status: int, field: str, message: str) -> Response:
        return _page(
            request, status, step="password", email=email, next_path=next_path, errors={field: message}
        )

    if not password:
        return refuse(422, "password", "Enter your password.")
    try:
        outcome = await identity_signin.sign_in(
            state.db,
            settings,
            state.secret_box,
            state.password_hashing,
            username=email,
            password=password,
            otp=code,
            client_host=client_host(request),
            scope=request.scope,
        )
    except TooManyRequests as exc:
        return refuse(429, "password", _retry_message(exc.retry_after))
    except identity_signin.AccountInactive:
        return refuse(403, "password", INACTIVE)
    except identity_signin.SecondFactorRequired:
        return refuse(401, "otp", CODE_WRONG if code else CODE_NEEDED)
    except Unauthenticated:
        return refuse(401, "password", WRONG)
    old = request.cookies.get(session_cookie(request))
    token = await run_in_threadpool(_open_session, request, outcome, old)
    response = redirect(next_path)
    set_cookie(request, response, session_cookie(request), token, max_age=settings.session_absolute_seconds)
    clear_cookie(request, response, cookie_name(request, "roomwarden_login"))
    return response


def _open_session(request: Request, outcome: identity_signin.Outcome, old: str | None) -> str:
    """A new session (and the end of any the browser held: its token is worthless now)."""
    with request.app.state.db.transaction(tenants=[outcome.tenant_id]) as session:
        if old:
            sessions.end_session(session, old)
        user = session.get_one(User, outcome.user_id)
        mfa = outcome.mfa_step is not None
        method = "password+totp" if mfa else "password"
        return sessions.start_session(session, request.app.state.settings, user, mfa=mfa, method=method)


def _retry_message(retry_after: int) -> str:
    minutes = max(1, math.ceil(retry_after / 60))
    at = (utcnow() + timedelta(seconds=retry_after)).strftime("%H:%M")
    unit = "minute" if minutes == 1 else "minutes"
    return (
        f"Too many failed sign-in attempts. Try again in {minutes} {unit} (after {at} UTC), "
        "or ask an administrator to unlock the account."
    )


@pages.post("/logout", name="portal.logout")
@read_only
@not_audited("ends the browser's own session: nothing to refuse")
def logout(request: Request) -> Response:
    """Ends the session on the server: its cookie is worthless from now on, everywhere."""
    session_of(request)
    token = request.cookies.get(session_cookie(request))
    db = request.app.state.db
    if token:
        with db.transaction() as own:
            sessions.end_session(own, token)
    response = redirect("/signed-out")
    clear_cookie(request, response, session_cookie(request))
    return response
