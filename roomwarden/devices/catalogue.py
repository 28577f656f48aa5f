"""The signal catalogue: every signal a device reports (or the service raises), the severity
its failure has, and the title of its monitoring ticket. Reports, health, tickets, the portal
and the docs all read it from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["important", "warning"]
STATES = ("ok", "warning", "failed")


@dataclass(frozen=True)
class Signal:
    name: str
    severity: Severity
    title: str
    #: False for signals only the service raises (``offline``): a report naming one is refused.
    reported: bool = True


CATALOGUE: tuple[Signal, ...] = (
    Signal("display", "important", "Display not working"),
    Signal("camera", "important", "Camera not working"),
    Signal("microphone", "important", "Microphone not working"),
    Signal("speaker", "important", "Speaker not working"),
    Signal("network", "important", "Network connection failing"),
    Signal("sign_in", "important", "Room account cannot sign in"),
    Signal("calendar", "warning", "Calendar not synchronising"),
    Signal("software_update", "warning", "Software update failed"),
    Signal("offline", "important", "Room device offline", reported=False),
)
SIGNALS: dict[str, Signal] = {s.name: s for s in CATALOGUE}
REPORTED = tuple(s.name for s in CATALOGUE if s.reported)
ALL = tuple(s.name for s in CATALOGUE)
OFFLINE = "offline"
#: Held at ``failed`` by a failed install the device reported (roomwarden.software.delivery).
SOFTWARE_UPDATE = "software_update"


def ticket_severity(signal: str, state: str) -> Severity:
    """A ``warning`` state always has severity warning; a failure has the signal's own."""
    return "warning" if state == "warning" else SIGNALS[signal].severity
