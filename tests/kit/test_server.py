"""``roomwarden serve --workers N``: each worker binds its own SO_REUSEPORT socket on the
same address, and the kernel spreads connections over them (kit/server.py); what a worker
built before serving is out of the garbage collector's reach."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

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


def test_a_served_worker_puts_what_it_built_out_of_the_collectors_reach(tmp_path: Path) -> None:
    """``roomwarden.asgi`` (what each worker imports) freezes the heap it built: a full
    collection over it stalled the worker for tens of milliseconds (kit/server.freeze_heap)."""
    env = {
        **os.environ,
        "ROOMWARDEN_ENV": "development",
        "ROOMWARDEN_DATABASE_URL": f"sqlite:///{tmp_path}/frozen.db",
    }
    probe = "import gc, roomwarden.asgi; print(gc.get_freeze_count())"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 100_000
