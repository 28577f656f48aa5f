"""The portal's plumbing: one route class that signs the browser in from its session cookie,
checks CSRF on every state-changing request, runs the endpoint in one transaction (as the
API does), and turns every refusal into a page; the templates; the security headers.

A portal endpoint is a plain FastAPI endpoint on a router from ``portal_router()``. It calls
the same services with the same ``Access`` as the API: it never re-implements a rule. See
docs/portal.md for how a page is added.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from roomwarden.access.permissions import name_of as permission_name
from roomwarden.identity import sessions
from roomwarden.identity.http import authenticate, clear_cookie, cookie_name, cross_site, session_cookie
from roomwarden.identity.tenancy import state_caller
from roomwarden.kit import countries
from roomwarden.kit.api import CROSS_SITE_SESSION, SAFE_METHODS, TransactionalRoute, record_refused_attempt
from roomwarden.kit.db import Database
from roomwarden.kit.errors import AppError, Forbidden, Invalid, NotFound
from roomwarden.portal.nav import chrome

log = logging.getLogger("roomwarden.portal")

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
CSRF_FIELD = "csrf_token"

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


# -- refusals the route class turns into pages -----------------------------------------------------


class SignInRequired(Exception):
    """No live session: the browser is sent to /login and comes back afterwards."""


class FormRefused(Exception):
    """A form was refused. The attempt's transaction is rolled back; ``render`` then draws the
    form again — with the values given and the error next to its field — in a fresh
    read-only session, with the refusal's status code."""

    def __init__(self, error: AppError, render: Callable[[Session], Response]) -> None:
        super().__init__(error.detail)
        self.error = error
        self.render = render


def session_of(request: Request) -> sessions.ActiveSession:
    active: sessions.ActiveSession | None = getattr(request.state, "web_session", None)
    if active is None:
        raise SignInRequired
    return active


def public(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an endpoint that answers signed-out browsers too (the sign-in pages)."""
    fn.__public__ = True  # type: ignore[attr-defined]
    return fn


# -- the route class -------------------------------------------------------------------------


def _authenticate(request: Request) -> None:
    """Sign the browser in from its session cookie (``identity.http.authenticate``)."""
    request.state.web_session = None
    request.state.end_cookie = False
    token = request.cookies.get(session_cookie(request))
    if not token:
        return
    check = authenticate(request.app.state.db, request.app.state.settings, token)
    request.state.end_cookie = check.ended
    if check.active is not None:
        request.state.web_session = check.active
        request.state.principal = check.active.principal
        # A page another site sent the browser to may show, but not run an audited read
        # (the export), as in the API (kit.api.TransactionalRoute).
        setattr(request.state, CROSS_SITE_SESSION, cross_site(request))


async def _check_csrf(request: Request, is_public: bool) -> None:
    """Every state-changing request carries the session's CSRF token in its form (signed-out
    forms: the token of a cookie set with the form). A browser's Origin, when sent, must be
    this service."""
    if cross_site(request):
        raise Forbidden("the form was sent from another site")
    form = await request.form()
    given = form.get(CSRF_FIELD)
    given = given if isinstance(given, str) else None
    active: sessions.ActiveSession | None = request.state.web_session
    expected = [active.csrf_token] if active is not None else []
    if is_public:  # the sign-in form, also when sent from a tab opened before signing in
        expected.append(request.cookies.get(cookie_name(request, "roomwarden_login")) or "")
    elif active is None:
        raise SignInRequired
    if not any(token and sessions.csrf_matches(token, given) for token in expected):
        raise Forbidden("the form has expired or did not come from this page")


def _sign_in_redirect(request: Request) -> Response:
    target = request.url.path
    if request.method in SAFE_METHODS and request.url.query:
        target += "?" + request.url.query
    params = [] if target == "/" else [f"next={quote(target, safe='/')}"]
    if request.state.end_cookie:
        params.append("ended=1")
    location = "/login" + ("?" + "&".join(params) if params else "")
    return RedirectResponse(location, status_code=303)


class PortalRoute(TransactionalRoute):
    """Portal endpoints: session sign-in, CSRF, one transaction, and refusals as pages."""

    refuse_unknown_query_parameters = False

    def began(self, request: Request, session: Session) -> None:
        _state_signed_in(request, session)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        is_public = getattr(self.endpoint, "__public__", False)

        async def run(request: Request) -> Response:
            await run_in_threadpool(_authenticate, request)
            try:
                if request.method not in SAFE_METHODS:
                    await _check_csrf(request, is_public)
                if not is_public and request.state.web_session is None:
                    raise SignInRequired
                response = await handler(request)
            except SignInRequired:
                response = _sign_in_redirect(request)
            except FormRefused as exc:
                await run_in_threadpool(record_refused_attempt, request, exc.error)
                if exc.error.status == 404:
                    response = await error_page(request, exc.error)
                else:
                    try:
                        response = await run_in_threadpool(_render_fresh, request, exc.render)
                        response.status_code = exc.error.status
                    except AppError:  # the form itself is no longer the user's to see
                        response = await error_page(request, exc.error)
            except AppError as exc:
                await run_in_threadpool(record_refused_attempt, request, exc)
                response = await error_page(request, exc)
            except RequestValidationError as exc:
                response = await error_page(request, _validation_as_error(exc))
            if request.state.end_cookie and not _sets_cookie(response, session_cookie(request)):
                # a dead cookie is forgotten, unless this very answer gives the browser a new
                # session (a sign-in posted with it): clearing it then would undo the sign-in
                clear_cookie(request, response, session_cookie(request))
            return response

        return run


def _sets_cookie(response: Response, name: str) -> bool:
    prefix = f"{name}=".encode()
    return any(key == b"set-cookie" and value.startswith(prefix) for key, value in response.raw_headers)


def _validation_as_error(exc: RequestValidationError) -> AppError:
    """A malformed id in the path is a page that does not exist; a malformed filter is
    invalid input."""
    if any(err.get("loc", ("",))[0] == "path" for err in exc.errors()):
        return NotFound("page not found")
    return Invalid("the address has a value that is not valid: " + "; ".join(_messages(exc.errors())))


def _messages(errors: Any) -> list[str]:
    return [f"{err['loc'][-1]}: {err['msg']}" for err in errors]


def _state_signed_in(request: Request, session: Session) -> None:
    """The transaction states the signed-in person's tenants (row-level security)."""
    active: sessions.ActiveSession | None = getattr(request.state, "web_session", None)
    if active is not None:
        state_caller(session, active.principal.tenant_id)


