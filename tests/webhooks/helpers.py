"""Webhook receivers for tests: a small threaded HTTP server on this machine that records
every request and answers what the test tells it, and the helpers that drive deliveries."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

from roomwarden.kit.db import Database
from roomwarden.settings import Settings
from roomwarden.webhooks.delivery import Deliverer
from tests.factories import TenantH, World, expect


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def verified(self, secret: str) -> dict[str, Any]:
        """The body, verified with the official library (raises when the signature is wrong)."""
        result: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return result


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    #: the status of each next answer, in order; then ``status``
    answers: list[int] = field(default_factory=list)
    status: int = 204
    delay: float = 0.0

    def bodies(self, secret: str) -> list[dict[str, Any]]:
        return [r.verified(secret) for r in self.requests]

    def types(self) -> list[str]:
        return [json.loads(r.body)["type"] for r in self.requests]


@contextmanager
def receiver(status: int = 204, path: str = "/hook") -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (http: the tests run with ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE)."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = state["r"]
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            rec.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if rec.delay:
                time.sleep(rec.delay)
            code = rec.answers.pop(0) if rec.answers else rec.status
            self.send_response(code)
            if 300 <= code < 400:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}", status=status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["r"]
    finally:
        server.shutdown()
        server.server_close()


def endpoint(world: World, tenant: TenantH, url: str, events: list[str] | None = None) -> dict[str, Any]:
    body = {"url": url, "events": events or ["webhook.test"], "description": "test receiver"}
    return expect(world.post(tenant, "/webhooks", body), 201)


def deliverer(db: Database, settings: Settings, **overrides: Any) -> Deliverer:
    return Deliverer(db, settings.model_copy(update=overrides))


def deliver(d: Deliverer, *tenants: TenantH) -> int:
    """One delivery round over these tenants' events and endpoints."""
    return d.run(tenant_ids=[uuid.UUID(t.id) for t in tenants])


def wait_until(check: Callable[[], bool], seconds: float = 10) -> None:
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.05)
