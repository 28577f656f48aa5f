"""The callback never waits on the provider inside a transaction or on a request thread
(identity.oidc.flow.ProviderCalls): a slow provider freezes nobody's writes, it holds a
bounded number of calls, and a flow is completed once — a replayed callback never reaches
the provider again. Against a real server on 127.0.0.1 (uvicorn in this process)."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from roomwarden.app import create_app
from roomwarden.identity.oidc import client as oidc_client
from roomwarden.kit.db import Database
from tests.factories import World, expect
from tests.identity.oidc_provider import Provider, running_providers
from tests.identity.test_oidc import callback, configure
from tests.live import serving

TIMEOUT = 3


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with running_providers(1) as [provider]:
        yield provider


@pytest.fixture
def silent() -> Iterator[socket.socket]:
    """A token endpoint that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()
    oidc_client.clear_caches()


def _begin(base_url: str, idp: Provider, email: str, sub: str) -> tuple[dict[str, str], dict[str, str]]:
    """A sign-in started at ``base_url`` and answered at the provider: the callback's query
    and the browser's cookies."""
    with httpx2.Client(base_url=base_url, timeout=30) as browser:
        start = browser.get("/auth/oidc/token", params={"email": email}, follow_redirects=False)
        assert start.status_code == 303, start.text
        answer = idp.consent(start.headers["location"], sub)
        return answer, dict(browser.cookies)


def _slow_token_endpoint(idp: Provider, silent: socket.socket) -> None:
    url = idp.issuer.rstrip("/") + "/.well-known/openid-configuration"
    cached = oidc_client._metadata_cache.get(url)
    assert cached is not None
    slow = f"http://127.0.0.1:{silent.getsockname()[1]}/token"
    oidc_client._metadata_cache.put(url, dataclasses.replace(cached[0], token_endpoint=slow))


def test_a_slow_provider_freezes_no_writes_and_holds_a_bounded_number_of_calls(
    world: World, db: Database, idp: Provider, silent: socket.socket
) -> None:
    t, other = world.tenant(), world.tenant()
    configure(world, t, idp)
    settings = world.settings.model_copy(
        update={"oidc_http_timeout_seconds": TIMEOUT, "oidc_calls_per_provider": 2}
    )
    with serving(create_app(settings, db)) as url:
        flows = []
        for i in range(3):
            email = f"slow{i}@{t.domain}"
            flows.append(_begin(url, idp, email, idp.user(f"slow{i}-{t.id}", email=email, name="Slow")))
        _slow_token_endpoint(idp, silent)
        results: list[Any] = [None] * len(flows)

        def come_back(i: int) -> None:
            answer, cookies = flows[i]
            with httpx2.Client(base_url=url, cookies=cookies, timeout=60) as browser:
                began = time.monotonic()
                page = browser.get("/auth/oidc/callback", params=answer, follow_redirects=False)
                results[i] = (page.status_code, time.monotonic() - began, page.text)

        threads = [threading.Thread(target=come_back, args=(i,)) for i in range(len(flows))]
        for th in threads:
            th.start()
            time.sleep(0.2)
        # meanwhile another tenant writes: no transaction is held for the provider
        with httpx2.Client(base_url=url, timeout=60) as c:
            began = time.monotonic()
            created = c.post(
                f"/api/v1/tenants/{other.id}/rooms",
                json={"name": "Meanwhile", "resource_account": f"meanwhile@{other.domain}", "country": "FR"},
                headers=other.admin.headers,
            )
            write_took = time.monotonic() - began
        for th in threads:
            th.join(timeout=60)
    assert created.status_code == 201, created.text
    assert write_took < 1.5, write_took  # the provider keeps the callbacks waiting 3 s
    statuses = sorted(r[0] for r in results)
    # two calls in flight to the provider at most: the third is refused at once
    assert statuses == [502, 502, 503], [r[:2] for r in results]
    busy = next(r for r in results if r[0] == 503)
    assert busy[1] < 1.5 and "too many sign-ins are waiting" in busy[2]


def test_a_flow_is_completed_once(world: World, app: Any, idp: Provider) -> None:
    """The callback of a finished sign-in, replayed with its flow cookie, is refused before
    the provider is asked (before, it went to the provider again every time)."""
    t = world.tenant()
    configure(world, t, idp)
    email = f"once@{t.domain}"
    sub = idp.user(f"once-{t.id}", email=email, name="Once")
    with TestClient(app) as browser:
        start = browser.get("/auth/oidc/token", params={"email": email}, follow_redirects=False)
        flow_cookie = dict(browser.cookies)
        answer = idp.consent(start.headers["location"], sub)
        first = callback(browser, answer)
        assert first.status_code == 200, first.text
    with TestClient(app, cookies=flow_cookie) as replay:
        again = callback(replay, answer)
    assert again.status_code == 400, again.text
    assert "completed already" in again.text
    expect(world.client.get("/api/v1/me", headers=t.admin.headers), 200)
