"""The invitation sweep as a background job: pending invitations past their expiry become
``expired`` (with their ``partner.invitation.expired`` event) even when nobody reads them.
It runs as often as the approval sweep (``ROOMWARDEN_APPROVALS_SWEEP_SECONDS``)."""

from __future__ import annotations

from roomwarden.jobs.registry import JobContext, JobSpec
from roomwarden.partners.invitations import expire_overdue

INVITATION_SWEEP_JOB = "partners.invitation_sweep"
BATCH = 500


def _run(context: JobContext) -> int:
    total = 0
    while context.time_left():
        with context.db.transaction() as session:
            done = expire_overdue(session, limit=BATCH)
        total += done
        if done < BATCH:
            break
    return total


def invitation_sweep_job() -> JobSpec:
    return JobSpec(INVITATION_SWEEP_JOB, lambda s: float(s.approvals_sweep_seconds), _run)
