"""The job mechanism under real concurrency, on the run's database (SQLite or PostgreSQL):
several runners (each with its own engine, as separate processes have) never run one job at
once, a job whose process was killed is run again once its lease has passed, a wake makes a
job due at once, and a failing job is recorded without stopping the others."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Select, literal, select

from roomwarden.jobs.models import Job
from roomwarden.jobs.registry import JobContext, JobRegistry, JobSpec
from roomwarden.jobs.runner import Runner
from roomwarden.jobs.service import wake
from roomwarden.kit.db import Database, UTCDateTime, stated_tenants
from roomwarden.kit.time import utcnow
from roomwarden.settings import Settings
from roomwarden.tenants.models import Tenant
from tests.conftest import DB_KIND
from tests.factories import World


def job_name(label: str) -> str:
    return f"test.{label}.{uuid.uuid4().hex[:8]}"


def rounds(tenants_run_for: list[uuid.UUID | None]) -> int:
    """How many times a job ran, from the tenants each of its runs was for (``JobContext``):
    under row-level security the runner runs a job once per tenant, every tenant in the same
    order each time; without it, once for ``None``."""
    return tenants_run_for.count(tenants_run_for[0]) if tenants_run_for else 0


def registry_of(*specs: JobSpec) -> JobRegistry:
    registry = JobRegistry()
    for spec in specs:
        registry.add(spec)
    return registry


def row(db: Database, name: str) -> Job:
    with db.transaction(write=False) as session:
        job = session.get(Job, name)
        assert job is not None
        return job


@pytest.fixture(autouse=True)
def _a_tenant(world: World) -> None:
    """Under row-level security a job runs once per tenant: at least one, so that it runs."""
    world.tenant()


@pytest.fixture
def databases(settings: Settings, db: Database) -> Iterator[list[Database]]:
    dbs = [Database(settings.database_url) for _ in range(4)]
    yield dbs
    for db in dbs:
        db.dispose()


def test_several_runners_never_run_one_job_at_once(settings: Settings, databases: list[Database]) -> None:
    name = job_name("exclusive")
    guard = threading.Lock()
    running, overlaps, runs = [0], [0], [0]

    def work(_: JobContext) -> None:
        with guard:
            running[0] += 1
            runs[0] += 1
            overlaps[0] += running[0] > 1
        time.sleep(0.01)
        with guard:
            running[0] -= 1

    fast = settings.model_copy(update={"jobs_poll_seconds": 0.01})
    spec = JobSpec(name, lambda s: 0.0, work)
    runners = [Runner(db, fast, registry_of(spec)) for db in databases]
    for runner in runners:
        runner.start()
    time.sleep(2.5)
    for runner in runners:
        runner.stop()
    assert overlaps[0] == 0
    assert runs[0] >= 10
    assert row(databases[0], name).runs == runs[0]
    assert row(databases[0], name).lease_owner is None


def test_a_killed_process_s_job_is_run_again_after_its_lease(settings: Settings, db: Database) -> None:
    name = job_name("orphan")
    script = textwrap.dedent(
        f"""
        import time
        from roomwarden.jobs.registry import JobRegistry, JobSpec
        from roomwarden.jobs.runner import Runner
        from roomwarden.kit.db import Database
        from roomwarden.settings import Settings

        settings = Settings(env="development", database_url={settings.database_url!r}, jobs_lease_seconds=2)
        registry = JobRegistry()
        registry.add(JobSpec({name!r}, lambda s: 0.0, lambda ctx: time.sleep(3600)))
        Runner(Database(settings.database_url), settings, registry, owner="doomed").run_once()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with db.transaction(write=False) as session:
                job = session.get(Job, name)
            if job is not None and job.lease_owner == "doomed":
                break
            time.sleep(0.05)
        else:
            pytest.fail("the child never claimed the job")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    ran: list[uuid.UUID | None] = []
    survivor = Runner(
        db, settings, registry_of(JobSpec(name, lambda s: 3600.0, lambda ctx: ran.append(ctx.tenant_id)))
    )
    assert survivor.run_once() is None  # the dead process's lease still holds
    time.sleep(2.2)
    assert survivor.run_once() == name
    assert rounds(ran) == 1
    job = row(db, name)
    assert job.lease_owner is None and job.runs == 1


def test_wake_makes_a_job_due_at_once(settings: Settings, db: Database) -> None:
    name = job_name("wake")
    ran: list[uuid.UUID | None] = []
    runner = Runner(
        db, settings, registry_of(JobSpec(name, lambda s: 3600.0, lambda ctx: ran.append(ctx.tenant_id)))
    )
    assert runner.run_once() == name
    assert runner.run_once() is None
    with db.transaction() as session:
        wake(session, name)
    assert runner.run_once() == name
    assert rounds(ran) == 2


