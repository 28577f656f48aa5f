"""How ``roomwarden serve`` runs uvicorn.

With ``--workers N`` uvicorn binds the listening socket itself as ``socket.socket(family)``,
whose ``proto`` is 0; asyncio then skips ``TCP_NODELAY`` on every accepted connection (it sets
it only for sockets whose proto is ``IPPROTO_TCP``). Nagle's algorithm meets the client's
delayed ACK and every keep-alive response waits about 40 ms. One worker is not affected
(there asyncio binds the socket). The protocol below sets ``TCP_NODELAY`` on each connection,
whatever bound the socket."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress

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


@contextmanager
def metrics_directory(workers: int) -> Iterator[None]:
    """Give the worker processes of one ``serve`` run a fresh directory for prometheus-client's
    multiprocess mode (kit/metrics.py), and remove it when the run ends: a leftover file
    would add a previous run's counts to this one's. One worker keeps its metrics in memory.
    An operator who sets ``PROMETHEUS_MULTIPROC_DIR`` (to share it with ``roomwarden worker``
    processes, say) keeps that directory, and clears it between runs."""
    if workers < 2 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    path = tempfile.mkdtemp(prefix="roomwarden-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(path, ignore_errors=True)
