"""What reports answer for the packages below them (``kit.extensions``), registered at
start-up by ``roomwarden.wiring.install``: a monitoring ticket's change moves the health
roll-up, and an accepted device report marks its room's day monitored and stores its
meetings, each in the same transaction."""

from __future__ import annotations

from roomwarden.devices import events as device_events
from roomwarden.devices.events import ReportAccepted
from roomwarden.reports import meetings, rollup
from roomwarden.rooms import events as room_events
from roomwarden.rooms.events import MonitoringTicketChanged


def install() -> None:
    room_events.monitoring_ticket_changed.connect(_ticket_changed)
    device_events.report_accepted.connect(_report_accepted)


def _ticket_changed(event: MonitoringTicketChanged) -> None:
    rollup.ticket_changed(event.session, event.ticket, event.at)


def _report_accepted(event: ReportAccepted) -> None:
    rollup.report_arrived(event.session, event.room, event.previous, event.now)
    meetings.store(event.session, event.device, event.room, event.data.meetings)
