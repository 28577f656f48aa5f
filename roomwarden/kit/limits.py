"""Request-body size limit: a body larger than ``ROOMWARDEN_MAX_BODY_BYTES`` is refused with
413 before it is parsed. A declared ``Content-Length`` over the limit is refused before a
byte is read; a body without one (chunked) is counted as it arrives and refused as soon as it
passes the limit, so an oversized request never costs more than the limit in memory."""

from __future__ import annotations

import json
from typing import Any

from roomwarden.kit.errors import AppError


class PayloadTooLarge(AppError):
    status = 413
    title = "Payload too large"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")


class BodySizeLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, _too_large(self.max_bytes))
            return
        seen, overflowed, started = 0, False, False

        async def counted() -> Any:
            nonlocal seen, overflowed
            if overflowed:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # The app sees the client go away: reading the body fails before any
                    # endpoint acts on a truncated one, and its answer is replaced below.
                    overflowed = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: dict[str, Any]) -> None:
            nonlocal started
            if overflowed:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not overflowed:
                raise
        if overflowed and not started:
            await _refuse(send, _too_large(self.max_bytes))


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Any, error: AppError) -> None:
    body = json.dumps(error.problem()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
