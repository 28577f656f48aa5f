"""The partners' background jobs.

- ``partners.invitation_sweep``: pending invitations past their expiry become ``expired``
  (with their ``partner.invitation.expired`` event) even when nobody reads them. It runs as
  often as the approval sweep (``ROOMWARDEN_APPROVALS_SWEEP_SECONDS``).
- ``partners.expiry``: the bookkeeping of links past their end, the purge of links thirty days
  past it, and the reminders before it (``ROOMWARDEN_PARTNER_EXPIRY_SECONDS``). Access itself
  ends at the end without it (``models.live_link``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from roomwarden.jobs.registry import JobContext, JobSpec
from roomwarden.partners.expiry import sweep
from roomwarden.partners.invitations import expire_overdue

INVITATION_SWEEP_JOB = "partners.invitation_sweep"
EXPIRY_JOB = "partners.expiry"
INVITATION_BATCH = 500
EXPIRY_BATCH = 200


def _batches(step: Callable[[Session, int], int], batch: int) -> Callable[[JobContext], int]:
    """Run ``step`` in transactions of ``batch`` rows until a batch falls short or the job's
    time is up."""

    def run(context: JobContext) -> int:
        total = 0
        while context.time_left():
            with context.transaction() as session:
                done = step(session, batch)
            total += done
            if done < batch:
                break
        return total

    return run


def invitation_sweep_job() -> JobSpec:
    run = _batches(lambda session, n: expire_overdue(session, limit=n), INVITATION_BATCH)
    return JobSpec(INVITATION_SWEEP_JOB, lambda s: float(s.approvals_sweep_seconds), run)


def expiry_job() -> JobSpec:
    run = _batches(lambda session, n: sweep(session, limit=n), EXPIRY_BATCH)
    return JobSpec(EXPIRY_JOB, lambda s: float(s.partner_expiry_seconds), run)
