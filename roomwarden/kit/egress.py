"""Where the service may send requests of its own to addresses its users chose (an identity
provider's, a webhook endpoint's): the guard against server-side request forgery.

Left unchecked, a URL someone typed could make the Roomwarden host send requests — with a
client secret, or signed events — to services only it can reach. So every URL is ``https``,
and every address it resolves to is checked when the URL is saved *and* at every connection,
against the address actually connected to (a name that resolved to a public address at
configuration may resolve to ``127.0.0.1`` later). Refused:

- loopback, link-local (which holds the cloud metadata services, 169.254.169.254 and
  ``fd00:ec2::254``), unspecified, multicast, reserved and every other non-public range;
- private (RFC 1918, unique-local IPv6, the shared 100.64.0.0/10 range), unless the operator
  lists its network (``allowed_networks``);
- the same addresses however they are spelled: IPv4-mapped, IPv4-compatible, NAT64 and 6to4
  IPv6 addresses are judged by the IPv4 address they carry, and numeric host names in
  decimal, hexadecimal or octal (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) by the address
  they mean.

``allow_private`` lifts all of it, plain ``http`` included, for development and tests.
Requests never follow redirects and never go through a proxy taken from the environment,
which would connect elsewhere. The connection is made to the checked address by number,
while the URL's name stays the request's ``Host`` and the TLS server name.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``(host, port)`` → the acceptable addresses to connect to, or ``EgressRefused``
Resolve = Callable[[str, int], "list[IPAddress]"]

#: metadata services outside the link-local ranges (Alibaba Cloud; Azure's wire server)
METADATA = frozenset(ipaddress.ip_address(a) for a in ("100.100.100.200", "168.63.129.16"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
#: an IPv4 address spelled with numbers only: up to four dot-separated decimal, hex or octal parts
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)


class EgressRefused(Exception):
    """A URL or address is one the service may not reach."""


class Unresolvable(EgressRefused):
    """The name has no address (now)."""


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), or itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def literal(host: str) -> IPAddress | None:
    """The address a host name spells with numbers, in any notation; ``None`` for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if not _NUMERIC_HOST.fullmatch(host):
        return None
    try:  # the C library's reading, as the resolver would read it
        return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
    except OSError:
        return None


@dataclass(frozen=True)
class Egress:
    """The rules for one kind of outgoing request. ``networks_setting`` names the variable
    that lists ``allowed_networks``, for the refusal's message."""

    allow_private: bool = False
    allowed_networks: Sequence[Network] = ()
    networks_setting: str | None = None

    def address_problem(self, address: IPAddress) -> str | None:
        """Why the service may not connect to ``address``, or ``None``."""
        if self.allow_private:
            return None
        address = embedded_ipv4(address)
        if address.is_loopback:
            return f"{address} is this machine (loopback)"
        if address in METADATA or address.is_link_local:
            return f"{address} is a link-local or cloud metadata address"
        if address.is_unspecified or address.is_multicast or address.is_reserved:
            return f"{address} is not an address of a host on the internet"
        if address.is_private or address in _SHARED:
            if any(address in network for network in self.allowed_networks):
                return None
            listed = f" not listed in {self.networks_setting}" if self.networks_setting else ""
            return f"{address} is on a private network{listed}"
        if not address.is_global:
            return f"{address} is not a public address"
        return None

    def url_problem(self, url: str) -> str | None:
        """Why ``url`` cannot be used (before any name is resolved), or ``None``."""
        try:
            parts = urlsplit(url)
            hostname, _ = parts.hostname, parts.port
        except ValueError:
            return "it must be an absolute https:// URL"
        if parts.scheme not in ("https", "http") or not hostname:
            return "it must be an absolute https:// URL"
        if parts.username or parts.password:
            return "it must not carry credentials"
        if parts.scheme == "http" and not self.allow_private:
            return "it must use https://"
        if (address := literal(hostname)) is not None and (problem := self.address_problem(address)):
            return problem
        return None

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of ``host``, every one of them acceptable; else ``EgressRefused``."""
        if (address := literal(host)) is not None:
            found: Iterable[IPAddress] = [address]
        else:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise Unresolvable(f"{host} could not be resolved") from exc
            found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        addresses = list(dict.fromkeys(found))
        if not addresses:
            raise Unresolvable(f"{host} could not be resolved")
        for each in addresses:
            if problem := self.address_problem(each):
                raise EgressRefused(f"{host} resolves to {problem}")
        return addresses

    def host_problem(self, url: str) -> str | None:
        """``url_problem``, then the addresses its host resolves to now."""
        if problem := self.url_problem(url):
            return problem
        parts = urlsplit(url)
        try:
            self.resolve(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        except EgressRefused as exc:
            return str(exc)
        return None

    def client(self, timeout: float) -> httpx.Client:
        """An HTTP client: ``timeout``, no redirects, no proxy from the environment, and every
        connection's address checked (``checked_client``)."""
        return checked_client(self.resolve, timeout)


class CheckedBackend(httpcore.SyncBackend):
    """Connects only to addresses ``resolve`` accepts, resolved here and connected to by
    number: what was checked is what is reached (no second lookup). httpcore still speaks
    TLS to the URL's name (SNI and certificate), and the request keeps its ``Host``."""

    def __init__(self, resolve: Resolve) -> None:
        self._resolve = resolve

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._resolve(host, port)
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


def checked_client(resolve: Resolve, timeout: float) -> httpx.Client:
    """An HTTP client whose every connection goes to an address ``resolve(host, port)``
    returned (it raises ``EgressRefused`` for a refused one)."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx builds the connection pool without a way to name its network backend
    transport._pool._network_backend = CheckedBackend(resolve)
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
