"""How ``roomwarden serve`` runs uvicorn.

With ``--workers N`` uvicorn binds the listening socket itself as ``socket.socket(family)``,
whose ``proto`` is 0; asyncio then skips ``TCP_NODELAY`` on every accepted connection (it sets
it only for sockets whose proto is ``IPPROTO_TCP``). Nagle's algorithm meets the client's
delayed ACK and every keep-alive response waits about 40 ms. One worker is not affected
(there asyncio binds the socket). The protocol below sets ``TCP_NODELAY`` on each connection,
whatever bound the socket."""

from __future__ import annotations

import asyncio
import socket
from contextlib import suppress

from uvicorn.protocols.http.h11_impl import H11Protocol


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


WORKER_HEALTHCHECK_SECONDS = 60

#: ``uvicorn.run(http=...)`` by import path, so that worker processes import it themselves
HTTP_PROTOCOL = f"{__name__}:NoDelayH11Protocol"
