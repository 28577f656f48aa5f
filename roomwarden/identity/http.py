"""Identity over HTTP, shared by the API and the portal: the cookies (the portal session's and
a federated sign-in's flow), reading the session at the start of a request, the API's
acceptance of the session, and the guessable proofs a person gives of itself (a current
password, a one-time code), throttled like a sign-in.

The API takes a bearer token first. A request without an ``Authorization`` header may
instead carry the portal's session cookie: a person who signed in at ``/login`` (also
through its organisation's identity provider) can use the API from the same browser — the
interactive API docs, or a test harness sharing the browser's cookies — with exactly the
rights, and the multi-factor fact, of that session. A cookie is sent by the browser on its
own, so a state-changing API request authenticated by it must come from this service's own
origin: a browser's ``Sec-Fetch-Site``/``Origin`` naming another site is refused (403)
before anything runs. Clients that are not browsers send neither header.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roomwarden.identity import account, service, sessions, throttle
from roomwarden.identity.models import User
from roomwarden.identity.principal import Principal
from roomwarden.kit.api import CROSS_SITE_SESSION, SAFE_METHODS
from roomwarden.kit.db import Database, state_tenants
from roomwarden.kit.errors import Conflict, Forbidden, Invalid, Unauthenticated
from roomwarden.kit.limits import send_problem
from roomwarden.settings import Settings

SESSION_COOKIE = "roomwarden_session"
FLOW_COOKIE = "roomwarden_oidc_flow"


# -- cookies -------------------------------------------------------------------------------


def is_https(request: HTTPConnection) -> bool:
    """HTTPS as the browser sees it: the request itself, or the public URL of a service
    behind a TLS-terminating proxy."""
    settings: Settings = request.app.state.settings
    return request.url.scheme == "https" or settings.public_url.startswith("https://")


def cookie_name(request: HTTPConnection, base: str) -> str:
    # The __Host- prefix makes the browser refuse the cookie unless it is Secure, host-only
    # and for path /: a sibling subdomain cannot plant or overwrite it.
    return f"__Host-{base}" if is_https(request) else base


def session_cookie(request: HTTPConnection) -> str:
    return cookie_name(request, SESSION_COOKIE)


def flow_cookie(request: HTTPConnection) -> str:
    """The sealed state of a federated sign-in in progress (``identity.oidc.flow``). Like
    the session's, ``__Host-`` over HTTPS: a sibling subdomain cannot plant another flow's
    cookie to sign the browser in as someone else."""
    return cookie_name(request, FLOW_COOKIE)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=is_https(request))


# -- reading the session ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionCheck:
    #: the live session, or ``None``
    active: sessions.ActiveSession | None
    #: the cookie named a session that is over (expired, signed out, its user gone): the
    #: row is deleted and the browser should forget the cookie
    ended: bool


def authenticate(db: Database, settings: Settings, token: str) -> SessionCheck:
    """Read the session of a cookie before the request's own transaction begins. Touching
    the session and deleting a dead one are small transactions of their own, so a request
    never holds the write lock for its own queries because of them."""
    with db.transaction(write=False) as s:
        active = sessions.read_session(s, settings, token)
    if active is None:
        with db.transaction() as s:
            sessions.end_session(s, token)
        return SessionCheck(None, ended=True)
    if active.stale:
        with db.transaction() as s:
            state_tenants(s, [active.principal.tenant_id])
            sessions.touch(s, active.id)
    return SessionCheck(active, ended=False)


def own_origins(request: HTTPConnection) -> set[str]:
    settings: Settings = request.app.state.settings
    public_url = urlsplit(settings.public_url)
    return {f"{request.url.scheme}://{request.url.netloc}", f"{public_url.scheme}://{public_url.netloc}"}


def cross_site(request: HTTPConnection) -> bool:
    """The browser says the request was started by another site (Fetch Metadata, or the
    ``Origin`` of browsers that do not send it). Non-browser clients send neither. An opaque
    ``Origin: null`` (a sandboxed frame, a redirect from another origin) is not this service:
    a sibling subdomain's sandboxed frame still gets the SameSite=Lax cookie sent along."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    return bool(origin) and origin not in own_origins(request)


