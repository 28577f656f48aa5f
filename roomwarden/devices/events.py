"""What a device's report tells the packages above devices (``kit.extensions``): an accepted
report, with the meetings it carries and the time of the report before it, for the reports'
roll-ups and usage (roomwarden/reports)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from roomwarden.devices.models import Device
from roomwarden.devices.schemas import ReportIn
from roomwarden.kit.extensions import Event
from roomwarden.rooms.models import Room


@dataclass(frozen=True, slots=True)
class ReportAccepted:
    """``data`` was accepted from ``device`` at ``now``; ``previous`` is the room's last
    report time before it (None for the first)."""

    session: Session
    device: Device
    room: Room
    data: ReportIn
    previous: datetime | None
    now: datetime


report_accepted: Event[ReportAccepted] = Event("devices.report_accepted")
