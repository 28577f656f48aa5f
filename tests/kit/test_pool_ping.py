"""Pooled PostgreSQL connections are pinged when they have lain idle (kit/db.py,
``PING_IDLE_SECONDS``): a connection the server has dropped meanwhile is replaced without an
error; one handed back a moment ago is trusted, and if it died all the same, its one failure
makes the pool drop every connection as old, so the next request is served."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from roomwarden.kit.db import make_engine
from roomwarden.settings import Settings
from tests.conftest import DB_KIND

pytestmark = pytest.mark.skipif(DB_KIND != "postgresql", reason="the ping is PostgreSQL's")


def _backend_pid(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()
    time.sleep(0.2)  # the server closes the connection


@pytest.fixture
def url(settings: Settings) -> Iterator[str]:
    yield settings.database_url


def test_an_idle_connection_the_server_dropped_is_replaced_without_an_error(url: str) -> None:
    engine = make_engine(url, ping_idle=0.3)
    try:
        first = _backend_pid(engine)
        _terminate(url, first)
        time.sleep(0.4)  # idle longer than the threshold: pinged at checkout
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


def test_a_connection_in_use_a_moment_ago_is_not_pinged_and_one_failure_renews_the_pool(url: str) -> None:
    engine = make_engine(url, ping_idle=60)
    try:
        with engine.connect() as a, engine.connect() as b:  # two pooled connections
            pids = {int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in (a, b)}
        for pid in pids:
            _terminate(url, pid)
        with pytest.raises(OperationalError):  # not pinged: the dead connection fails once
            _backend_pid(engine)
        # the failure dropped every connection as old: the other dead one is not handed out
        assert _backend_pid(engine) not in pids
    finally:
        engine.dispose()
