"""The SSRF guard for webhook endpoints (kit.egress with ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE):
https only, no private, loopback, link-local, metadata, multicast or unspecified address
however it is spelled, checked at creation and again at every attempt against the address
resolved then, which is the address connected to."""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from roomwarden.app import create_app
from roomwarden.identity.oidc import egress as oidc_egress
from roomwarden.kit.db import Database
from roomwarden.kit.egress import Egress, EgressRefused, literal
from roomwarden.settings import Settings
from roomwarden.webhooks import guard
from roomwarden.webhooks.models import WebhookEndpoint
from tests.factories import World, expect
from tests.webhooks.helpers import deliver, deliverer, endpoint, receiver

DEFAULT = Settings()
OPEN = Settings(webhook_allow_private=True)

REFUSED = [
    "https://127.0.0.1/hook",
    "https://127.8.9.10/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
    "https://[::ffff:7f00:1]/hook",  # the same, in hex
    "https://[::127.0.0.1]/hook",  # IPv4-compatible
    "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of the metadata address
    "https://[2002:7f00:1::]/hook",  # 6to4 of loopback
    "https://2130706433/hook",  # decimal
    "https://0x7f.1/hook",  # hex, short form
    "https://0x7f000001/hook",
    "https://0177.0.0.1/hook",  # octal
    "https://127.1/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://[fd00:ec2::254]/hook",
    "https://100.100.100.200/hook",
    "https://168.63.129.16/hook",
    "https://[fe80::1]/hook",
    "https://10.0.0.1/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",
    "https://[fc00::1]/hook",
    "https://0.0.0.0/hook",
    "https://[::]/hook",
    "https://224.0.0.1/hook",
    "https://[ff02::1]/hook",
    "https://198.18.0.1/hook",  # benchmarking: not on the internet
    "https://localhost/hook",  # a name that resolves to loopback
    "http://93.184.216.34/hook",  # plain http
    "ftp://93.184.216.34/hook",
    "https://user:pw@93.184.216.34/hook",
]
ACCEPTED = ["https://93.184.216.34/hook", "https://[2606:4700::1111]/hook", "https://hooks.invalid/x"]


@pytest.mark.parametrize("url", REFUSED)
def test_refused_targets(url: str) -> None:
    assert guard.url_problem(DEFAULT, url) is not None
    if not url.startswith(("ftp:", "https://user")):
        assert guard.url_problem(OPEN, url) is None  # development and tests


@pytest.mark.parametrize("url", ACCEPTED)
def test_public_targets(url: str) -> None:
    assert guard.url_problem(DEFAULT, url) is None  # a name without an address yet is checked at sending


def test_numeric_spellings_are_read_as_the_resolver_reads_them() -> None:
    assert literal("2130706433") == ipaddress.ip_address("127.0.0.1")
    assert literal("0x7f.1") == ipaddress.ip_address("127.0.0.1")
    assert literal("0177.0.0.01") == ipaddress.ip_address("127.0.0.1")
    assert literal("[::ffff:a9fe:a9fe]") == ipaddress.ip_address("::ffff:169.254.169.254")
    assert literal("hooks.example.com") is None and literal("deadbeef.cafe") is None
    assert literal("1.2.3.4.5") is None


