"""Abuse through a real `roomwarden serve` on PostgreSQL: a bounded burst of bad sign-ins
(with rotating X-Forwarded-For), junk bodies and oversized requests from loopback, while a
legitimate client keeps calling GET /api/v1/me. Nothing answers 5xx, the forged addresses
buy no extra guesses, and the legitimate client is served throughout (bounds with a wide margin:
this is not a timing test)."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter

import httpx2
import pytest

from roomwarden.settings import Settings
from tests.conftest import DB_KIND
from tests.factories import World
from tests.live import roomwarden_serve

pytestmark = pytest.mark.skipif(DB_KIND != "postgresql", reason="the abuse test runs on PostgreSQL")


def test_abuse_from_loopback_starves_nobody_and_fails_nothing(world: World, settings: Settings) -> None:
    t = world.tenant()
    victim = world.user(t)
    env = {
        "ROOMWARDEN_SIGNIN_MAX_FAILURES_PER_ADDRESS": "25",
        "ROOMWARDEN_MAX_BODY_BYTES": "65536",
        "ROOMWARDEN_DB_POOL_TIMEOUT_SECONDS": "20",  # above the latency bound below
    }
    with roomwarden_serve(settings.database_url, 1, env) as url:
        me_statuses: list[int] = []
        me_times: list[float] = []
        stop = threading.Event()

        def legitimate() -> None:
            with httpx2.Client(timeout=60) as c:
                while not stop.is_set():
                    began = time.monotonic()
                    me_statuses.append(c.get(f"{url}/api/v1/me", headers=t.admin.headers).status_code)
                    me_times.append(time.monotonic() - began)
                    time.sleep(0.05)

        answers: list[int] = []
        lock = threading.Lock()

        def attacker(n: int) -> None:
            with httpx2.Client(timeout=120) as c:
                for i in range(10):
                    kind = (n + i) % 3
                    if kind == 0:
                        r = c.post(
                            f"{url}/api/v1/auth/token",
                            data={"username": victim.upn, "password": f"guess {n} {i}"},
                            headers={"X-Forwarded-For": f"10.{n}.{i}.1"},
                        )
                    elif kind == 1:
                        r = c.post(
                            f"{url}/api/v1/tenants/{t.id}/rooms",
                            content=b"\\x00{junk" * 50,
                            headers={**t.admin.headers, "content-type": "application/json"},
                        )
                    else:
                        r = c.post(
                            f"{url}/api/v1/tenants/{t.id}/room-groups",
                            content=b"x" * 200_000,
                            headers={**t.admin.headers, "content-type": "application/json"},
                        )
                    with lock:
                        answers.append(r.status_code)

        watcher = threading.Thread(target=legitimate)
        watcher.start()
        attackers = [threading.Thread(target=attacker, args=(n,)) for n in range(12)]
        try:
            for a in attackers:
                a.start()
            for a in attackers:
                a.join(timeout=300)
        finally:
            stop.set()
            watcher.join(timeout=60)
        with httpx2.Client() as c:  # the forged addresses bought nothing: the account is locked
            locked = c.post(f"{url}/api/v1/auth/token", data={"username": victim.upn, "password": "x" * 12})
    counts = Counter(answers)
    assert len(answers) == 120 and all(s < 500 for s in answers), counts
    assert counts[413] == 40 and counts[422] == 40, counts
    assert counts[401] <= settings.signin_max_failures_per_account, counts
    assert locked.status_code == 429
    assert me_statuses and set(me_statuses) == {200}, Counter(me_statuses)
    # Not starved. Measured on a shared 2-core host (load 3-5): median 0.02-0.1 s, slowest
    # 0.1-0.2 s; with three more busy processes on its two cores: median 0.06 s, slowest
    # 0.2 s. The bounds leave a wide margin for a loaded CI machine, yet stay below what
    # starvation looks like: a request that waits for a pooled connection waits out the pool's
    # timeout (20 s here; the original symptom was 32 s), and a stall that slows every request
    # moves the median by seconds.
    assert statistics.median(me_times) < 3, sorted(me_times)
    assert max(me_times) < 10, sorted(me_times)
