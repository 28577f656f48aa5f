"""A runner: a thread that claims due jobs and runs them, one at a time. ``roomwarden serve``
starts one per worker process (unless ``ROOMWARDEN_JOBS_IN_SERVE=false``), ``roomwarden
worker`` runs one in the foreground; any number may run against one database."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from roomwarden.jobs import service
from roomwarden.jobs.registry import JobContext, JobRegistry
from roomwarden.kit import metrics
from roomwarden.kit.db import Database
from roomwarden.settings import Settings

log = logging.getLogger("roomwarden.jobs")


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Runner:
    def __init__(self, db: Database, settings: Settings, registry: JobRegistry, *, owner: str | None = None):
        self.db = db
        self.settings = settings
        self.registry = registry
        self.owner = owner or new_owner()
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = False
        #: job name -> the tenant this runner last ran it for (row-level security)
        self._last: dict[str, uuid.UUID | None] = {}

    @property
    def lease_seconds(self) -> float:
        return float(self.settings.jobs_lease_seconds)

    def prepare(self) -> None:
        if not self._ready:
            service.ensure_jobs(self.db, self.registry.names())
            self._ready = True

    def run_once(self) -> str | None:
        """Claim and run one due job; its name, or None when nothing was due."""
        self.prepare()
        claim = service.claim_next(
            self.db, self.registry, self.settings, self.owner, lease_seconds=self.lease_seconds
        )
        if claim is None:
            return None
        # A job returns well before its lease ends, so no other runner takes it meanwhile.
        deadline = time.monotonic() + self.lease_seconds / 2
        error = None
        spec = self.registry[claim.name]
        try:
            # under row-level security each tenant in turn (those with work, when the job
            # knows them), stating its own alone; without it, one run across every tenant
            tenants: list[uuid.UUID | None] = [None]
            if self.db.row_security:
                tenants = list(service.tenant_ids(self.db, spec.tenants_with_work))
            for tenant_id in self._turn(claim.name, tenants):
                if time.monotonic() >= deadline:
                    break
                spec.run(JobContext(self.db, self.settings, deadline, tenant_id))
                self._last[claim.name] = tenant_id
        except Exception as exc:  # one failing job must not stop the others
            log.exception("job %s failed", claim.name)
            error = f"{type(exc).__name__}: {exc}"
            metrics.JOB_FAILURES.labels(claim.name).inc()
        if spec.next_due is not None:  # what the run left waiting, whether or not it failed
            try:
                service.due_by_next(self.db, claim.name, spec.next_due)
            except Exception:
                log.exception("job %s could not schedule its next run", claim.name)
        metrics.JOB_RUNS.labels(claim.name, "ok" if error is None else "failed").inc()
        if not service.finish(self.db, claim, error):
            log.warning("job %s outlived its lease", claim.name)
        return claim.name

    def _turn(self, name: str, tenants: list[uuid.UUID | None]) -> list[uuid.UUID | None]:
        """``tenants``, starting after the one this runner last ran ``name`` for: when a run
        stops at its deadline, the next one goes on where it stopped instead of serving the
        first tenants again and never the last."""
        last = self._last.get(name)
        if last is None:
            return tenants
        after = [t for t in tenants if t is not None and t > last]
        return after + [t for t in tenants if t is None or t <= last]

    def run_until_idle(self, limit: int = 100) -> list[str]:
        """Run due jobs until none is due (for tests and ``worker --once``)."""
        ran: list[str] = []
        for _ in range(limit):
            name = self.run_once()
            if name is None:
                break
            ran.append(name)
        return ran

    def poke(self) -> None:
        """Look for due jobs now instead of at the next poll."""
        self._poke.set()

    def loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # the loop must outlive a bad moment of the database
                log.exception("job runner failed to claim")
                ran = None
            if ran is None:
                self._poke.wait(self.settings.jobs_poll_seconds)
                self._poke.clear()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.loop, name="roomwarden-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._poke.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
