from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from roomwarden.devices.catalogue import ALL, REPORTED
from roomwarden.kit.schemas import FREE_TEXT, ONE_LINE, Input
from roomwarden.kit.time import utcnow
from roomwarden.software.schemas import DesiredSoftware, ReportedComponent, ReportedVersion, SoftwareResultIn

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), ONE_LINE]
Version = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), ONE_LINE]
SignalName = Literal[REPORTED]  # type: ignore[valid-type]
State = Literal["ok", "warning", "failed"]


class EnrollIn(Input):
    enrollment_key: Annotated[str, StringConstraints(min_length=1, max_length=200), ONE_LINE]
    serial_number: Label
    model: Label
    agent_version: Version


class EnrollOut(BaseModel):
    device_id: uuid.UUID
    room_id: uuid.UUID
    tenant_id: uuid.UUID
    device_token: str
    report_interval_seconds: int


class TokenOut(BaseModel):
    device_id: uuid.UUID
    device_token: str


class SignalReport(Input):
    signal: SignalName
    state: State
    detail: Annotated[str, StringConstraints(max_length=500), FREE_TEXT] = ""


#: A report carries at most this many finished meetings; a meeting lasts at most a day and
#: ends no later than this far past the service's clock.
MAX_MEETINGS = 500
MAX_MEETING = timedelta(hours=24)
CLOCK_SKEW = timedelta(minutes=5)


class MeetingIn(Input):
    """A finished meeting (SPEC §12): counted once per device and ``started_at``."""

    started_at: AwareDatetime
    ended_at: AwareDatetime
    participants: int = Field(ge=0, le=10_000)

    @model_validator(mode="after")
    def a_finished_meeting(self) -> MeetingIn:
        if self.ended_at <= self.started_at:
            raise ValueError("a meeting ends after it starts")
        if self.ended_at - self.started_at > MAX_MEETING:
            raise ValueError("a meeting lasts at most 24 hours")
        if self.ended_at > utcnow() + CLOCK_SKEW:
            raise ValueError("a finished meeting cannot end in the future")
        return self


class ReportIn(Input):
    sequence: int = Field(ge=0, le=2**63 - 1)
    signals: list[SignalReport] = Field(default_factory=list, max_length=len(REPORTED))
    # Software delivery (SPEC §12, roomwarden.software): what the device runs, its installs.
    software: dict[ReportedComponent, ReportedVersion] = Field(default_factory=dict, max_length=50)
    software_results: list[SoftwareResultIn] = Field(default_factory=list, max_length=50)
    # Usage (SPEC §12, roomwarden.reports): finished meetings, each counted once.
    meetings: list[MeetingIn] = Field(default_factory=list, max_length=MAX_MEETINGS)

    @model_validator(mode="after")
    def one_state_per_signal(self) -> ReportIn:
        names = [s.signal for s in self.signals]
        if len(names) != len(set(names)):
            raise ValueError("a report names each signal at most once")
        return self


class ReportOut(BaseModel):
    report_interval_seconds: int
    desired_software: list[DesiredSoftware] = Field(default_factory=list)


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), FREE_TEXT]
#: Any catalogue signal may be named in a path; ``offline`` is refused by the rule, in words.
AnySignal = Literal[ALL]  # type: ignore[valid-type]


class SuppressionIn(Input):
    reason: Reason
    until: datetime


class SuppressionChange(Input):
    """A suppression as change control holds it: the path's signal with the body."""

    signal: AnySignal
    reason: Reason
    until: datetime


class SuppressionEnd(Input):
    signal: AnySignal


class SuppressionRead(BaseModel):
    room_id: uuid.UUID
    signal: str
    reason: str
    until: datetime
    suppressed_by_user_id: uuid.UUID | None
