"""A throw-away PostgreSQL database for one test run.

Outside CI a missing server skips the PostgreSQL run with a clear message; under
``CI=true`` it is an error, because the PostgreSQL run is mandatory there."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

ADMIN_URL = os.environ.get(
    "ROOMWARDEN_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"roomwarden_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {ADMIN_URL}: {exc.orig}"
        if _under_ci():
            pytest.fail(message + " (required under CI=true)", pytrace=False)
        pytest.skip(message + " - PostgreSQL tests skipped", allow_module_level=True)
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
