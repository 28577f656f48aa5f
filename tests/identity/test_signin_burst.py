"""A burst of wrong passwords against `roomwarden serve`, with the production argon2id cost,
while other people work: a sign-in gives up its admission turn while it waits for its hash,
and a long line of them is refused at once (identity.passwords.HashQueue), so the others'
GET /api/v1/me stays fast and nothing answers 5xx. A bounded load test on 127.0.0.1."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter

import httpx2
import pytest

from roomwarden.settings import Settings
from tests.factories import World
from tests.live import roomwarden_serve

BURST = 120
ATTACKERS = 60
ADDRESSES = 4
#: the issue's stated check; a shared 2-core host serves a GET /me in 20-100 ms when unstalled
P95_BOUND = 1.0


@pytest.mark.parametrize(
    "queue",
    [
        "8",  # the default line: most of the burst is refused at once
        "10000",  # no line to speak of: every guess is hashed, each without a turn while it waits
    ],
)
def test_a_burst_of_wrong_passwords_does_not_stall_other_users(
    world: World, settings: Settings, queue: str
) -> None:
    t = world.tenant()
    tag = int(world.tag[:4], 16)
    network = f"10.{tag >> 8}.{tag & 255}"  # addresses of this test's own, unthrottled so far
    others = [world.user(t) for _ in range(3)]
    env = {
        # the production cost: each hash takes real time and memory
        "ROOMWARDEN_ARGON2_TIME_COST": "3",
        "ROOMWARDEN_ARGON2_MEMORY_COST_KIB": "65536",
        "ROOMWARDEN_ARGON2_PARALLELISM": "4",
        # a guess per account, 30 per address: every guess of the burst would be evaluated
        "ROOMWARDEN_SIGNIN_MAX_FAILURES_PER_ADDRESS": "30",
        "ROOMWARDEN_TRUSTED_PROXIES": "127.0.0.1",  # the burst comes from four addresses
        "ROOMWARDEN_PASSWORD_HASH_QUEUE": queue,
    }
    with roomwarden_serve(settings.database_url, 1, env) as url:
        me_statuses: list[int] = []
        me_times: list[float] = []
        stop = threading.Event()

        def working(user_headers: dict[str, str]) -> None:
            with httpx2.Client(base_url=url, timeout=60) as c:
                while not stop.is_set():
                    began = time.monotonic()
                    status = c.get("/api/v1/me", headers=user_headers).status_code
                    me_times.append(time.monotonic() - began)
                    me_statuses.append(status)
                    time.sleep(0.05)

        answers: list[int] = []
        lock = threading.Lock()
        numbers = iter(range(BURST))

        def attacker(c: httpx2.Client) -> None:
            start.wait()
            while True:
                with lock:
                    n = next(numbers, None)
                if n is None:
                    return
                r = c.post(
                    "/api/v1/auth/token",
                    data={"username": f"guess{n}@{t.domain}", "password": f"wrong guess {n}"},
                    headers={"X-Forwarded-For": f"{network}.{n % ADDRESSES + 1}"},
                )
                with lock:
                    answers.append(r.status_code)

        # made beforehand, so that the measuring threads do not share the test process with
        # sixty client set-ups
        clients = [httpx2.Client(base_url=url, timeout=120) for _ in range(ATTACKERS)]
        start = threading.Barrier(ATTACKERS + 1)
        workers = [threading.Thread(target=working, args=(u.headers,)) for u in others]
        for w in workers:
            w.start()
        attackers = [threading.Thread(target=attacker, args=(c,)) for c in clients]
        began = time.monotonic()
        try:
            for a in attackers:
                a.start()
            time.sleep(0.2)
            baseline = len(me_times)
            start.wait()
            began = time.monotonic()
            for a in attackers:
                a.join(timeout=300)
        finally:
            burst_seconds = time.monotonic() - began
            stop.set()
            for w in workers:
                w.join(timeout=60)
            for c in clients:
                c.close()
    during = sorted(me_times[baseline:])
    counts = Counter(answers)
    assert len(answers) == BURST and set(counts) <= {401, 429}, counts
    assert during and set(me_statuses) == {200}, Counter(me_statuses)
    p95 = during[int(0.95 * (len(during) - 1))]
    print(
        f"burst {burst_seconds:.1f} s, answers {dict(counts)}; GET /me during it: n={len(during)} "
        f"median {statistics.median(during):.3f} s p95 {p95:.3f} s max {during[-1]:.3f} s"
    )
    assert p95 < P95_BOUND, during
    if queue == "10000":
        assert counts[401] == BURST, counts
    else:
        assert counts[429] > BURST // 2, counts