def _render_fresh(request: Request, render: Callable[[Session], Response]) -> Response:
    db: Database = request.app.state.db
    with db.transaction(write=False) as s:
        _state_signed_in(request, s)
        return render(s)


def portal_router(**kwargs: Any) -> APIRouter:
    """Portal routes are not part of the API: they stay out of the OpenAPI document."""
    return APIRouter(route_class=PortalRoute, include_in_schema=False, **kwargs)


# -- pages -------------------------------------------------------------------------------------


async def form_data(request: Request) -> FormData:
    """The submitted form (already read, and cached, by the CSRF check)."""
    return await request.form()


def redirect(url: str) -> RedirectResponse:
    """After a successful change: 303, so reloading the next page does not send it again."""
    return RedirectResponse(url, status_code=303)


def render(
    request: Request,
    session: Session | None,
    template: str,
    *,
    status: int = 200,
    access: Any = None,
    current: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page inside the layout: the navigation, the Tenant control and Sign out are drawn
    for the signed-in user (from ``access`` when the page is in a tenant)."""
    active: sessions.ActiveSession | None = getattr(request.state, "web_session", None)
    frame = chrome(request, session, active, access, current) if active and session else None
    context.setdefault("csrf_token", active.csrf_token if active else "")
    html = templates.get_template(template).render(request=request, chrome=frame, **context)
    return HTMLResponse(html, status_code=status)


ERROR_TITLES = {
    401: "Sign-in required",
    403: "Not permitted",
    404: "Page not found",
    405: "Not allowed",
    409: "Conflict",
    422: "Not valid",
    429: "Too many requests",
}


def _error_html(request: Request, status: int, detail: str) -> HTMLResponse:
    db: Database = request.app.state.db
    with db.transaction(write=False) as s:
        _state_signed_in(request, s)
        return render(
            request,
            s,
            "error.html",
            status=status,
            title=ERROR_TITLES.get(status, "Error"),
            status_code=status,
            detail=detail,
        )


NOT_FOUND_TEXT = (
    "There is nothing at this address that you can see. It may have been removed, or it may "
    "belong to a tenant or rooms outside your access."
)


async def error_page(request: Request, error: AppError) -> HTMLResponse:
    """The error page. Every 404 reads the same — a missing object and one outside the
    user's access are indistinguishable; other refusals say why, in words."""
    detail = NOT_FOUND_TEXT if error.status == 404 else _sentence(error.detail)
    return await run_in_threadpool(_error_html, request, error.status, detail)


async def status_page(request: Request, status: int) -> HTMLResponse:
    """Pages for paths no portal route answers (404) or methods it does not (405)."""
    if not hasattr(request.state, "web_session"):
        await run_in_threadpool(_authenticate, request)
    detail = NOT_FOUND_TEXT if status == 404 else "This address does not accept that kind of request."
    return await run_in_threadpool(_error_html, request, status, detail)


PERMISSION_ID = re.compile(r"^[a-z_]+\.[a-z_]+\b")


def _sentence(text: str) -> str:
    """A service's message as a sentence; a permission id that opens it keeps its spelling."""
    text = text.strip()
    if not text:
        return text
    if not PERMISSION_ID.match(text):
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def sentence(text: str) -> str:
    return _sentence(text)


templates.filters["sentence"] = _sentence
#: option lists for the ``select`` macro: value and text alike, or the text capitalised
templates.filters["options"] = lambda xs: [(x, x) for x in xs]
templates.filters["named_options"] = lambda objs: [(str(o.id), o.name) for o in objs]
templates.filters["titled_options"] = lambda xs: [(x, str(x).replace("_", " ").capitalize()) for x in xs]
templates.globals["permission_name"] = permission_name
templates.filters["country"] = countries.label
templates.filters["country_options"] = countries.options
templates.filters["permission_names"] = lambda ps: ", ".join(permission_name(str(p)) for p in ps)


def local_time(moment: datetime, zone: str) -> str:
    """``moment`` as people read it in ``zone`` ("2026-12-07 12:10 CET"); an unknown zone
    reads as UTC."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


templates.filters["local_time"] = local_time


def parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
