"""What every request leaves behind: a request id (``X-Request-ID``), its metrics and one
access log line. Pure ASGI and outermost, so that it times and counts every answer, the
middleware's own refusals (413, 503) included, and does no more per request than reading one
header, two clock reads, three metric updates and, when enabled, one log line.

The route label is the matched route's template (``/api/v1/tenants/{tenant_id}/rooms/{room_id}``),
never the path, so that the number of series stays bounded; a request no route matched counts
under ``<unmatched>``."""

from __future__ import annotations

import logging
import time
from typing import Any

from roomwarden.kit import metrics, requestid

access_log = logging.getLogger("roomwarden.access")
UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ObserveMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = None
        for name, value in scope["headers"]:
            if name == requestid.HEADER:
                incoming = value
                break
        rid = requestid.accept(incoming)
        token = requestid.current.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        header = (requestid.HEADER, rid.encode("ascii"))
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started, rid)
            requestid.current.reset(token)

    @staticmethod
    def _record(scope: dict[str, Any], status: int, seconds: float, rid: str) -> None:
        route = getattr(scope.get("route"), "path", None) or UNMATCHED
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        metrics.REQUESTS.labels(method, route, str(status)).inc()
        metrics.REQUEST_SECONDS.labels(method, route).observe(seconds)
        metrics.WORKER_REQUESTS.inc()
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "%s %s %s",
                method,
                scope["path"],
                status,
                extra={
                    "request_id": rid,
                    "fields": {
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "client": (scope.get("client") or ("", 0))[0],
                    },
                },
            )
