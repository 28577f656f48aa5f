"""A real HTTP server on 127.0.0.1 for concurrency tests: requests from several threads
really overlap in the service's worker threads and in the database."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn


@pytest.fixture(scope="module")
def live_url(app, served_url: str | None) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if served_url:  # the run's own `roomwarden serve --workers N`
        yield served_url
        return
    yield from serve_in_thread(app)


def serve_in_thread(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Run ``app`` under uvicorn on a free loopback port until the generator is closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
