"""HTTP plumbing shared by every router: one transaction per request, problem+json errors,
and the audit record of refused change attempts."""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, compile_path

from roomwarden.kit import metrics, trip
from roomwarden.kit.db import Database
from roomwarden.kit.errors import AppError, Conflict, Forbidden, Invalid, TooManyRequests
from roomwarden.kit.schemas import SecretBearing

log = logging.getLogger("roomwarden")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PROBLEM = "application/problem+json"
#: ``request.state`` flag: the request was signed in by a credential the browser sends on its
#: own (the portal's session cookie) and the browser says another site started it. It may
#: read, but not run an endpoint that writes, an audited read (a secret) included.
CROSS_SITE_SESSION = "cross_site_session"


#: the headers of a response that carries a secret (kit.schemas.SecretBearing)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def database(request: Request) -> Database:
    return request.app.state.db


class TransactionalRoute(APIRoute):
    """Wraps each endpoint in one database transaction: committed when the endpoint
    returns, rolled back when it raises. Hooks registered on the database (queued e-mail,
    for example) run only after a successful commit."""

    #: a mistyped API filter must not pass for "no filter"; browser pages (the portal) ignore
    #: what they do not read, like any web page
    refuse_unknown_query_parameters = True
    #: called (in the thread pool) as the request's transaction is opened: the portal states
    #: its signed-in caller's tenants there; the API's callers are stated by their dependencies
    began: Callable[[Request, Session], None] | None = None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        trip.one_trip(self)
        handler = super().get_route_handler()
        known = self.query_parameter_names()
        strict = self.refuse_unknown_query_parameters
        model = self.response_model
        secret = isinstance(model, type) and issubclass(model, SecretBearing)

        async def run(request: Request) -> Response:
            # read from the scope: ``getattr`` on ``request.state`` raises and catches an
            # AttributeError on every request without the flag (~2.4 µs on the hot path)
            if request.scope.get("state", {}).get(CROSS_SITE_SESSION, False) and (
                request.method not in SAFE_METHODS or hasattr(self.endpoint, "__audit__")
            ):
                raise Forbidden(
                    "a request started by another site cannot do this with the signed-in session; "
                    "open it from Roomwarden's own pages, or send a bearer token"
                )
            if strict and (unknown := sorted(set(request.query_params) - known)):
                # A mistyped filter must not pass for "no filter".
                raise RequestValidationError(
                    [
                        {"loc": ("query", name), "msg": "unknown query parameter", "type": "extra_forbidden"}
                        for name in unknown
                    ]
                )
            db: Database = request.app.state.db
            writes = not getattr(self.endpoint, "__read_only__", False) and (
                request.method not in SAFE_METHODS or hasattr(self.endpoint, "__audit__")
            )
            session = db.session(write=writes)
            request.state.session = session
            serving = trip.Serving(session, db.after_commit_hooks)
            token = trip.serving.set(serving)
            try:
                if self.began is not None:
                    await run_in_threadpool(self.began, request, session)
                # a synchronous endpoint commits in its own trip through the pool (kit.trip)
                response = await handler(request)
            except Exception:
                if not serving.finished:
                    # what was put off runs first: its refusal is the answer, as it would have been
                    await run_in_threadpool(serving.settle)
                raise
            except BaseException:
                if not serving.finished:
                    await run_in_threadpool(serving.rollback)
                raise
            finally:
                trip.serving.reset(token)
            if not serving.finished:  # an endpoint served on the event loop
                await run_in_threadpool(serving.finish, commit=True)
            if secret:
                response.headers.update(NO_STORE)
            return response

        return run

    def query_parameter_names(self) -> frozenset[str]:
        """The query parameters this route declares, through its dependencies too."""
        names: set[str] = set()
        pending = [self.dependant]
        while pending:
            dependant = pending.pop()
            names.update(field.alias for field in dependant.query_params)
            pending.extend(dependant.dependencies)
        return frozenset(names)


