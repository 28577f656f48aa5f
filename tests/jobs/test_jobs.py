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

import pytest
from prometheus_client import REGISTRY

from roomwarden.jobs.models import Job
from roomwarden.jobs.registry import JobContext, JobRegistry, JobSpec
from roomwarden.jobs.runner import Runner
from roomwarden.jobs.service import wake
from roomwarden.kit.db import Database
from roomwarden.settings import Settings


def job_name(label: str) -> str:
    return f"test.{label}.{uuid.uuid4().hex[:8]}"


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
    ran: list[str] = []
    survivor = Runner(db, settings, registry_of(JobSpec(name, lambda s: 3600.0, lambda ctx: ran.append("x"))))
    assert survivor.run_once() is None  # the dead process's lease still holds
    time.sleep(2.2)
    assert survivor.run_once() == name
    assert ran == ["x"]
    job = row(db, name)
    assert job.lease_owner is None and job.runs == 1


def test_wake_makes_a_job_due_at_once(settings: Settings, db: Database) -> None:
    name = job_name("wake")
    ran: list[int] = []
    runner = Runner(db, settings, registry_of(JobSpec(name, lambda s: 3600.0, lambda ctx: ran.append(1))))
    assert runner.run_once() == name
    assert runner.run_once() is None
    with db.transaction() as session:
        wake(session, name)
    assert runner.run_once() == name
    assert len(ran) == 2


def test_a_failing_job_is_recorded_and_the_others_still_run(settings: Settings, db: Database) -> None:
    bad, good = job_name("bad"), job_name("good")
    ran: list[str] = []

    def boom(_: JobContext) -> None:
        raise RuntimeError("the database had a bad moment")

    runner = Runner(
        db,
        settings,
        registry_of(
            JobSpec(bad, lambda s: 3600.0, boom), JobSpec(good, lambda s: 3600.0, lambda c: ran.append(good))
        ),
    )
    assert sorted(runner.run_until_idle()) == sorted([bad, good])
    assert ran == [good]
    # counted for GET /metrics: roomwarden_job_runs_total by outcome, roomwarden_job_failures_total
    runs = "roomwarden_job_runs_total"
    assert REGISTRY.get_sample_value(runs, {"job": bad, "outcome": "failed"}) == 1
    assert REGISTRY.get_sample_value(runs, {"job": good, "outcome": "ok"}) == 1
    assert REGISTRY.get_sample_value(runs, {"job": good, "outcome": "failed"}) is None
    assert REGISTRY.get_sample_value("roomwarden_job_failures_total", {"job": bad}) == 1
    failed = row(db, bad)
    assert failed.failures == 1 and "bad moment" in (failed.last_error or "")
    assert failed.lease_owner is None
