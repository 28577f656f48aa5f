"""``GET /metrics``: the Prometheus exposition of kit/metrics.py, for a scraper holding
``ROOMWARDEN_METRICS_TOKEN``. While no token is configured the endpoint does not exist for
anyone (404, as any unknown path); with one, a request without it or with another answers
401. Outside the API's schema and transactions: the token is checked before anything is
read, and the queue depths are one short read of their own."""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from roomwarden.kit import metrics
from roomwarden.kit.api import problem_response
from roomwarden.kit.db import Database, state_tenants_of
from roomwarden.tenants.models import EVERY_TENANT

log = logging.getLogger("roomwarden")
router = APIRouter()


def _refusal(status: int, title: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    headers = {"WWW-Authenticate": 'Bearer realm="metrics"'} if status == 401 else None
    return problem_response(status, body, headers)


@router.get("/metrics", include_in_schema=False)
def scrape(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    expected = token.get_secret_value().encode() if token is not None else b""
    if not expected:
        return _refusal(404, "Not found", "Not Found")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        return _refusal(401, "Not authenticated", "the metrics token is required")
    body, content_type = metrics.render(queue_depths(request.app.state.db))
    return Response(body, media_type=content_type)


def queue_depths(db: Database) -> dict[str, int]:
    """What waits in each queue (kit.metrics.queue_depths); none when the database cannot
    answer (the scrape still reports everything else). A queue holds every tenant's work: the
    scrape counts across all of them (row-level security: it states every tenant), and reads
    nothing but the counts."""
    session = db.session(write=False)
    try:
        state_tenants_of(session, EVERY_TENANT)
        return {name: count(session) for name, count in metrics.queue_depths.items()}
    except SQLAlchemyError as exc:
        log.warning("metrics: queue depths not read: %s", exc)
        return {}
    finally:
        session.close()
