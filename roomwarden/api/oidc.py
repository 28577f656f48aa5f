"""HTTP: the tenant's identity-provider settings (API, Global admin) and the browser's
round trip (``/auth/oidc/start``, ``/auth/oidc/token``, ``/auth/oidc/callback``).

The browser endpoints never answer a bare error: every failure is a readable page, and
where the tenant is known, a ``SignIn`` record of its audit log. They wait on the provider
outside any write transaction; only the provisioning at the end writes, in one of its own.
"""

from __future__ import annotations

import functools
import logging
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from roomwarden.access.deps import GlobalAdminDep
from roomwarden.audit.service import Actor, Category, Operation, Result, record
from roomwarden.identity import sessions
from roomwarden.identity.http import (
    clear_cookie,
    cross_site,
    flow_cookie,
    own_origins,
    session_cookie,
    set_cookie,
)
from roomwarden.identity.models import User
from roomwarden.identity.oidc import config, flow
from roomwarden.identity.oidc.schemas import IdentityProviderRead, IdentityProviderUpdate
from roomwarden.identity.tokens import issue_for
from roomwarden.kit.api import SessionDep, audited, not_audited, read_only
from roomwarden.kit.routing import router
from roomwarden.settings import Settings
from roomwarden.tenants.models import Tenant

log = logging.getLogger("roomwarden")
api = router(prefix="/api/v1/tenants/{tenant_id}", tags=["identity provider"])
browser = router(tags=["browser sign-in"], include_in_schema=False)
_pages = Environment(
    loader=PackageLoader("roomwarden.identity.oidc", "templates"), autoescape=select_autoescape()
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}

Email = Annotated[str | None, Query(max_length=320, description="the e-mail the person signs in with")]
Next = Annotated[str | None, Query(max_length=500, description="where to go after signing in (a path)")]
FormEmail = Annotated[str | None, Form(max_length=320)]
FormNext = Annotated[str | None, Form(max_length=500)]


# -- settings (API) ----------------------------------------------------------------------------


@api.get("/identity-provider", response_model=IdentityProviderRead)
def get_identity_provider(
    request: Request, session: SessionDep, access: GlobalAdminDep
) -> IdentityProviderRead:
    """The tenant's identity source. The client secret is never returned."""
    return config.read(session, request.app.state.settings, access.tenant_id)


@api.put("/identity-provider", response_model=IdentityProviderRead)
@audited(Category.IDENTITY_PROVIDER, Operation.UPDATE)
@read_only
def put_identity_provider(
    request: Request, session: SessionDep, access: GlobalAdminDep, body: IdentityProviderUpdate
) -> IdentityProviderRead:
    """Switch the tenant to OpenID Connect (the provider is checked by discovery first) or
    back to local accounts; users are kept either way."""
    settings, db = request.app.state.settings, request.app.state.db
    body = config.check_provider(settings, body)  # waits on the network: before any write
    with db.transaction(tenants=[access.tenant_id]) as own:
        config.update(own, access, request.app.state.secret_box, body)
    with db.transaction(write=False, tenants=[access.tenant_id]) as fresh:
        return config.read(fresh, settings, access.tenant_id)


# -- the browser's round trip ------------------------------------------------------------------


def _page(template: str, status: int = 200, **values: object) -> HTMLResponse:
    return HTMLResponse(_pages.get_template(template).render(**values), status_code=status, headers=NO_STORE)


def _refused(request: Request, failure: flow.SignInFailed, entered: str | None = None) -> HTMLResponse:
    """A readable page, and the failure in the tenant's audit log (when the tenant is known),
    with the e-mail the person typed at /login (``entered``) when there was one."""
    typed = {"email_entered": entered} if entered else {}
    if failure.tenant_id is not None:
        try:
            with request.app.state.db.transaction(tenants=[failure.tenant_id]) as own:
                if own.get(Tenant, failure.tenant_id) is not None:
                    record(
                        own,
                        tenant_id=failure.tenant_id,
                        actor=Actor(None, None, ref="anonymous"),
                        category=Category.SIGN_IN,
                        operation=Operation.CREATE,
                        object_name="OpenID Connect sign-in",
                        result=Result.FAILED,
                        details={
                            "status": failure.status,
                            "reason": failure.message,
                            **typed,
                            **failure.details,
                        },
                    )
        except Exception:  # the person must still get its answer
            log.exception("could not record a refused sign-in")
    response = _page("refused.html", failure.status, title="Sign-in failed", message=failure.message)
    _forget_flow(request, response)
    return response