def test_work_a_run_leaves_waiting_makes_the_job_due_by_then_even_when_it_failed(
    settings: Settings, db: Database
) -> None:
    """``JobSpec.next_due``, read across every tenant after each run (a retry the run left
    behind), brings the next run forward from the hour-long interval; never back."""
    soon, failing = job_name("soon"), job_name("failing")
    at = utcnow() + timedelta(seconds=30)

    def boom(_: JobContext) -> None:
        raise RuntimeError("the receiver had a bad moment")

    def next_due() -> Select[Any]:
        return select(literal(at, UTCDateTime()))

    runner = Runner(
        db,
        settings,
        registry_of(
            JobSpec(soon, lambda s: 3600.0, lambda c: None, next_due=next_due),
            JobSpec(failing, lambda s: 3600.0, boom, next_due=next_due),
        ),
    )
    assert sorted(runner.run_until_idle()) == sorted([soon, failing])
    for name in (soon, failing):
        assert abs((row(db, name).due_at - at).total_seconds()) < 1
    later = Runner(
        db,
        settings,
        registry_of(
            JobSpec(
                job_name("later"),
                lambda s: 60.0,
                lambda c: None,
                next_due=lambda: select(literal(utcnow() + timedelta(hours=2), UTCDateTime())),
            )
        ),
    )
    [name] = later.run_until_idle()
    assert (row(db, name).due_at - utcnow()).total_seconds() < 61  # the interval stands


def test_a_failing_job_is_recorded_and_the_others_still_run(settings: Settings, db: Database) -> None:
    bad, good = job_name("bad"), job_name("good")
    ran: list[uuid.UUID | None] = []

    def boom(_: JobContext) -> None:
        raise RuntimeError("the database had a bad moment")

    runner = Runner(
        db,
        settings,
        registry_of(
            JobSpec(bad, lambda s: 3600.0, boom),
            JobSpec(good, lambda s: 3600.0, lambda c: ran.append(c.tenant_id)),
        ),
    )
    assert sorted(runner.run_until_idle()) == sorted([bad, good])
    assert rounds(ran) == 1
    # counted for GET /metrics: roomwarden_job_runs_total by outcome, roomwarden_job_failures_total
    runs = "roomwarden_job_runs_total"
    assert REGISTRY.get_sample_value(runs, {"job": bad, "outcome": "failed"}) == 1
    assert REGISTRY.get_sample_value(runs, {"job": good, "outcome": "ok"}) == 1
    assert REGISTRY.get_sample_value(runs, {"job": good, "outcome": "failed"}) is None
    assert REGISTRY.get_sample_value("roomwarden_job_failures_total", {"job": bad}) == 1
    failed = row(db, bad)
    assert failed.failures == 1 and "bad moment" in (failed.last_error or "")
    assert failed.lease_owner is None


@pytest.mark.skipif(DB_KIND != "postgresql", reason="row-level security is PostgreSQL's")
def test_under_row_security_a_job_runs_for_the_tenants_it_has_work_for_and_resumes_where_it_stopped(
    world: World, settings: Settings
) -> None:
    """A job that names its tenants with work runs for those alone, each run stating one; a
    run cut short by its deadline is resumed after the last tenant it served, so no tenant
    waits behind the others for ever."""
    a, b, c = sorted(uuid.UUID(world.tenant().id) for _ in range(3))
    secured = Database(settings.database_url, row_security=True)
    try:
        name = job_name("work")
        seen: list[uuid.UUID | None] = []

        def work(ctx: JobContext) -> None:
            seen.append(ctx.tenant_id)
            with ctx.transaction() as session:  # it states that tenant alone
                assert stated_tenants(session) == {str(ctx.tenant_id)}

        with_work = select(Tenant.id).where(Tenant.id.in_([a, c]))
        spec = JobSpec(name, lambda s: 0.0, work, tenants_with_work=lambda: with_work)
        runner = Runner(secured, settings, registry_of(spec))
        assert runner.run_once() == name
        assert seen == [a, c]
        # a run that serves one tenant before its deadline: the next goes on with the other
        runner._last[name] = a
        assert runner._turn(name, [a, b, c]) == [b, c, a]
        runner._last[name] = c
        assert runner._turn(name, [a, b, c]) == [a, b, c]
    finally:
        secured.dispose()
