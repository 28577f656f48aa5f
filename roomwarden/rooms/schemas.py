from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from roomwarden.kit.countries import ISO_3166_ALPHA2
from roomwarden.kit.schemas import (
    FREE_TEXT,
    ONE_LINE,
    Input,
    Name,
    Output,
    Patch,
    SecretBearing,
    ShortName,
    Text,
    TimeZone,
    Upn,
)


def _country(value: str) -> str:
    code = value.strip().upper()
    if code not in ISO_3166_ALPHA2:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, e.g. US, DE, KR")
    return code


Country = Annotated[str, StringConstraints(min_length=2, max_length=2), AfterValidator(_country)]
Place = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), ONE_LINE]
HealthState = Literal["healthy", "degraded", "unhealthy", "unknown"]
TicketStatus = Literal["open", "in_progress", "resolved", "closed"]
Severity = Literal["important", "warning"]
EnrollmentState = Literal["enrolled", "unenrolled"]
TicketKind = Literal["incident", "service"]
TicketSource = Literal["customer", "monitoring"]
SignalState = Literal["ok", "warning", "failed"]
IdList = Annotated[list[uuid.UUID], Field(max_length=10000)]

# -- rooms --------------------------------------------------------------------------------


class RoomCreate(Input):
    name: Name
    resource_account: Upn
    country: Country
    city: Place = ""
    building: Place = ""
    update_ring_id: uuid.UUID | None = None
    room_group_ids: IdList = Field(default_factory=list)
    #: IANA name; omitted, the tenant's ``default_time_zone``
    time_zone: TimeZone | None = None


class RoomUpdate(Patch):
    # Defaults of None are not validated: a field may be omitted but not set to null.
    name: Name = None  # type: ignore[assignment]
    resource_account: Upn = None  # type: ignore[assignment]
    country: Country = None  # type: ignore[assignment]
    city: Place = None  # type: ignore[assignment]
    building: Place = None  # type: ignore[assignment]
    update_ring_id: uuid.UUID = None  # type: ignore[assignment]
    time_zone: TimeZone = None  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _health_is_derived(cls, data: object) -> object:
        if isinstance(data, dict) and "health_state" in data:
            raise ValueError(
                "health_state is derived from the room's device reports and cannot be set; "
                "suppress a signal instead (PUT .../rooms/{id}/suppressions/{signal})"
            )
        return data


class RoomDevice(BaseModel):
    id: uuid.UUID
    model: str
    serial_number: str
    agent_version: str
    enrolled_at: datetime
    last_report_at: datetime | None


class RoomSignalRead(BaseModel):
    signal: str
    state: SignalState
    detail: str
    since: datetime
    suppressed_until: datetime | None


class InstallResult(BaseModel):
    version: str
    status: Literal["installed", "failed"]
    detail: str
    at: datetime


class RoomSoftwareRead(BaseModel):
    """A component of the room's device (SPEC §12): the version it runs (null: not reported),
    how it stands against the release catalogue (null when no release of it is published),
    the newest release, and the last install the device reported."""

    component: str
    version: str | None
    compliance: Literal["current", "previous", "outdated"] | None
    newest: str | None
    last_result: InstallResult | None = None