async def _begin(
    request: Request, email: str | None, purpose: str, next_path: str | None, *, confirmed: bool = False
) -> Response:
    """Read the provider's settings in a short transaction, then ask the provider (discovery)
    with none open and no request thread held (``flow.ProviderCalls``). A sign-in the
    person ``confirmed`` with our form moves on by a page, not a 303: the browser holds a
    form's redirects to the page's CSP form-action 'self', and the provider is elsewhere."""
    state = request.app.state
    settings: Settings = state.settings

    def provider() -> flow.ProviderSnapshot | None:
        with state.db.transaction(write=False) as session:
            tenant = flow.realm(session, email or "")
            return None if tenant is None else flow.provider_snapshot(session, tenant.id)

    try:
        snapshot = await run_in_threadpool(provider)
        if snapshot is None:
            return _page(
                "refused.html",
                404,
                title="Sign-in failed",
                message="no organisation that signs in with its own identity provider uses this "
                "e-mail domain",
            )
        redirect = await state.provider_calls.run(
            request.scope,
            snapshot,
            functools.partial(
                flow.start, settings, snapshot, email=email, purpose=purpose, next_path=next_path or "/"
            ),
        )
    except flow.SignInFailed as failure:
        return await run_in_threadpool(_refused, request, failure, email)
    response: Response
    if confirmed:
        response = _page("continue.html", title="Signing in", url=redirect.url)
    else:
        response = RedirectResponse(redirect.url, status_code=303, headers=NO_STORE)
    # SameSite=Lax: sent on the provider's top-level redirect back, not on cross-site posts
    set_cookie(request, response, flow_cookie(request), redirect.cookie, max_age=settings.oidc_flow_seconds)
    return response


def _sent_from_elsewhere(request: Request) -> bool:
    """Another site started this request: Fetch Metadata says so, or a browser that sends
    none names another origin as ``Origin`` or ``Referer``. A typed address, a bookmark and
    Roomwarden's own pages are not."""
    if cross_site(request):
        return True
    referer = request.headers.get("referer")
    if request.headers.get("sec-fetch-site") is None and referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}" not in own_origins(request)
    return False


def _confirm(request: Request, email: str | None, next_path: str | None) -> HTMLResponse:
    """Login CSRF: another site may not start a sign-in that would end this browser's session
    and open one as someone else. It gets this page, which touches no cookie; the sign-in
    starts only when the person sends its form, from this service's own origin."""
    return _page("confirm.html", title="Sign in", action=request.url.path, email=email, next=next_path)


async def _start(
    request: Request, email: str | None, purpose: str, next_path: str | None, *, posted: bool
) -> Response:
    if not posted:
        if _sent_from_elsewhere(request):
            return _confirm(request, email, next_path)
        return await _begin(request, email, purpose, next_path)
    if _sent_from_elsewhere(request):
        return _page(
            "refused.html",
            403,
            title="Sign-in failed",
            message="a sign-in is confirmed on Roomwarden's own page only; please sign in again",
        )
    return await _begin(request, email, purpose, next_path, confirmed=True)


@browser.get("/auth/oidc/start")
@read_only
async def start_sign_in(request: Request, email: Email = None, next: Next = None) -> Response:
    """Send the person to its organisation's provider; back at the callback it gets a portal
    session. ``/login`` sends OpenID Connect tenants here. Sent from another site, it asks
    the person first (``_confirm``)."""
    return await _start(request, email, "portal", next, posted=False)


