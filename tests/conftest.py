"""Test set-up: one database per test run (SQLite by default, PostgreSQL with
``ROOMWARDEN_TEST_DB=postgresql``), migrated with the real migrations. Tests isolate by
creating their own tenants, so they need no clean-up and can run in parallel."""

from __future__ import annotations

import os

# Cheap password hashing for tests; set before any roomwarden settings are read.
os.environ.setdefault("ROOMWARDEN_ARGON2_TIME_COST", "1")
os.environ.setdefault("ROOMWARDEN_ARGON2_MEMORY_COST_KIB", "64")
os.environ.setdefault("ROOMWARDEN_ARGON2_PARALLELISM", "1")

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient

from roomwarden.app import create_app
from roomwarden.kit.db import Database
from roomwarden.kit.migrate import upgrade
from roomwarden.settings import Settings, get_settings
from roomwarden.wiring import install
from tests.factories import World
from tests.live import roomwarden_serve
from tests.pg import postgres_database

# Services are called directly by many tests, without an application: assemble the domain once.
install()

DB_KIND = os.environ.get("ROOMWARDEN_TEST_DB", "sqlite")
#: With ROOMWARDEN_TEST_SERVER_WORKERS=N the API tests' client talks to a real
#: ``roomwarden serve --workers N`` over the test database instead of the app in process.
SERVER_WORKERS = int(os.environ.get("ROOMWARDEN_TEST_SERVER_WORKERS", "0"))


@pytest.fixture(autouse=True)
def _environment_is_restored() -> Iterator[None]:
    """Every test leaves the process environment as it found it. The CLI writes
    ``ROOMWARDEN_HOST``/``PORT``/``PUBLIC_URL``/``ENV`` for the server it starts (its workers
    inherit them); run in-process by a test, that would reach every later test of the worker
    that reads its settings, so a test's result would depend on the order."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def pytest_report_header(config: pytest.Config) -> str:
    served = f", through roomwarden serve --workers {SERVER_WORKERS}" if SERVER_WORKERS else ""
    return f"roomwarden test database: {DB_KIND}{served}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if DB_KIND == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        path: Path = tmp_path_factory.mktemp("db") / "roomwarden-test.db"
        yield f"sqlite:///{path}"


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # A declared development instance: the tests run on the published demo secrets.
    # The test providers run on this machine over http (identity.oidc.egress refuses that by
    # default): ROOMWARDEN_OIDC_ALLOW_PRIVATE, as a development instance would set it.
    # Background jobs are started by the tests that are about them (tests/jobs), so that no
    # sweep or monitor runs across the tenants of other tests in between.
    return Settings(
        env="development",
        database_url=database_url,
        signin_max_failures_per_address=10_000,
        # Every test's device enrols from the same test client address, and the fuzz tests'
        # wrong keys would otherwise use up its enrolment limit for later tests (the limit
        # has its own test, with its own settings: tests/devices/test_enrolment.py).
        enroll_max_failures_per_address=10_000,
        oidc_allow_private=True,
        # Webhook receivers in the tests listen on this machine over http (tests/webhooks).
        webhook_allow_private=True,
        jobs_in_serve=False,
    )


@pytest.fixture(scope="session")
def db(settings: Settings) -> Iterator[Database]:
    # ROOMWARDEN_DATABASE_ROW_SECURITY=true runs the suite under row-level security (PostgreSQL)
    database = Database(settings.database_url, row_security=settings.database_row_security)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    return create_app(settings, db)


@pytest.fixture(scope="session")
def served_url(settings: Settings, db: Database) -> Iterator[str | None]:
    """The base URL of ``roomwarden serve --workers N`` when the run asks for one."""
    if not SERVER_WORKERS:
        yield None
        return
    extra = {
        "ROOMWARDEN_SIGNIN_MAX_FAILURES_PER_ADDRESS": str(settings.signin_max_failures_per_address),
        "ROOMWARDEN_ENROLL_MAX_FAILURES_PER_ADDRESS": str(settings.enroll_max_failures_per_address),
        "ROOMWARDEN_WORKER_THREADS": "8",
        "ROOMWARDEN_OIDC_ALLOW_PRIVATE": "true",
        "ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    with roomwarden_serve(settings.database_url, SERVER_WORKERS, extra) as url:
        yield url


@pytest.fixture(scope="session")
def client(app, served_url: str | None) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    if served_url:
        # httpx's client is what TestClient is built on: the same surface for the tests
        with httpx2.Client(base_url=served_url, timeout=120) as remote:
            yield remote  # type: ignore[misc]
        return
    with TestClient(app) as c:
        yield c


@pytest.fixture
def world(client: TestClient, db: Database, settings: Settings) -> World:
    return World(client=client, db=db, settings=settings, tag=uuid.uuid4().hex[:10])
