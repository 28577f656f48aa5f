"""A room's health as people read it: what its device last reported (kept on the room by the
device's reports, ``Room.reported_health``), unless no report arrived for
``ROOMWARDEN_DEVICE_OFFLINE_SECONDS`` — then the room is offline and unhealthy at once, on
every read, whether or not the monitor has run yet.

The offline delay is configuration, the same in every process: ``configure`` is called at
start-up with the settings."""

from __future__ import annotations

from datetime import datetime, timedelta

from roomwarden.kit.time import utcnow

HEALTH_STATES = ("healthy", "degraded", "unhealthy", "unknown")
_offline_after = [timedelta(seconds=180)]


def configure(offline_seconds: int) -> None:
    _offline_after[0] = timedelta(seconds=offline_seconds)


def offline_cutoff(now: datetime | None = None) -> datetime:
    """Rooms whose last report is older than this are offline."""
    return (now or utcnow()) - _offline_after[0]


def is_offline(last_report_at: datetime | None, now: datetime | None = None) -> bool:
    return last_report_at is not None and last_report_at < offline_cutoff(now)


def effective(reported: str, last_report_at: datetime | None, now: datetime | None = None) -> str:
    return "unhealthy" if is_offline(last_report_at, now) else reported