@browser.post("/auth/oidc/start")
@read_only
@not_audited("starts a sign-in like the GET; its failures are recorded as the GET's are")
async def confirm_sign_in(request: Request, email: FormEmail = None, next: FormNext = None) -> Response:
    """The person confirmed, on this service's own page, a sign-in another site started."""
    return await _start(request, email, "portal", next, posted=True)


@browser.get("/auth/oidc/token")
@read_only
async def start_token_sign_in(request: Request, email: Email = None) -> Response:
    """Sign in at the provider and get an API bearer token for scripts, shown once."""
    return await _start(request, email, "token", None, posted=False)


@browser.post("/auth/oidc/token")
@read_only
@not_audited("starts a sign-in like the GET; its failures are recorded as the GET's are")
async def confirm_token_sign_in(request: Request, email: FormEmail = None) -> Response:
    """The person confirmed a token sign-in another site started."""
    return await _start(request, email, "token", None, posted=True)


@browser.get("/auth/oidc/callback")
@read_only
async def callback(
    request: Request,
    state: Annotated[str | None, Query(max_length=500)] = None,
    code: Annotated[str | None, Query(max_length=4000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """The redirect URI to register at the provider: ``{ROOMWARDEN_PUBLIC_URL}/auth/oidc/callback``.

    Three steps, none of which waits on the provider inside a transaction: the flow is
    recorded as used and the provider's settings read (one short transaction); the code is
    exchanged and the ID token validated (``flow.ProviderCalls``: no transaction, no request
    thread, a deadline); the user is found or provisioned (one short transaction)."""
    app_state = request.app.state
    settings: Settings = app_state.settings
    started = flow.open_flow(settings, request.cookies.get(flow_cookie(request)))
    answer = flow.Callback(state=state, code=code, error=error, error_description=error_description)
    db = app_state.db
    try:
        checked = flow.check_callback(settings, started, answer)
        assert code is not None

        def consume() -> flow.ProviderSnapshot:
            with db.transaction() as own:
                return flow.consume(own, settings, checked)

        provider = await run_in_threadpool(consume)
        token_claims = await app_state.provider_calls.run(
            request.scope, provider, flow.claims, settings, app_state.secret_box, provider, checked, code
        )

        def provision() -> flow.FederatedSignIn:
            with db.transaction() as own:
                return flow.provision(own, provider, token_claims)

        result = await run_in_threadpool(provision)
        response = await run_in_threadpool(_finish, request, checked, result)
    except flow.SignInFailed as failure:
        return await run_in_threadpool(_refused, request, failure, started.email if started else None)
    _forget_flow(request, response)
    return response


def _forget_flow(request: Request, response: Response) -> None:
    """The flow cookie is single-use."""
    clear_cookie(request, response, flow_cookie(request))


def _finish(request: Request, started: flow.Flow, result: flow.FederatedSignIn) -> Response:
    settings: Settings = request.app.state.settings
    user = result.user
    if started.purpose == "token":
        token = issue_for(settings, user, mfa=result.mfa, federated=True)
        return _page(
            "api_token.html",
            title="API token",
            upn=user.upn,
            mfa=result.mfa,
            token=token,
            minutes=settings.token_ttl_seconds // 60,
        )
    return _portal_session(request, started, result)


def _portal_session(request: Request, started: flow.Flow, result: flow.FederatedSignIn) -> Response:
    """A portal session (``identity.sessions``) carrying the sign-in's MFA fact, replacing
    any the browser held, then on to the page the person asked for."""
    settings: Settings = request.app.state.settings
    old = request.cookies.get(session_cookie(request))
    with request.app.state.db.transaction(tenants=[result.user.tenant_id]) as own:
        if old:
            sessions.end_session(own, old)
        user = own.get_one(User, result.user.id)
        token = sessions.start_session(own, settings, user, mfa=result.mfa, method="oidc")
    response = RedirectResponse(started.next, status_code=303, headers=NO_STORE)
    set_cookie(request, response, session_cookie(request), token, max_age=settings.session_absolute_seconds)
    return response
