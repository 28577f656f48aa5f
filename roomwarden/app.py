"""The ASGI application."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from roomwarden import __version__
from roomwarden.api.access import api as roles_api
from roomwarden.api.access import catalogue
from roomwarden.api.approvals import customer as approvals_customer
from roomwarden.api.approvals import partner as approvals_partner
from roomwarden.api.audit import api as audit_api
from roomwarden.api.devices import api as devices_api
from roomwarden.api.devices import rooms as suppressions_api
from roomwarden.api.elevation import customer as elevation_customer
from roomwarden.api.elevation import partner as elevation_partner
from roomwarden.api.identity import auth, directory, operator_users
from roomwarden.api.metrics import router as metrics_api
from roomwarden.api.oidc import api as identity_provider_api
from roomwarden.api.oidc import browser as oidc_browser
from roomwarden.api.partners import customer as partners_customer
from roomwarden.api.partners import partner as partners_partner
from roomwarden.api.reports import customer as reports_customer
from roomwarden.api.reports import partner as reports_partner
from roomwarden.api.rooms import api as rooms_api
from roomwarden.api.software import api as releases_api
from roomwarden.api.software import operator as operator_releases
from roomwarden.api.tenants import api as settings_api
from roomwarden.api.tenants import operator
from roomwarden.api.webhooks import api as webhooks_api
from roomwarden.audit import keys as audit_keys
from roomwarden.audit.keys import AuditKeys
from roomwarden.audit.refusals import record_refusal
from roomwarden.identity.http import APISessionAuth
from roomwarden.identity.oidc.flow import ProviderCalls
from roomwarden.identity.passwords import HashQueue
from roomwarden.kit.api import check_refusal_auditing, install_error_handlers, problem_response
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import Database
from roomwarden.kit.limits import AdmissionMiddleware, RequestBodyMiddleware
from roomwarden.kit.observe import ObserveMiddleware
from roomwarden.kit.openapi import install_openapi
from roomwarden.kit.proxy import TrustedProxyMiddleware
from roomwarden.kit.routeindex import install as install_route_index
from roomwarden.kit.routing import operation_id
from roomwarden.portal import install as install_portal
from roomwarden.settings import Settings, get_settings
from roomwarden.wiring import build_services
from roomwarden.wiring import install as install_domain

log = logging.getLogger("roomwarden")


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    install_domain()
    settings = settings or get_settings()
    settings.check_production_ready()
    database = db or Database(
        settings.database_url, pool=settings.pool(), row_security=settings.database_row_security
    )

    services = build_services(settings, database)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Synchronous endpoints run in anyio's default thread pool; its size is the
        # worker's concurrency (as many requests are admitted at once: kit.limits), and the
        # database pool is sized from it (settings.pool()).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        # Everything built at start-up lives as long as the process: move it out of the
        # collector's generations, so full collections stop walking it on every request burst.
        gc.collect()
        gc.freeze()
        if problem := database.login_problem():
            raise RuntimeError(problem)
        if settings.jobs_in_serve:
            services.runner.start()
        yield
        services.runner.stop()
        if db is None:
            database.dispose()

    app = FastAPI(
        title="Roomwarden",
        version=__version__,
        description="Meeting-room fleets with scoped delegation to partner organisations.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # served from the package's own assets: see kit.openapi
        redoc_url=None,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    install_openapi(app)
    app.state.settings = settings
    app.state.db = database
    app.state.secret_box = SecretBox(settings.encryption_key.get_secret_value())
    app.state.refusal_hook = record_refusal
    audit_keys.install(AuditKeys.from_settings(settings))
    app.state.mailer = services.mailer
    app.state.jobs = services.runner
    app.state.password_hashing = HashQueue(settings.password_hash_concurrency, settings.password_hash_queue)
    # A step asks its provider twice at most (code and key set), each request bounded by the
    # HTTP timeout; the deadline bounds a provider that answers byte by byte.
    app.state.provider_calls = ProviderCalls(
        settings.oidc_provider_threads,
        settings.oidc_calls_per_provider,
        deadline=2 * settings.oidc_http_timeout_seconds,
    )
    # Innermost first: the API's session sign-in runs after admission, on an admitted turn,
    # and a request asks for a turn only once its whole body is in (kit.limits).
    app.add_middleware(APISessionAuth)
    app.add_middleware(TrustedProxyMiddleware, networks=settings.trusted_proxies)
    app.add_middleware(
        AdmissionMiddleware, limit=settings.worker_threads, wait_seconds=settings.db_pool_timeout_seconds
    )
    app.add_middleware(
        RequestBodyMiddleware,
        max_bytes=settings.max_body_bytes,
        timeout_seconds=settings.body_timeout_seconds,
    )
    # Outermost: every answer gets its request id, metrics and access line (kit/observe.py).
    app.add_middleware(ObserveMiddleware)
    install_error_handlers(app)
    app.include_router(metrics_api)
    routers = (
        operator,
        operator_users,
        auth,
        catalogue,
        directory,
        identity_provider_api,
        oidc_browser,
        rooms_api,
        roles_api,
        settings_api,
        audit_api,
        partners_customer,
        partners_partner,
        reports_customer,
        reports_partner,
        approvals_customer,
        approvals_partner,
        elevation_customer,
        elevation_partner,
        devices_api,
        suppressions_api,
        operator_releases,
        releases_api,
        webhooks_api,
    )
    for r in routers:
        app.include_router(r)
    install_portal(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        # on the event loop and without an admission turn (kit.limits.LIVENESS_PATHS): alive
        # is alive, however busy the worker's threads are
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        try:
            with database.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means "not ready"
            log.warning("readiness check failed: %s", exc)
            return problem_response(
                503,
                {
                    "type": "about:blank",
                    "title": "Service unavailable",
                    "status": 503,
                    "detail": "the database is unreachable",
                },
            )
        return JSONResponse({"status": "ready"})

    check_refusal_auditing(app)
    install_route_index(app)
    return app
