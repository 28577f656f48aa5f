"""Real OpenID Connect providers for tests: each is an ``oidc-provider-mock`` process on a
free loopback port. Users are defined with their claims (``PUT /users/{sub}``); a browser
is played with HTTP clients: ours for Roomwarden, httpx for the provider's consent form."""

from __future__ import annotations

import html
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: a claim left out of the provider's user (``Provider.user``)
ABSENT: Any = object()


def _verified(claims: dict[str, Any]) -> dict[str, Any]:
    """A user's claims as providers send them for an address they checked: ``email`` comes
    with ``email_verified: true`` unless the test says otherwise (``ABSENT`` leaves it out)."""
    if "email" in claims:
        claims = {"email_verified": True, **claims}
    return {k: v for k, v in claims.items() if v is not ABSENT}


@dataclass
class Provider:
    port: int
    #: users defined at start-up (``--user-claims``), each with its ``sub`` and claims
    users: list[dict[str, Any]] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Provider:
        return self.launch().wait_ready()

    def launch(self) -> Provider:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-W",
                "ignore",
                "-m",
                "oidc_provider_mock",
                "--port",
                str(self.port),
                "--require-nonce",
                "true",
                *(arg for user in self.users for arg in ("--user-claims", json.dumps(_verified(user)))),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def wait_ready(self) -> Provider:
        assert self.process is not None
        deadline = time.monotonic() + 120  # a loaded CI machine imports Flask slowly
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider-mock exited with {self.process.returncode}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("oidc-provider-mock did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        """A new process on the same port: the provider's signing key changes (key rotation)."""
        self.stop()
        self.start()

    def user(self, sub: str, **claims: Any) -> str:
        """Define ``sub``. Its ``email`` is marked verified unless ``email_verified`` is given,
        as providers mark the addresses they checked; ``email_verified=ABSENT`` leaves the
        claim out (Entra ID sends none)."""
        response = httpx.put(f"{self.issuer}/users/{sub}", json=_verified(claims), timeout=5)
        assert response.status_code == 204, response.text
        return sub

    def consent(self, authorize_url: str, sub: str | None) -> dict[str, str]:
        """The person at the provider's page: signs in as ``sub`` (or denies when ``None``).
        Answers the query the provider sends the browser back to the redirect URI with."""
        data = {"sub": sub} if sub is not None else {"action": "deny"}
        response = httpx.post(authorize_url, data=data, timeout=10)
        assert response.status_code in (302, 303), response.text
        return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


REFRESH = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]+)">')


def sent_on_to(page: httpx.Response | Any) -> str:
    """Where ``/login`` sends the browser for an OpenID Connect tenant: a page that moves on
    at once (meta refresh) and links to the same address for a browser that does not."""
    assert page.status_code == 200, page.text
    found = REFRESH.search(page.text)
    assert found, page.text
    url = html.unescape(found.group(1))
    assert f'href="{found.group(1)}"' in page.text
    return url


@contextmanager
def running_providers(
    count: int, users: list[list[dict[str, Any]]] | None = None
) -> Iterator[list[Provider]]:
    """``count`` providers started side by side (each with its ``users``), stopped afterwards."""
    providers = [Provider(free_port(), (users or [[]] * count)[i]).launch() for i in range(count)]
    try:
        for p in providers:
            p.wait_ready()
        yield providers
    finally:
        for p in providers:
            p.stop()