class RoomRead(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    resource_account: str
    country: str
    city: str
    building: str
    update_ring_id: uuid.UUID
    enrollment_state: EnrollmentState
    health_state: HealthState
    time_zone: str
    device: RoomDevice | None = None
    signals: list[RoomSignalRead] = Field(default_factory=list)
    software: list[RoomSoftwareRead] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class EnrollmentKeyRead(SecretBearing):
    room_id: uuid.UUID
    enrollment_key: str


class KeyResetRead(BaseModel):
    room_id: uuid.UUID
    reset_at: datetime


# -- room groups ------------------------------------------------------------------------------


#: A rule of a rule-based group (``rooms.rules``): its grammar is checked by the service, which
#: answers 422 with the position and the reason.
RuleText = Annotated[
    str,
    Field(max_length=16384, description='e.g. country in ["US", "CA"] and not city == "Toronto"'),
    FREE_TEXT,  # line breaks and tabs are blanks to the grammar; other control characters are refused
]


class RoomGroupCreate(Input):
    """A list of rooms (``room_ids``) or a rule that selects them (``rule``), not both."""

    name: Name
    room_ids: IdList = Field(default_factory=list)
    rule: RuleText | None = None

    @model_validator(mode="after")
    def _list_or_rule(self) -> RoomGroupCreate:
        if self.rule is not None and self.room_ids:
            raise ValueError("a room group is a list of rooms or a rule, not both: give room_ids or rule")
        return self


class RoomGroupUpdate(Patch):
    """``rule`` replaces the rule (a list group becomes a rule group); ``rule: null`` makes a
    rule group a list of the rooms it holds now."""

    name: Name = None  # type: ignore[assignment]
    room_ids: IdList = None  # type: ignore[assignment]
    rule: RuleText | None = None

    @model_validator(mode="after")
    def _list_or_rule(self) -> RoomGroupUpdate:
        if {"rule", "room_ids"} <= self.model_fields_set:
            raise ValueError("a room group is a list of rooms or a rule, not both: give room_ids or rule")
        return self


class RulePreviewIn(Input):
    rule: RuleText


class RulePreview(Output):
    """What a rule would select now, of the rooms the caller may view: how many, and the first
    ones by name (``PREVIEW_ROOMS``)."""

    count: int
    rooms: list[RoomRead]


class RoomGroupSummary(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    rule: str | None = Field(description="the rule of a rule-based group; null for a list of rooms")
    room_count: int
    created_at: datetime


class RoomGroupRead(RoomGroupSummary):
    room_ids: list[uuid.UUID]


# -- update rings --------------------------------------------------------------------------------


#: How many days after its publication a release is due in a ring (SPEC §12).
MAX_DEFERRAL_DAYS = 60


class RingCreate(Input):
    name: ShortName
    deferral_days: int = Field(ge=0, le=MAX_DEFERRAL_DAYS)
    paused: bool = False


class RingUpdate(Patch):
    name: ShortName = None  # type: ignore[assignment]
    deferral_days: int = Field(default=None, ge=0, le=MAX_DEFERRAL_DAYS)  # type: ignore[assignment]
    paused: bool = None  # type: ignore[assignment]


class RingRead(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    deferral_days: int
    paused: bool
    is_default: bool
    room_count: int
    created_at: datetime


# -- tickets ----------------------------------------------------------------------------------------


class IncidentCreate(Input):
    room_id: uuid.UUID
    title: Name
    description: Text = ""
    severity: Severity


class TicketUpdateIn(Input):
    status: TicketStatus = None  # type: ignore[assignment]
    comment: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), FREE_TEXT
    ] = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def something_to_do(self) -> TicketUpdateIn:
        if self.status is None and self.comment is None:
            raise ValueError("give a new status, a comment, or both")
        return self


class TicketHistoryItem(Output):
    id: uuid.UUID
    author_user_id: uuid.UUID | None
    author_tenant_id: uuid.UUID | None
    status_from: TicketStatus | None
    status_to: TicketStatus | None
    comment: str
    created_at: datetime


class TicketRead(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    room_id: uuid.UUID
    room_name: str
    kind: TicketKind
    source: TicketSource
    signal: str | None
    status: TicketStatus
    severity: Severity
    title: str
    description: str
    created_by_user_id: uuid.UUID | None
    created_by_tenant_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class TicketDetail(TicketRead):
    updates: list[TicketHistoryItem]


# -- reports -------------------------------------------------------------------------------------------


class HealthReport(BaseModel):
    tenant_id: uuid.UUID
    total_rooms: int
    healthy: int
    degraded: int
    unhealthy: int
    unknown: int
    rooms_by_health: dict[str, int]
    open_tickets: int
    generated_at: datetime
