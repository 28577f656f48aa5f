from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from roomwarden.devices.catalogue import ALL, REPORTED
from roomwarden.kit.schemas import FREE_TEXT, ONE_LINE, Input
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


class ReportIn(Input):
    sequence: int = Field(ge=0, le=2**63 - 1)
    signals: list[SignalReport] = Field(default_factory=list, max_length=len(REPORTED))
    # Software delivery (SPEC §12, roomwarden.software): what the device runs, its installs.
    software: dict[ReportedComponent, ReportedVersion] = Field(default_factory=dict, max_length=50)
    software_results: list[SoftwareResultIn] = Field(default_factory=list, max_length=50)
    meetings: list[dict[str, Any]] = Field(default_factory=list, max_length=500)

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
