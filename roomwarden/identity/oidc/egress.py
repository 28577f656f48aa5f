"""Where the service may send its requests to identity providers (SPEC §7).

A tenant's Global admin chooses the issuer, and the provider's discovery document names the
other endpoints: left unchecked, either could make the Roomwarden host send the client
secret, or requests of its own, to services only it can reach. So every URL is ``https``,
and every address it resolves to — checked when the provider is saved *and* at every
connection, against the address actually connected to (a name that resolved to a public
address at configuration may resolve to ``127.0.0.1`` later) — is refused when it is:

- loopback, link-local (which holds the cloud metadata services, 169.254.169.254 and
  ``fd00:ec2::254``), unspecified, multicast or otherwise reserved;
- private (RFC 1918, unique-local IPv6, the shared 100.64.0.0/10 range), unless the
  operator lists its network in ``ROOMWARDEN_OIDC_ALLOWED_NETWORKS``.

``ROOMWARDEN_OIDC_ALLOW_PRIVATE=true`` lifts all of it, plain ``http`` included, for
development and tests (providers on this machine). Requests never follow redirects and
never go through a proxy taken from the environment, which would connect elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from roomwarden.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: metadata services outside the link-local ranges (Alibaba Cloud; Azure's wire server)
METADATA = frozenset(ipaddress.ip_address(a) for a in ("100.100.100.200", "168.63.129.16"))


class EgressRefused(Exception):
    """A provider's URL or address is one the service may not reach."""


def address_problem(settings: Settings, address: IPAddress) -> str | None:
    """Why the service may not connect to ``address`` for a provider, or ``None``."""
    if settings.oidc_allow_private:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return f"{address} is this machine (loopback)"
    if address in METADATA or address.is_link_local:
        return f"{address} is a link-local or cloud metadata address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return f"{address} is not an address of a host on the internet"
    if address.is_private or address in ipaddress.ip_network("100.64.0.0/10"):
        if any(address in network for network in settings.oidc_allowed_networks):
            return None
        return f"{address} is on a private network not listed in ROOMWARDEN_OIDC_ALLOWED_NETWORKS"
    return None


def url_problem(settings: Settings, url: str) -> str | None:
    """Why ``url`` cannot be a provider's URL (before any address is looked at)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "it must be an absolute https:// URL"
    if parts.username or parts.password:
        return "it must not carry credentials"
    if parts.scheme == "http" and not settings.oidc_allow_private:
        return "it must use https://"
    if (literal := _literal(parts.hostname)) is not None and (problem := address_problem(settings, literal)):
        return problem
    return None


def resolve(settings: Settings, host: str, port: int) -> list[IPAddress]:
    """The addresses of ``host``, every one of them acceptable; else ``EgressRefused``."""
    if (literal := _literal(host)) is not None:
        found: Iterable[IPAddress] = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise EgressRefused(f"{host} could not be resolved") from exc
        found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    addresses = list(dict.fromkeys(found))
    if not addresses:
        raise EgressRefused(f"{host} could not be resolved")
    for address in addresses:
        if problem := address_problem(settings, address):
            raise EgressRefused(f"{host} resolves to {problem}")
    return addresses


def host_problem(settings: Settings, url: str) -> str | None:
    """``url_problem``, then the addresses its host resolves to now."""
    if problem := url_problem(settings, url):
        return problem
    parts = urlsplit(url)
    try:
        resolve(settings, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    except EgressRefused as exc:
        return str(exc)
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class _CheckedBackend(httpcore.SyncBackend):
    """Connects only to addresses ``address_problem`` accepts, resolved here and connected
    to by number: what was checked is what is reached (no second lookup)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve(self.settings, host, port)
        except EgressRefused as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        error: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error


def client(settings: Settings) -> httpx.Client:
    """An HTTP client for providers: the time limit of ``ROOMWARDEN_OIDC_HTTP_TIMEOUT_SECONDS``,
    no redirects, no proxy from the environment, and every connection's address checked."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx builds the connection pool without a way to name its network backend
    transport._pool._network_backend = _CheckedBackend(settings)
    return httpx.Client(
        transport=transport,
        timeout=settings.oidc_http_timeout_seconds,
        follow_redirects=False,
        trust_env=False,
    )