def read_only(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an endpoint whose request transaction only reads, whatever its method: on SQLite
    it then does not hold the write lock, so the endpoint may write in a transaction of its
    own (sign-in records failures that must survive the request's rollback)."""
    fn.__read_only__ = True  # type: ignore[attr-defined]
    return fn


async def get_session(request: Request) -> Session:
    # no I/O: on the event loop, not a trip through the thread pool on every request
    return request.state.session


SessionDep = Annotated[Session, Depends(get_session)]


def problem_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


# -- refused attempts ------------------------------------------------------------------

AuditHook = Callable[[Request, AppError | RequestValidationError | IntegrityError], None]


def audited(category: str, operation: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare what a state-changing endpoint changes, so that a refused attempt can be
    written to the tenant's audit log even though the attempt's transaction rolls back."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__audit__ = (category, operation)  # type: ignore[attr-defined]
        return fn

    return mark


def not_audited(reason: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare that a state-changing endpoint records no refused attempt, and why (it
    changes nothing in a tenant, or records its outcomes itself). Every changing route says
    either this or ``audited``: ``check_refusal_auditing`` refuses to start otherwise."""
    if not reason.strip():
        raise ValueError("not_audited needs a reason")

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__not_audited__ = reason  # type: ignore[attr-defined]
        return fn

    return mark


CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def undeclared_changing_routes(routes: Sequence[BaseRoute]) -> list[str]:
    """The state-changing routes that declare neither ``audited`` nor ``not_audited``.

    Walks included routers too (``iter_route_contexts``): since FastAPI 0.16x an included
    router stays one entry of ``app.routes``."""
    missing = []
    for ctx in iter_route_contexts(routes):
        methods = ctx.methods or set()
        endpoint = ctx.endpoint
        if not methods & CHANGING_METHODS or endpoint is None:
            continue
        if not (hasattr(endpoint, "__audit__") or hasattr(endpoint, "__not_audited__")):
            missing.append(f"{','.join(sorted(methods & CHANGING_METHODS))} {ctx.path}")
    return missing


def check_refusal_auditing(app: FastAPI) -> None:
    """Refuse to build an application with a changing route that says nothing about its
    refused attempts: such a route would silently drop them from the audit log."""
    missing = undeclared_changing_routes(app.routes)
    if missing:
        raise RuntimeError(
            "every state-changing route must declare @audited(...) or @not_audited(reason); "
            "undeclared: " + "; ".join(missing)
        )


def _refusal_hook(request: Request, exc: Exception) -> AuditHook | None:
    """What records this refusal, or None when it is not recorded (decided on the event loop,
    so that a refusal nothing records costs no trip through the thread pool)."""
    hook: AuditHook | None = getattr(request.app.state, "refusal_hook", None)
    endpoint = request.scope.get("endpoint")
    # A route declares what it changes (``audited``); a few refusals are recorded wherever
    # they happen and say so themselves (``audit_as``: a customer's second-factor rule).
    if hook is None or not (hasattr(endpoint, "__audit__") or getattr(exc, "audit_as", None)):
        return None
    return hook


async def _recorded(request: Request, exc: Exception) -> None:
    if _refusal_hook(request, exc) is not None:
        await run_in_threadpool(_record_refusal, request, exc)


def _record_refusal(request: Request, exc: Exception) -> None:
    hook = _refusal_hook(request, exc)
    if hook is None:
        return
    try:
        hook(request, exc)  # type: ignore[arg-type]
    except Exception:  # the refusal itself must still be answered
        log.exception("could not record a refused attempt")


#: for other modules that answer refusals themselves (the portal's pages)
record_refused_attempt = _record_refusal


async def _app_error(request: Request, exc: AppError) -> Response:
    if exc.status == 403 and "access" in request.scope.get("state", {}):
        metrics.AUTHORIZATION.labels("forbidden").inc()  # admitted to the tenant, not to this
    await _recorded(request, exc)
    headers = {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return problem_response(exc.status, exc.problem(), headers)


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        item = {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type")}
        out.append(item)
    return out


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    await _recorded(request, exc)
    errors = _clean_errors(exc.errors())
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in errors)
    body = {
        "type": "https://roomwarden.dev/problems/invalid-input",
        "title": "Invalid input",
        "status": 422,
        "detail": detail or "the request is not valid",
        "errors": errors,
    }
    return problem_response(422, body)


async def _integrity_error(request: Request, exc: IntegrityError) -> Response:
    log.info("integrity error: %s", exc.orig)
    conflict = Conflict("the change conflicts with existing data")
    await _recorded(request, conflict)
    return problem_response(409, conflict.problem())


async def _data_error(request: Request, exc: DataError) -> Response:
    """Values the database refuses (a NUL byte in a query string, say) are invalid input."""
    log.info("data error: %s", exc.orig)
    invalid = Invalid("a value in the request cannot be stored or searched for")
    await _recorded(request, invalid)
    return problem_response(422, invalid.problem())


async def _unavailable(request: Request, exc: OperationalError | PoolTimeout) -> Response:
    """The database is unreachable, busy (a lock or statement timeout) or every pooled
    connection is in use: a temporary condition, so 503 with a hint when to retry."""
    log.error("database unavailable: %s", getattr(exc, "orig", None) or exc)
    body = {
        "type": "https://roomwarden.dev/problems/unavailable",
        "title": "Service unavailable",
        "status": 503,
        "detail": "the database is busy or unreachable; retry shortly",
    }
    return problem_response(503, body, {"Retry-After": "1"})


#: Renders a status page for paths outside the API (the portal's 404 and 405 pages).
HtmlStatusPage = Callable[[Request, int], Awaitable[Response]]


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path (RFC 9110 §15.5.6: a 405 lists
    them all in ``Allow``). The router stops at the first route whose path matches, and each
    route here serves one method, so the router's own ``Allow`` would name only that one."""
    by_template: dict[str, set[str]] = {}
    path = request.url.path
    for ctx in iter_route_contexts(request.app.routes):
        if ctx.path and ctx.methods and _path_regex(ctx.path).match(path):
            by_template.setdefault(ctx.path, set()).update(ctx.methods)
    if not by_template:
        return []
    # ``.../invitations/review`` also matches ``.../invitations/{id}``: the resource is the
    # template with the most literal segments, the one the path names most exactly
    fewest = min(t.count("{") for t in by_template)
    return sorted(set().union(*(m for t, m in by_template.items() if t.count("{") == fewest)))


@functools.lru_cache(maxsize=1024)
def _path_regex(path: str) -> re.Pattern[str]:
    return compile_path(path)[0]


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    html_page: HtmlStatusPage | None = getattr(request.app.state, "html_status_page", None)
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    if html_page is not None and exc.status_code in (404, 405) and not request.url.path.startswith("/api/"):
        page = await html_page(request, exc.status_code)
        if "Allow" in headers:
            page.headers["Allow"] = headers["Allow"]
        return page
    if exc.status_code == 400:  # an unreadable body is invalid input like any other
        invalid = Invalid(f"the request body cannot be read: {exc.detail}")
        await _recorded(request, invalid)
        return problem_response(422, invalid.problem())
    titles = {404: "Not found", 405: "Method not allowed", 401: "Not authenticated"}
    body = {
        "type": "about:blank",
        "title": titles.get(exc.status_code, "HTTP error"),
        "status": exc.status_code,
        "detail": str(exc.detail),
    }
    return problem_response(exc.status_code, body, headers or None)


def install_error_handlers(app: FastAPI) -> None:
    # Starlette types a handler as taking any Exception; each one here takes the class it is
    # registered for, which Starlette guarantees but its types cannot say.
    app.add_exception_handler(AppError, _app_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(IntegrityError, _integrity_error)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _data_error)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(PoolTimeout, _unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]


def path_uuid(request: Request, name: str) -> uuid.UUID | None:
    raw = request.path_params.get(name)
    try:
        return uuid.UUID(str(raw)) if raw is not None else None
    except ValueError:
        return None
