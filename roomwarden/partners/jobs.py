"""Link expiry as a background job (``partners.expiry``): the bookkeeping of links past their
end, the purge of links thirty days past it, and the reminders before it. Access itself ends at
the end without it (``models.live_link``)."""

from __future__ import annotations

from roomwarden.jobs.registry import JobContext, JobSpec
from roomwarden.partners.expiry import sweep

EXPIRY_JOB = "partners.expiry"
BATCH = 200


def _run(context: JobContext) -> int:
    total = 0
    while context.time_left():
        with context.db.transaction() as session:
            done = sweep(session, limit=BATCH)
        total += done
        if done < BATCH:
            break
    return total


def expiry_job() -> JobSpec:
    return JobSpec(EXPIRY_JOB, lambda s: float(s.partner_expiry_seconds), _run)
