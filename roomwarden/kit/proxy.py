"""The client's address and scheme behind reverse proxies that the operator trusts.

``X-Forwarded-For`` is a header anyone can send. It is believed only when the TCP peer is
one of ``ROOMWARDEN_TRUSTED_PROXIES`` (none by default), and then only as far as the chain
of trusted proxies goes: the client is the right-most address that is not a trusted proxy.
An unreadable entry ends the walk at the last trusted hop, so a misconfigured proxy puts all
its clients into one bucket instead of letting them choose their own address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
PREFIX = b"x-forwarded-"
WEBSOCKET = {"http": "ws", "https": "wss"}


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:8080"
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(ip: Any, networks: Sequence[IPNetwork]) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: str | None, networks: Sequence[IPNetwork]) -> str | None:
    """The client address for a request from ``peer`` with the given X-Forwarded-For."""
    if peer is None or not networks or not forwarded_for:
        return peer
    peer_ip = _ip(peer)
    if peer_ip is None or not _trusted(peer_ip, networks):
        return peer
    client = peer
    for hop in reversed(forwarded_for.split(",")[-32:]):
        ip = _ip(hop)
        if ip is None:
            break
        client = str(ip)
        if not _trusted(ip, networks):
            break
    return client


class TrustedProxyMiddleware:
    """ASGI middleware: rewrites ``scope["client"]`` (and ``scope["scheme"]`` from
    ``X-Forwarded-Proto``) for requests that reach the service through a trusted proxy."""

    def __init__(self, app: Any, networks: Sequence[IPNetwork]) -> None:
        self.app = app
        self.networks = list(networks)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and self.networks and scope.get("client"):
            headers = {k.lower(): v for k, v in scope.get("headers", ()) if k.lower().startswith(PREFIX)}
            peer = scope["client"][0]
            forwarded = headers.get(b"x-forwarded-for")
            client = client_address(peer, forwarded.decode("latin-1") if forwarded else None, self.networks)
            if client != peer:
                # In place, not a copy: the middleware outside (kit/observe.py) reads the
                # route the router matched and logs the client from this same scope.
                scope["client"] = (client, 0)
                proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto if scope["type"] == "http" else WEBSOCKET[proto]
        await self.app(scope, receive, send)
