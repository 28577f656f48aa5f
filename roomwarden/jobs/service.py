"""Claiming, finishing and waking jobs.

**Why a claim is atomic.** A claim reads the oldest due job whose lease is free and writes a
lease on it, in one short transaction:

- On PostgreSQL the read is ``SELECT ... FOR UPDATE SKIP LOCKED``: two runners reading at once
  never get the same row (the second skips the row the first has locked), and the row lock is
  held until the lease is committed. A runner that waited on nothing never blocks on another.
- On SQLite every write transaction begins with ``BEGIN IMMEDIATE`` (``kit.db``): writers are
  serialised, so the read and the conditional update of a claim cannot interleave with another
  runner's, and a claim is the conditional ``UPDATE ... WHERE lease is free`` it looks like.

The claim also moves ``due_at`` to the next run, so a finished job needs no second decision;
a wake during the run (``wake``) makes it due again at once. A runner that dies leaves its
lease behind, and the job is due again when the lease has passed: the lease, not the process,
says who may run a job. Finishing clears the lease only if it is still ours.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from roomwarden.jobs.models import Job
from roomwarden.jobs.registry import JobRegistry, NextDue, TenantsWithWork
from roomwarden.kit import metrics
from roomwarden.kit.db import Database, state_tenants_of
from roomwarden.kit.time import utcnow
from roomwarden.settings import Settings
from roomwarden.tenants.models import EVERY_TENANT, Tenant


@dataclass(frozen=True)
class Claim:
    name: str
    owner: str
    lease_until: datetime


def ensure_jobs(db: Database, names: list[str]) -> None:
    """Create the rows of jobs this process knows (each process may add new ones)."""
    with db.transaction() as session:
        dialect = session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Job)
        session.execute(
            insert.values([{"name": n, "due_at": utcnow()} for n in names]).on_conflict_do_nothing(
                index_elements=["name"]
            )
        )


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(Job.lease_until.is_(None), Job.lease_until <= now)


def claim_next(
    db: Database, registry: JobRegistry, settings: Settings, owner: str, *, lease_seconds: float
) -> Claim | None:
    """Take the lease of the most overdue job this process knows, or None when none is due."""
    now = utcnow()
    with db.transaction() as session:
        job = session.scalar(
            select(Job)
            .where(Job.name.in_(registry.names()), Job.due_at <= now, _free(now))
            .order_by(Job.due_at, Job.name)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if job is None:
            return None
        lease_until = now + timedelta(seconds=lease_seconds)
        interval = registry[job.name].interval(settings)
        claimed = session.execute(
            update(Job)
            .where(Job.name == job.name, _free(now))
            .values(
                lease_owner=owner,
                lease_until=lease_until,
                last_started_at=now,
                due_at=now + timedelta(seconds=interval),
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
    return Claim(job.name, owner, lease_until)


def finish(db: Database, claim: Claim, error: str | None = None) -> bool:
    """Give the lease back and count the run. False when the lease was no longer ours (it
    passed and another runner took the job): nothing is written then."""
    now = utcnow()
    values: dict[str, object] = {"lease_owner": None, "lease_until": None, "last_finished_at": now}
    values["runs"] = Job.runs + 1
    if error is None:
        values["last_error"] = None
    else:
        values["last_error"] = error[:2000]
        values["failures"] = Job.failures + 1
    with db.transaction() as session:
        done = session.execute(
            update(Job)
            .where(Job.name == claim.name, Job.lease_owner == claim.owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]


def wake(session: Session, name: str) -> None:
    """Make a job due now (in the caller's transaction). A job being run is run again once
    its current run ends."""
    now = utcnow()
    session.execute(
        update(Job)
        .where(Job.name == name, Job.due_at > now)
        .values(due_at=now)
        .execution_options(synchronize_session=False)
    )


def due_by(session: Session, name: str, at: datetime) -> None:
    """Make a job due at ``at`` at the latest (in the caller's transaction): a job whose own
    work falls due before its next run (a retry in two seconds) asks to run then."""
    session.execute(
        update(Job)
        .where(Job.name == name, Job.due_at > at)
        .values(due_at=at)
        .execution_options(synchronize_session=False)
    )


def due_by_next(db: Database, name: str, next_due: NextDue) -> None:
    """Make a job due when its next waiting piece of work does (``JobSpec.next_due``, read
    with every tenant stated), if that is before its next run."""
    with db.transaction() as session:
        state_tenants_of(session, EVERY_TENANT)
        upcoming = session.scalar(next_due())
        if upcoming is not None:
            due_by(session, name, upcoming)


def due_count(session: Session) -> int:
    """Jobs due and not claimed: the queue's depth (``roomwarden_job_queue_depth{queue="jobs"}``)."""
    now = utcnow()
    due = select(func.count()).select_from(Job).where(Job.due_at <= now, _free(now))
    return int(session.scalar(due) or 0)


metrics.queue_depths["jobs"] = due_count


def job_rows(session: Session) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.name)))


def tenant_ids(db: Database, with_work: TenantsWithWork | None = None) -> list[uuid.UUID]:
    """The tenants a job runs for, one after the other, in a stable order: every tenant, or
    those ``with_work`` names (read with every tenant stated: which tenants have work is a
    question about the whole instance; the job's own transactions state one tenant each)."""
    with db.transaction(write=False) as session:
        if with_work is None:
            return list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
        state_tenants_of(session, EVERY_TENANT)
        found: set[uuid.UUID] = set(session.scalars(with_work()))
        return sorted(found)
