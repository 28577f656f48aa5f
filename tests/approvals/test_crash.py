"""Crash safety: the server process is killed (``kill -9``) in the middle of applying an
approval — after the change was applied inside the transaction, before the commit — through
the test-only fault hook. After a restart the request is still pending with nothing applied
(and the audit chain intact); approving it then applies it once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from roomwarden.approvals.faults import FAULT_ENV, MARKER_ENV
from tests.approvals.helpers import as_user, linked
from tests.factories import World, expect


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plain(value: Any) -> str:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


@contextmanager
def server(world: World, extra_env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``roomwarden serve`` in its own process over the test database."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMWARDEN_")}
    env.update(
        ROOMWARDEN_ENV="development",  # the test's (demo) secrets are allowed only there
        ROOMWARDEN_DATABASE_URL=world.settings.database_url,
        ROOMWARDEN_SECRET_KEY=_plain(world.settings.secret_key),
        ROOMWARDEN_ENCRYPTION_KEY=_plain(world.settings.encryption_key),
        ROOMWARDEN_OPERATOR_TOKEN=_plain(world.settings.operator_token),
        **extra_env,
    )
    cmd = [
        sys.executable,
        "-m",
        "roomwarden.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-migrate",
    ]
    log = tempfile.TemporaryFile()  # noqa: SIM115  (a file, not a pipe: a full pipe stalls the server)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a shared, busy machine starts slowly
        while True:
            try:
                if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                log.seek(0)
                raise RuntimeError(f"the server did not start: {log.read().decode()[-2000:]}")
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _room(world: World, x: Any, room_id: str) -> dict[str, Any]:
    return expect(as_user(world, x.customer, x.customer.admin, "GET", f"/rooms/{room_id}"), 200)


def test_kill_9_in_the_middle_of_an_approval_leaves_it_pending_and_unapplied(
    world: World, tmp_path: Path
) -> None:
    x = linked(world)
    room = world.room(x.customer)
    held = expect(
        as_user(world, x.customer, x.primary, "PATCH", f"/rooms/{room['id']}", {"city": "Crash"}), 202
    )
    marker = tmp_path / "fault-reached"
    path = f"/api/v1/tenants/{x.customer.id}/approval-requests/{held['id']}"
    with server(world, {FAULT_ENV: "approval-applied", MARKER_ENV: str(marker)}) as (url, proc):
        outcome: dict[str, Any] = {}

        def approve() -> None:
            try:
                outcome["response"] = httpx2.post(
                    f"{url}{path}/approve", headers=x.customer.admin.headers, timeout=60
                )
            except httpx2.HTTPError as exc:
                outcome["error"] = exc

        caller = threading.Thread(target=approve)
        caller.start()
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the fault point was never reached"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        caller.join(timeout=60)
        assert "error" in outcome and "response" not in outcome  # the client never got an answer

    # After the crash, through a fresh server process: nothing of the approval survived.
    with server(world, {}) as (url, _):
        got = httpx2.get(f"{url}{path}", headers=x.customer.admin.headers, timeout=30)
        assert expect(got, 200)["status"] == "pending"
        assert _room(world, x, room["id"])["city"] != "Crash"
        log = expect(
            as_user(world, x.customer, x.customer.admin, "GET", "/audit-logs?category=Room&limit=200"), 200
        )
        assert not [r for r in log["items"] if r["details"].get("approval")]
        assert expect(as_user(world, x.customer, x.customer.admin, "GET", "/audit-logs/verify"), 200)["ok"]
        again = httpx2.post(f"{url}{path}/approve", headers=x.customer.admin.headers, timeout=60)
        assert expect(again, 200)["status"] == "approved"
    assert _room(world, x, room["id"])["city"] == "Crash"


def test_the_fault_hook_is_off_by_default_and_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    from roomwarden.approvals.faults import pause_at

    monkeypatch.delenv(FAULT_ENV, raising=False)
    pause_at("approval-applied")  # returns at once
    monkeypatch.setenv(FAULT_ENV, "approval-applied")
    monkeypatch.setenv("ROOMWARDEN_ENV", "production")
    pause_at("approval-applied")
    monkeypatch.setenv("ROOMWARDEN_ENV", "development")
    pause_at("another-point")
