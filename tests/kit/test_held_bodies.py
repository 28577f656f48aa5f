"""Bodies that never arrive, through real sockets against `roomwarden serve`: a request asks
for one of the worker's turns only once its whole body is in (kit.limits), so connections
that send a POST's headers and never its body stall nobody, the liveness check answers
without a turn, and the held connections are answered 408 when the body deadline passes."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx2
import pytest

from roomwarden.settings import Settings
from tests.factories import World
from tests.live import roomwarden_serve

THREADS = 4
HELD = 12 * THREADS  # enough to fill every turn of two workers, however they are spread
BODY_TIMEOUT = 6


def _held_post(base_url: str, path: str, declared: int = 1000) -> socket.socket:
    """A POST whose headers promise ``declared`` bytes of body that never come."""
    address = urlsplit(base_url)
    sock = socket.create_connection((address.hostname, address.port), timeout=60)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {declared}\r\n\r\n".encode()
    )
    return sock


def _answer(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("workers", [1, 2])
def test_bodies_that_never_arrive_hold_no_turn_and_time_out(
    world: World, settings: Settings, workers: int
) -> None:
    t = world.tenant()
    env = {
        "ROOMWARDEN_WORKER_THREADS": str(THREADS),
        "ROOMWARDEN_DB_POOL_TIMEOUT_SECONDS": "10",
        "ROOMWARDEN_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
    }
    with roomwarden_serve(settings.database_url, workers, env) as url:
        held = [_held_post(url, "/api/v1/auth/token") for _ in range(HELD // 2)]
        held += [_held_post(url, f"/api/v1/tenants/{t.id}/room-groups") for _ in range(HELD // 2)]
        opened = time.monotonic()
        time.sleep(0.5)  # every held request has reached the service and waits for its body
        try:
            with httpx2.Client(base_url=url, timeout=30) as c:
                for _ in range(3):
                    for path, headers in (("/healthz", {}), ("/api/v1/me", t.admin.headers)):
                        began = time.monotonic()
                        r = c.get(path, headers=headers)
                        took = time.monotonic() - began
                        # a turn held by a missing body would answer 503 after the 10 s wait
                        assert r.status_code == 200, (path, r.status_code, r.text)
                        assert took < 3, (path, took)
                # a request whose body does arrive is served as usual
                created = c.post(
                    f"/api/v1/tenants/{t.id}/room-groups",
                    json={"name": "while held", "room_ids": []},
                    headers=t.admin.headers,
                )
                assert created.status_code == 201, created.text
            assert time.monotonic() - opened < BODY_TIMEOUT, "the probes took too long to tell"
            # the body deadline ends every held request: 408 problem+json, connection closed
            answers = [_answer(sock) for sock in held]
            waited = time.monotonic() - opened
        finally:
            for sock in held:
                sock.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), {a[:40] for a in answers}
    assert all(b"application/problem+json" in a for a in answers)
    assert BODY_TIMEOUT - 1 < waited < BODY_TIMEOUT + 20, waited


def test_a_body_that_trickles_in_is_bounded_by_the_deadline(world: World, settings: Settings) -> None:
    """A slow drip of bytes does not keep a request alive past the deadline."""
    env = {"ROOMWARDEN_BODY_TIMEOUT_SECONDS": "2"}
    with roomwarden_serve(settings.database_url, 1, env) as url:
        sock = _held_post(url, "/api/v1/auth/token", declared=100)
        try:
            began = time.monotonic()
            sock.settimeout(1)
            answer = b""
            for _ in range(40):
                try:
                    sock.sendall(b"a")
                    answer += sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if answer:
                    break
            took = time.monotonic() - began
        finally:
            sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    assert took < 10, took
