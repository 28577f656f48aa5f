"""Request-body size limit: a body larger than ``ROOMWARDEN_MAX_BODY_BYTES`` is refused with
413 before it is parsed. A declared ``Content-Length`` over the limit is refused before a
byte is read; a body without one (chunked) is counted as it arrives and refused as soon as it
passes the limit, so an oversized request never costs more than the limit in memory."""

from __future__ import annotations

import json
from typing import Any

import anyio

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
            await send_problem(send, _too_large(self.max_bytes))
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
            await send_problem(send, _too_large(self.max_bytes))


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def send_problem(send: Any, error: AppError, retry_after: int | None = None) -> None:
    """Answer ``error`` as problem+json from middleware, before the request's body was read
    (so the connection is closed after it)."""
    body = json.dumps(error.problem()).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ServerBusy(AppError):
    status = 503
    title = "Service unavailable"

    def problem(self) -> dict[str, Any]:  # the same problem type as an exhausted database pool
        return {**super().problem(), "type": "https://roomwarden.dev/problems/unavailable"}


class AdmissionMiddleware:
    """At most ``limit`` requests in progress per worker process; the others wait in the
    event loop, holding neither a thread nor a database connection, and are answered 503
    after ``wait_seconds`` without a turn.

    Why: a request's synchronous steps (dependencies, endpoint, commit, the record of a
    refusal) each borrow a thread from the worker's pool for a moment, and a request that
    holds a row lock still needs a thread to commit. Left unbounded, more requests than
    threads could all be waiting on a lock whose holder can never get the thread to release
    it. Admitting no more requests than the pool has threads (``worker_threads``), each using
    one thread at a time, makes that impossible: an admitted request always finds a thread."""

    def __init__(self, app: Any, limit: int, wait_seconds: float) -> None:
        self.app = app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._slots: anyio.Semaphore | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # made on the worker's own event loop
            self._slots = anyio.Semaphore(self.limit, fast_acquire=True)
        admitted = False
        with anyio.move_on_after(self.wait_seconds):
            await self._slots.acquire()
            admitted = True
        if not admitted:
            await send_problem(send, ServerBusy("the server is busy; retry shortly"), retry_after=1)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._slots.release()