# -- the API's acceptance of the session -------------------------------------------------------


class APISessionAuth:
    """Pure ASGI middleware for ``/api/``: a request with no ``Authorization`` header and a
    portal session cookie is signed in as that session (``state.principal``, which the
    API's dependencies take as the caller). Without a live session the request goes on
    unauthenticated and the endpoint answers 401 as it would without a token.

    Responses to such requests are never stored by a cache (``Cache-Control: no-store``,
    ``Vary: Cookie``): they show what one person may see."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        if "authorization" in connection.headers:  # a bearer token comes first, valid or not
            await self.app(scope, receive, send)
            return
        token = connection.cookies.get(session_cookie(connection))
        if not token:
            await self.app(scope, receive, send)
            return
        crossed = cross_site(connection)
        if scope["method"] not in SAFE_METHODS and crossed:
            await send_problem(
                send,
                Forbidden(
                    "a request from another site cannot use the portal's session; "
                    "send a bearer token in the Authorization header"
                ),
            )
            return
        app_state = scope["app"].state
        check = await run_in_threadpool(authenticate, app_state.db, app_state.settings, token)
        if check.active is not None:
            state = scope.setdefault("state", {})
            state["principal"] = check.active.principal
            # a read started by another site answers, but an audited one (a secret) does not
            state[CROSS_SITE_SESSION] = crossed

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Cache-Control"] = "no-store"
                headers.add_vary_header("Cookie")
                # no other site may embed it to probe what the signed-in person can see
                headers["Cross-Origin-Resource-Policy"] = "same-origin"
            await send(message)

        await self.app(scope, receive, send_private)


# -- proofs a person gives of itself -----------------------------------------------------------


def client_host(request: Request) -> str | None:
    return request.client.host if request.client else None


#: wrong guesses: they stay counted; any other outcome gives the attempt back
GUESS_FAILED = (Unauthenticated, Invalid)


@contextmanager
def counted_failures(request: Request, account: str) -> Iterator[None]:
    """Throttle a guessable proof (password, one-time code, recovery code) exactly like a
    sign-in, with the same counters (``identity.throttle``): refused while the account or the
    address is locked, counted in advance, and given back unless the guess was wrong. The
    counting runs in transactions of its own, so the endpoint must be ``read_only`` and make
    its change in one of its own too."""
    settings, db = request.app.state.settings, request.app.state.db
    address = throttle.normalise_address(client_host(request))
    with db.transaction() as own:
        reservation = throttle.reserve(
            own, settings, throttle.normalise_account(account), address, with_second_factor=False
        )
    try:
        yield
    except GUESS_FAILED:
        raise
    except BaseException:
        _give_back(db, settings, reservation)
        raise
    _give_back(db, settings, reservation)


def _give_back(db: Database, settings: Settings, reservation: throttle.Reservation) -> None:
    with db.transaction() as own:
        throttle.release(own, settings, reservation)


def change_own_password(
    request: Request, session: Session, principal: Principal, current: str, new: str
) -> User:
    """The caller changes its own password (API and portal): the current one is a guessable
    proof, throttled like a sign-in; the change ends every earlier token and session of the
    user (``identity.account``). The endpoint is ``read_only``: this writes in transactions
    of its own."""
    user = service.principal_user(session, principal)
    with counted_failures(request, principal.upn):
        if user.password_hash is None:
            raise Conflict(account.NO_PASSWORD)
        if not account.check_current_password(user, current):
            raise Invalid("the current password is not correct", field="current_password")
    with request.app.state.db.transaction(tenants=[principal.tenant_id]) as own:
        return account.change_password(own, principal.user_id, new)
