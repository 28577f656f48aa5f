from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from roomwarden.kit.schemas import FREE_TEXT, ONE_LINE, Input, Output
from roomwarden.rooms.schemas import RingRead
from roomwarden.software.versions import COMPONENT, DOTTED_HINT, parse


def _component(value: str) -> str:
    if not COMPONENT.fullmatch(value):
        raise ValueError(
            "must be letters, digits, '.', '_' or '-', starting with a letter or digit, "
            "at most 64 characters (e.g. agent, room-os)"
        )
    return value


def _dotted(value: str) -> str:
    if parse(value) is None:
        raise ValueError(DOTTED_HINT)
    return value


Component = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(_component)
]
ReleaseVersion = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(_dotted)
]
#: What a device names in ``software`` and ``software_results`` (matched to the catalogue as is).
ReportedComponent = Annotated[str, StringConstraints(min_length=1, max_length=100), ONE_LINE]
ReportedVersion = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), ONE_LINE
]


class ReleaseCreate(Input):
    component: Component
    version: ReleaseVersion
    notes: Annotated[str, StringConstraints(max_length=4000), FREE_TEXT] = ""


class ReleaseRead(Output):
    id: uuid.UUID
    component: str
    version: str
    notes: str
    published_at: datetime


class SoftwareResultIn(Input):
    """One install attempt, as the device reports it."""

    component: ReportedComponent
    version: ReportedVersion
    status: Literal["installed", "failed"]
    detail: Annotated[str, StringConstraints(max_length=500), FREE_TEXT] = ""


class DesiredSoftware(BaseModel):
    """An offer in a report's answer: install ``version`` of ``component`` before
    ``install_before`` (the end of the room's current maintenance window, UTC)."""

    component: str
    version: str
    install_before: datetime


class VersionCount(BaseModel):
    version: str
    rooms: int


class RingSoftwareRead(BaseModel):
    """A component across a ring's rooms that the caller may see: how many run each version
    (newest first), how many run the newest release (``current``)."""

    component: str
    newest: str | None
    current: int
    versions: list[VersionCount] = Field(default_factory=list)


class UpdateRingRead(RingRead):
    """An update ring with its roll-out: per component, the versions its visible rooms run."""

    software: list[RingSoftwareRead] = Field(default_factory=list)
