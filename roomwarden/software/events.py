"""What software delivery announces to the packages above it (``kit.extensions``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from roomwarden.kit.extensions import Event


@dataclass(frozen=True)
class InstallFailed:
    """A device reported a failed install (ids and versions only: the device's detail is its
    own words and stays in the room's software and signal)."""

    session: Session
    tenant_id: uuid.UUID
    room_id: uuid.UUID
    device_id: uuid.UUID
    component: str
    version: str


#: Optional: the monitoring ticket of ``software_update`` follows from the signal either way;
#: an event stream (webhooks) may connect here.
install_failed: Event[InstallFailed] = Event("software.install_failed", required=False)
