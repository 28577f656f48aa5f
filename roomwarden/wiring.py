"""Start-up assembly of the domain: the higher packages fill the extension points of the lower
ones (``kit.extensions``), then every point is checked, so a missing rule stops the process
before it serves anything. Called by the application, the command line and the demo; calling
it again changes nothing.

``build_services`` assembles what runs beside the requests: every package's background jobs
in one registry (roomwarden/jobs) and the runner that runs them (the application's, or
``roomwarden worker``'s)."""

from __future__ import annotations

from dataclasses import dataclass

from roomwarden.approvals import wiring as approvals
from roomwarden.approvals.jobs import sweep_job
from roomwarden.devices import wiring as devices
from roomwarden.devices.monitor import monitor_job
from roomwarden.jobs import service as jobs
from roomwarden.jobs.registry import JobRegistry
from roomwarden.jobs.runner import Runner
from roomwarden.kit.db import Database
from roomwarden.kit.extensions import check_installed
from roomwarden.notifications.service import MAIL_JOB, Mailer
from roomwarden.partners import wiring as partners
from roomwarden.partners.jobs import expiry_job
from roomwarden.rooms import health
from roomwarden.settings import Settings


def install() -> None:
    partners.install()
    approvals.install()
    devices.install()
    check_installed()


@dataclass
class Services:
    mailer: Mailer
    registry: JobRegistry
    runner: Runner


def build_services(settings: Settings, db: Database) -> Services:
    mailer = Mailer(db, settings)
    registry = JobRegistry()
    registry.add(mailer.job())
    registry.add(sweep_job())
    registry.add(monitor_job())
    registry.add(expiry_job())
    # Offline is a room's health at read time after this long without a report (rooms.health).
    health.configure(settings.device_offline_seconds)
    runner = Runner(db, settings, registry)

    def wake_mail() -> None:
        with db.transaction() as session:
            jobs.wake(session, MAIL_JOB)
        runner.poke()

    mailer.on_queued = wake_mail
    if mailer.enabled:
        db.after_commit_hooks.append(mailer.after_commit)
    return Services(mailer, registry, runner)
