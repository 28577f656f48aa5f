from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from roomwarden.kit.schemas import FREE_TEXT, Input

Status = Literal["pending", "approved", "rejected", "cancelled", "expired", "failed"]
Event = Literal[
    "room.update",
    "update_ring.change",
    "incident.create",
    "ticket.update",
    "partner_role.change",
    "elevation.activate",
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), FREE_TEXT]


class Person(BaseModel):
    user_id: uuid.UUID
    tenant_id: uuid.UUID | None = None
    upn: str | None = None
    display_name: str | None = None


class Target(BaseModel):
    type: str
    id: uuid.UUID | None
    name: str


class FieldChange(BaseModel):
    field: str
    before: Any = None
    after: Any = None


class ApprovalRequestRead(BaseModel):
    """A held partner action: who asked, what exactly, against which state of its target,
    and how it ended."""

    id: uuid.UUID
    status: Status
    event: Event
    events: list[Event]
    action: str = Field(description="the held operation, e.g. room.update, role.delete")
    customer_id: uuid.UUID
    customer_name: str
    partner_id: uuid.UUID
    partner_name: str
    link_id: uuid.UUID
    requester: Person
    target: Target
    room_id: uuid.UUID | None
    change: dict[str, Any] = Field(description="the request exactly as the partner sent it")
    before: dict[str, Any] | None = Field(description="the target's state the request was made against")
    after: dict[str, Any] | None = Field(description="the target's state had it been applied then")
    diff: list[FieldChange]
    reason: str | None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: Person | None
    result_id: uuid.UUID | None = Field(description="the object an approved creation made")


class RejectBody(Input):
    reason: Reason


class CancelBody(Input):
    reason: Reason | None = None
