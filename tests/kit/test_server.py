"""``roomwarden serve --workers N``: each worker binds its own SO_REUSEPORT socket on the
same address, and the kernel spreads connections over them (kit/server.py)."""

from __future__ import annotations

import pickle
import socket

import pytest

from roomwarden.kit import server
from tests.live import free_port


def test_every_worker_gets_a_socket_of_its_own_on_the_same_address() -> None:
    port = free_port()
    listener = server.ReusePortListener("127.0.0.1", port)
    # what uvicorn's supervisor hands each worker it starts is unpickled there into a socket
    first, second = pickle.loads(pickle.dumps(listener)), pickle.loads(pickle.dumps(listener))
    try:
        for sock in (first, second):
            assert isinstance(sock, socket.socket) and sock.getsockname() == ("127.0.0.1", port)
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert sock.proto == socket.IPPROTO_TCP  # asyncio then sets TCP_NODELAY itself too
            sock.listen()
        assert first.fileno() != second.fileno()
        # an address in use is refused before any worker starts
        with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{port}"):
            server.check_free("127.0.0.1", port)
    finally:
        first.close()
        second.close()
    server.check_free("127.0.0.1", port)


def test_a_worker_that_cannot_bind_exits_as_a_startup_failure() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_:
            server.listen_reuseport("127.0.0.1", port)
    assert exit_.value.code == server.STARTUP_FAILURE  # uvicorn's supervisor then stops
