"""The approval sweep as a background job: overdue pending requests become expired (and
their requesters are told) even when nobody reads them."""

from __future__ import annotations

from roomwarden.approvals.service import sweep
from roomwarden.jobs.registry import JobContext, JobSpec

SWEEP_JOB = "approvals.sweep"
BATCH = 500


def _run(context: JobContext) -> int:
    total = 0
    while context.time_left():
        with context.transaction() as session:
            done = sweep(session, limit=BATCH)
        total += done
        if done < BATCH:
            break
    return total


def sweep_job() -> JobSpec:
    return JobSpec(SWEEP_JOB, lambda s: float(s.approvals_sweep_seconds), _run)
