"""How ``roomwarden serve`` runs uvicorn: one listening socket per worker, TCP_NODELAY on
every connection, and a metrics directory per run.

**One socket per worker.** uvicorn's ``--workers N`` binds one socket in the supervisor and
hands it to every worker; whichever worker wakes first accepts, so one busy worker can take
most of a client's keep-alive connections (2 workers measured 1.06–1.51× one, rounds
swinging from 1.0× to 1.87×). Here each worker binds its own socket on the same address with
``SO_REUSEPORT`` (:class:`ReusePortListener`), and the kernel spreads new connections over
the sockets by a hash of their addresses. uvicorn's supervisor still starts, health-checks,
restarts and stops the workers.

**TCP_NODELAY.** uvicorn's own ``--workers N`` socket is ``socket.socket(family)``, whose
``proto`` is 0; asyncio then skips ``TCP_NODELAY`` on every accepted connection (it sets it
only for sockets whose proto is ``IPPROTO_TCP``). Nagle's algorithm meets the client's delayed
ACK and every keep-alive response waits about 40 ms. The sockets here are made with
``IPPROTO_TCP``, and the protocol below sets ``TCP_NODELAY`` on each connection anyway,
whatever bound the socket."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess


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
#: exit code of a worker that could not start (uvicorn.config.STARTUP_FAILURE): uvicorn's
#: supervisor then stops instead of restarting it forever
STARTUP_FAILURE = 3

#: ``uvicorn.run(http=...)`` by import path, so that worker processes import it themselves
HTTP_PROTOCOL = f"{__name__}:NoDelayH11Protocol"


def listen_reuseport(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``(host, port)`` with ``SO_REUSEPORT``: every worker binds one,
    and the kernel balances new connections over them. Run in the worker process."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        print(f"roomwarden worker {os.getpid()}: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        raise SystemExit(STARTUP_FAILURE) from None
    sock.set_inheritable(True)
    return sock


class ReusePortListener:
    """Stands for "a socket of its own" in the list uvicorn's supervisor gives each worker
    it starts (or restarts): unpickled in the new worker process, it becomes that worker's
    own ``SO_REUSEPORT`` socket (:func:`listen_reuseport`). The supervisor holds no socket."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return listen_reuseport, (self.host, self.port)


def balanced() -> bool:
    """Whether this system can give each worker its own socket (Linux, the BSDs)."""
    return hasattr(socket, "SO_REUSEPORT")


def check_free(host: str, port: int) -> None:
    """Refuse to start on an address another server listens on: with ``SO_REUSEPORT`` the
    workers would otherwise share its connections (when it is the same user's and set the
    option too) or fail one by one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise RuntimeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def run(config: uvicorn.Config) -> None:
    """Serve as ``uvicorn.run`` would, but with ``config.workers`` > 1 each worker on a socket
    of its own (where the system allows it)."""
    with suppress(KeyboardInterrupt):
        if config.workers > 1:
            if balanced():
                check_free(config.host, config.port)
                sockets: list[Any] = [ReusePortListener(config.host, config.port)]
            else:
                sockets = [config.bind_socket()]
            Multiprocess(config, sockets=sockets).run()
            return
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            raise SystemExit(STARTUP_FAILURE)


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
