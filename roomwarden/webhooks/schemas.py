from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from roomwarden.events.catalogue import NAMES
from roomwarden.kit.schemas import ONE_LINE, Input, Output, Patch, SecretBearing


def _events(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - set(NAMES))
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(unknown)} (docs/webhooks.md lists them)")
    return sorted(set(value), key=NAMES.index)


Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), ONE_LINE]
Events = Annotated[list[str], Field(min_length=1, max_length=len(NAMES)), AfterValidator(_events)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), ONE_LINE]
DeliveryStatus = Literal["pending", "succeeded", "failed", "skipped"]


class WebhookCreate(Input):
    url: Url
    events: Events
    description: Description = ""


class WebhookUpdate(Patch):
    url: Url = None  # type: ignore[assignment]
    events: Events = None  # type: ignore[assignment]
    description: Description = None  # type: ignore[assignment]
    #: true turns a disabled endpoint back on (its failure window starts over)
    enabled: bool = None  # type: ignore[assignment]


class WebhookRead(Output):
    id: uuid.UUID
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    #: until when the secret replaced by the last rotation still signs
    previous_secret_until: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookRead, SecretBearing):
    """The endpoint with its signing secret, shown this once."""

    secret: str


class SecretRotated(SecretBearing):
    id: uuid.UUID
    secret: str
    previous_secret_until: datetime


class DeliveryRead(Output):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    response_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
