"""What a request must pass before it gets a turn: its whole body, bounded in size and in time
(:class:`RequestBodyMiddleware`), then a place among the requests a worker runs at once
(:class:`AdmissionMiddleware`).

A body larger than ``ROOMWARDEN_MAX_BODY_BYTES`` is refused with 413: a declared
``Content-Length`` over the limit before a byte is read, a body without one (chunked) as soon
as it passes the limit, so an oversized request never costs more than the limit in memory. A
body that is not in within ``ROOMWARDEN_BODY_TIMEOUT_SECONDS`` is refused with 408. Only a
request whose body is in asks for a turn: a client that sends headers and never the body
holds a connection and a buffer, never one of the worker's turns."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio

from roomwarden.kit.errors import AppError


class PayloadTooLarge(AppError):
    status = 413
    title = "Payload too large"


class BodyTimeout(AppError):
    status = 408
    title = "Request timeout"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")


class RequestBodyMiddleware:
    """Read the request's whole body before anything else sees the request, within
    ``max_bytes`` (else 413) and ``timeout_seconds`` (else 408), then hand it on in one piece.
    Outermost: the admission limit and every thread-bound step come after the body is in."""

    def __init__(self, app: Any, max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await send_problem(send, _too_large(self.max_bytes))
            return
        if not declared and not _has_header(scope, b"transfer-encoding"):
            await self.app(scope, receive, send)  # no body: nothing to wait for
            return
        chunks: list[bytes] = []
        seen = 0
        with anyio.move_on_after(self.timeout_seconds) as deadline:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client went away: nobody to answer
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > self.max_bytes:
                    await send_problem(send, _too_large(self.max_bytes))
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        if deadline.cancelled_caught:
            await send_problem(
                send, BodyTimeout(f"the request body did not arrive within {self.timeout_seconds:g} s")
            )
            return
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Any:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only the client's disconnect

        await self.app(scope, replay, send)


def _has_header(scope: dict[str, Any], wanted: bytes) -> bool:
    return any(name.lower() == wanted for name, _ in scope.get("headers", ()))


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


#: where an admitted request's :class:`Turn` is kept in its ASGI scope
TURN = "roomwarden.turn"


class Turn:
    """An admitted request's place among those its worker runs at once. A request that must
    wait for something needing neither a thread nor a connection (the password-hash queue)
    steps aside while it waits, and queues again for a turn afterwards."""

    def __init__(self, slots: anyio.Semaphore, wait_seconds: float) -> None:
        self._slots = slots
        self._wait_seconds = wait_seconds
        self.held = True

    @asynccontextmanager
    async def stepped_aside(self) -> AsyncIterator[None]:
        self._slots.release()
        self.held = False
        try:
            yield
        finally:
            with anyio.move_on_after(self._wait_seconds):
                await self._slots.acquire()
                self.held = True
        if not self.held:
            raise ServerBusy("the server is busy; retry shortly")


@asynccontextmanager
async def stepped_aside(scope: MutableMapping[str, Any]) -> AsyncIterator[None]:
    """Give up the request's turn for the block (nothing to give up outside the admission
    limit)."""
    turn: Turn | None = scope.get(TURN)
    if turn is None:
        yield
        return
    async with turn.stepped_aside():
        yield


#: answered without a turn (and on the event loop: their endpoints are ``async``)
LIVENESS_PATHS = frozenset({"/healthz"})


class AdmissionMiddleware:
    """At most ``limit`` requests in progress per worker process; the others wait in the
    event loop, holding neither a thread nor a database connection, and are answered 503
    after ``wait_seconds`` without a turn.

    Why: a request's synchronous steps (dependencies, endpoint, commit, the record of a
    refusal) each borrow a thread from the worker's pool for a moment, and a request that
    holds a row lock still needs a thread to commit. Left unbounded, more requests than
    threads could all be waiting on a lock whose holder can never get the thread to release
    it. Admitting no more requests than the pool has threads (``worker_threads``), each using
    one thread at a time, makes that impossible: an admitted request always finds a thread.

    The liveness check (``/healthz``) needs no turn: it answers on the event loop, so a worker
    whose turns are all taken still says it is alive."""

    def __init__(self, app: Any, limit: int, wait_seconds: float) -> None:
        self.app = app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._slots: anyio.Semaphore | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in LIVENESS_PATHS:
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
        turn = scope[TURN] = Turn(self._slots, self.wait_seconds)
        try:
            await self.app(scope, receive, send)
        finally:
            if turn.held:
                self._slots.release()
