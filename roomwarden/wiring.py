"""Start-up assembly of the domain: the higher packages fill the extension points of the lower
ones (``kit.extensions``), then every point is checked, so a missing rule stops the process
before it serves anything. Called by the application, the command line and the demo; calling
it again changes nothing.

``build_services`` assembles what runs beside the requests: every package's background jobs
in one registry (roomwarden/jobs) and the runner that runs them (the application's, or
``roomwarden worker``'s), woken after a commit that queued mail or recorded events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roomwarden.approvals import wiring as approvals
from roomwarden.approvals.jobs import sweep_job
from roomwarden.devices import wiring as devices
from roomwarden.devices.monitor import monitor_job
from roomwarden.events.service import EVENTS_RECORDED
from roomwarden.jobs import service as jobs
from roomwarden.jobs.registry import JobRegistry
from roomwarden.jobs.runner import Runner
from roomwarden.jobs.wake import CoalescedWake
from roomwarden.kit.db import Database
from roomwarden.kit.extensions import check_installed
from roomwarden.notifications.service import MAIL_JOB, Mailer
from roomwarden.partners import wiring as partners
from roomwarden.partners.jobs import expiry_job, invitation_sweep_job
from roomwarden.reports import wiring as reports
from roomwarden.rooms import health
from roomwarden.settings import Settings
from roomwarden.webhooks.delivery import WEBHOOK_JOB, Deliverer


def install() -> None:
    partners.install()
    approvals.install()
    devices.install()
    reports.install()
    check_installed()


@dataclass
class Services:
    mailer: Mailer
    deliverer: Deliverer
    registry: JobRegistry
    runner: Runner


def build_services(settings: Settings, db: Database) -> Services:
    mailer = Mailer(db, settings)
    registry = JobRegistry()
    registry.add(mailer.job())
    registry.add(sweep_job())
    registry.add(monitor_job())
    registry.add(invitation_sweep_job())
    registry.add(expiry_job())
    deliverer = Deliverer(db, settings)
    registry.add(deliverer.job())
    # Offline is a room's health at read time after this long without a report (rooms.health).
    health.configure(settings.device_offline_seconds)
    runner = Runner(db, settings, registry)

    def wake_mail() -> None:
        with db.transaction() as session:
            jobs.wake(session, MAIL_JOB)
        runner.poke()

    wake_webhooks = CoalescedWake(db, WEBHOOK_JOB, runner.poke)

    def events_recorded(info: dict[str, Any]) -> None:
        """After a commit that recorded events: deliver them now, not at the next poll."""
        if info.get(EVENTS_RECORDED):
            wake_webhooks()

    mailer.on_queued = wake_mail
    if mailer.enabled:
        db.after_commit_hooks.append(mailer.after_commit)
    db.after_commit_hooks.append(events_recorded)
    return Services(mailer, deliverer, registry, runner)
