"""Real HTTP servers on 127.0.0.1 for tests that need real concurrency: an in-process
uvicorn server around an app built by the test (its own settings, its own pool)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port until the block ends; yields its base URL.
    ``proxy_headers`` is off, as in ``roomwarden serve``: the service decides itself whom to
    believe (ROOMWARDEN_TRUSTED_PROXIES)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def roomwarden_serve(
    database_url: str,
    workers: int,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """Run ``roomwarden serve --workers N`` as the operator would, over an already migrated
    database; yields its base URL and stops the whole process group afterwards. A
    development instance unless ``extra_env`` says otherwise (with every secret). Its log
    (stderr) goes to ``log_path`` when given."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile

    import httpx2

    port = port or free_port()
    env = {
        **os.environ,
        "ROOMWARDEN_ENV": "development",
        "ROOMWARDEN_DATABASE_URL": database_url,
        "ROOMWARDEN_HOST": "127.0.0.1",
        "ROOMWARDEN_PORT": str(port),
        **(extra_env or {}),
    }
    exe = Path(sys.executable).with_name("roomwarden")
    cmd = [str(exe), "serve", "--no-migrate", "--workers", str(workers)]
    # a file, not a pipe, which would fill and stall the server
    log = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        ready = 0
        while ready < workers * 4:  # several answers: every worker is up, not only the first
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"roomwarden serve did not start: {log.read()[-2000:]!r}")
            try:
                ready += httpx2.get(f"{url}/readyz", timeout=5).status_code == 200
            except httpx2.HTTPError:
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