def test_the_identity_providers_share_the_guard() -> None:
    """The same rules hold for OpenID Connect providers (identity.oidc.egress)."""
    strict = Settings(oidc_allow_private=False)
    assert oidc_egress.url_problem(strict, "https://0x7f.1/") is not None
    assert oidc_egress.url_problem(strict, "https://[64:ff9b::a9fe:a9fe]/") is not None


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Host names the resolver answers as the test says (others as usual)."""
    table: dict[str, str] = {}
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in table:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return table


def test_a_name_is_checked_by_what_it_resolves_to(names: dict[str, str]) -> None:
    names["inside.example.net"] = "10.1.2.3"
    names["rebind.example.net"] = "127.0.0.1"
    names["outside.example.net"] = "93.184.216.34"
    assert "private network" in (guard.url_problem(DEFAULT, "https://inside.example.net/h") or "")
    assert "loopback" in (guard.url_problem(DEFAULT, "https://rebind.example.net/h") or "")
    assert guard.url_problem(DEFAULT, "https://outside.example.net/h") is None
    with pytest.raises(EgressRefused, match="loopback"):
        Egress().resolve("rebind.example.net", 443)


def test_at_sending_the_resolved_address_is_checked_and_connected_to(
    world: World, db: Database, settings: Settings, names: dict[str, str]
) -> None:
    """A name that resolved elsewhere at creation and resolves to loopback now is refused at
    the attempt, without a connection; allowed, the connection goes to the address resolved
    while the request keeps the name (Host)."""
    t = world.tenant()
    with receiver() as r:
        port = r.url.split(":")[2].split("/")[0]
        names["receiver.example.net"] = "127.0.0.1"
        hook = endpoint(world, t, f"https://receiver.example.net:{port}/hook")
        expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        deliver(deliverer(db, settings, webhook_allow_private=False, webhook_retry_schedule=[]), t)
        assert r.requests == []
        url = f"/api/v1/tenants/{t.id}/webhooks/{hook['id']}/deliveries"
        [failed] = expect(world.client.get(url, headers=t.admin.headers), 200)["items"]
        assert failed["status"] == "failed" and "loopback" in failed["last_error"]
        # plain http to the same name, allowed for development: reached by the resolved address
        plain = endpoint(world, t, f"http://receiver.example.net:{port}/hook")
        expect(world.post(t, f"/webhooks/{plain['id']}/test", None), 201)
        deliver(deliverer(db, settings), t)
        [request] = r.requests
        assert request.headers["host"] == f"receiver.example.net:{port}"
        request.verified(plain["secret"])


@pytest.fixture
def strict(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A server with the default rules: ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE unset."""
    assert Settings().webhook_allow_private is False
    with TestClient(create_app(settings.model_copy(update={"webhook_allow_private": False}), db)) as c:
        yield c


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "https://127.0.0.1/hook",
        "https://2130706433/",
        "http://hooks.invalid/x",
        "https://localhost/hook",
    ],
)
def test_a_default_server_refuses_private_and_plain_http_targets(
    world: World, strict: TestClient, db: Database, url: str
) -> None:
    t = world.tenant()
    path = f"/api/v1/tenants/{t.id}/webhooks"
    refused = strict.post(path, json={"url": url, "events": ["webhook.test"]}, headers=t.admin.headers)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    ok = expect(
        strict.post(
            path,
            json={"url": "https://93.184.216.34/hook", "events": ["webhook.test"]},
            headers=t.admin.headers,
        ),
        201,
    )
    moved = strict.patch(f"{path}/{ok['id']}", json={"url": url}, headers=t.admin.headers)
    assert moved.status_code == 422
    with world.transaction() as s:
        rows = s.scalar(
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.tenant_id == uuid.UUID(t.id))
        )
        stored = s.scalar(select(WebhookEndpoint.url).where(WebhookEndpoint.id == uuid.UUID(ok["id"])))
    assert rows == 1 and stored == "https://93.184.216.34/hook"


_REFUSED_V4 = st.one_of(
    st.ip_addresses(v=4, network="127.0.0.0/8"),
    st.ip_addresses(v=4, network="10.0.0.0/8"),
    st.ip_addresses(v=4, network="172.16.0.0/12"),
    st.ip_addresses(v=4, network="192.168.0.0/16"),
    st.ip_addresses(v=4, network="169.254.0.0/16"),
    st.ip_addresses(v=4, network="100.64.0.0/10"),
    st.ip_addresses(v=4, network="0.0.0.0/8"),
    st.ip_addresses(v=4, network="224.0.0.0/4"),
)


@given(address=_REFUSED_V4)
def test_every_spelling_of_a_refused_address_is_refused(address: ipaddress.IPv4Address) -> None:
    n = int(address)
    spellings = [
        str(address),
        str(n),  # decimal
        hex(n),  # hexadecimal
        "0" + oct(n)[2:],  # octal
        ".".join(hex(int(p)) for p in str(address).split(".")),
        f"[::ffff:{address}]",
        f"[64:ff9b::{n >> 16:x}:{n & 0xFFFF:x}]",
    ]
    for host in spellings:
        assert guard.url_problem(DEFAULT, f"https://{host}/hook") is not None, host
