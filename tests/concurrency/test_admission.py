"""More concurrent writers than a worker has threads: requests queue for a turn instead of
starving the request that holds the lock of the thread it needs to commit (kit.limits)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest

from roomwarden.app import create_app
from roomwarden.kit.db import Database
from roomwarden.kit.limits import AdmissionMiddleware
from roomwarden.settings import Settings
from tests.concurrency.conftest import serve_in_thread
from tests.factories import World, expect

THREADS = 2
WRITERS = 12


@pytest.fixture(scope="module")
def narrow_url(settings: Settings, db: Database) -> Iterator[str]:
    """A server whose worker has only two request threads, over the test database."""
    app = create_app(settings.model_copy(update={"worker_threads": THREADS}), db)
    yield from serve_in_thread(app)


def _together(calls: list[Callable[[httpx2.Client], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        with httpx2.Client(timeout=30) as client:
            barrier.wait()
            try:
                results[i] = calls[i](client).status_code
            except httpx2.TimeoutException:
                results[i] = "timed out"

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    return results


@pytest.mark.parametrize("round_", range(3))
def test_more_writers_of_one_tenant_than_threads_all_get_through(
    world: World, narrow_url: str, round_: int
) -> None:
    """Every room creation locks the tenant's audit chain head; with six times more writers
    than threads, each still gets its turn and its 201."""
    t = world.tenant()
    url = f"{narrow_url}/api/v1/tenants/{t.id}/rooms"

    def create(i: int) -> Callable[[httpx2.Client], Any]:
        body = {"name": f"R{i}", "resource_account": f"r{i}@{t.domain}", "country": "FR"}
        return lambda c: c.post(url, json=body, headers=t.admin.headers)

    assert _together([create(i) for i in range(WRITERS)]) == [201] * WRITERS
    page = expect(world.client.get(f"/api/v1/tenants/{t.id}/rooms?limit=100", headers=t.admin.headers), 200)
    assert len(page["items"]) == WRITERS


def test_refused_writers_beyond_the_thread_count_are_recorded_and_answered(
    world: World, narrow_url: str
) -> None:
    """Refusals are written to the audit log in a transaction of their own after the
    request's rolls back: they too must find a thread while others hold the chain."""
    t = world.tenant()
    stranger = world.user(t)  # no role: every change is refused and recorded
    url = f"{narrow_url}/api/v1/tenants/{t.id}/rooms"

    def attempt(i: int) -> Callable[[httpx2.Client], Any]:
        who = t.admin if i % 2 else stranger
        body = {"name": f"R{i}", "resource_account": f"r{i}@{t.domain}", "country": "FR"}
        return lambda c: c.post(url, json=body, headers=who.headers)

    results = _together([attempt(i) for i in range(WRITERS)])
    assert results == [403 if i % 2 == 0 else 201 for i in range(WRITERS)]
    audit = f"/api/v1/tenants/{t.id}/audit-logs?user_id={stranger.id}&limit=100"
    refused = expect(world.client.get(audit, headers=t.admin.headers), 200)["items"]
    assert len(refused) == WRITERS // 2 and all(r["result_status"] == "Failed" for r in refused)


def test_a_request_without_a_turn_in_time_is_answered_503() -> None:
    """The wait for a turn is bounded: past it the caller gets problem+json 503 and a
    Retry-After, and the request never reaches the application."""
    reached: list[str] = []
    release = asyncio.Event()

    async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    admission = AdmissionMiddleware(slow_app, limit=1, wait_seconds=0.2)

    async def call(path: str) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await admission({"type": "http", "path": path, "headers": []}, receive, send)
        return sent

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        first = asyncio.create_task(call("/first"))
        await asyncio.sleep(0.05)
        refused = await call("/second")
        release.set()
        third = await call("/third")
        return await first, refused, third

    # In a thread of its own: a browser test earlier in this process (Playwright's sync API)
    # may have left the main thread's event loop running, where asyncio.run cannot start.
    with ThreadPoolExecutor(1) as pool:
        first, refused, third = pool.submit(lambda: asyncio.run(scenario())).result(timeout=30)
    assert reached == ["/first", "/third"]
    assert first[0]["status"] == 204 and third[0]["status"] == 204
    start = refused[0]
    assert start["status"] == 503
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/problem+json" and headers[b"retry-after"] == b"1"
    assert json.loads(refused[1]["body"])["type"] == "https://roomwarden.dev/problems/unavailable"
