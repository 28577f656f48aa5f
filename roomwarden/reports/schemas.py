from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel

from roomwarden.partners.schemas import CustomerHealth, PartnerHealthReport, WithheldCustomer
from roomwarden.rooms.schemas import HealthReport


class RoomHealthDays(BaseModel):
    room_id: uuid.UUID
    room_name: str
    #: Room-local days in the range on which the room was monitored (see docs/reports.md).
    monitored_days: int
    unhealthy_days: int


class DayHealth(BaseModel):
    day: date
    room_days: int
    healthy_room_days: int
    #: ``healthy_room_days / room_days``; null on a day no room was monitored.
    healthy_share: float | None


class HealthFigures(BaseModel):
    """The health report's figures over a range of room-local days (SPEC §12)."""

    start: date
    end: date
    rooms: list[RoomHealthDays]
    days: list[DayHealth]
    room_days: int
    unhealthy_room_days: int
    healthy_share: float | None
    #: Monitoring tickets opened (or reopened) in the range, per signal.
    tickets_per_signal: dict[str, int]
    #: Openings of monitoring tickets resolved in the range, and the median time from the
    #: opening to the resolution.
    resolved_tickets: int
    median_time_to_resolve_seconds: float | None


class HealthRangeReport(HealthFigures, HealthReport):
    """Today's rooms per health state and open tickets, with the figures over the range."""


class RoomUsage(BaseModel):
    room_id: uuid.UUID
    room_name: str
    meetings: int
    hours: float


class DayUsage(BaseModel):
    day: date
    meetings: int
    hours: float


class UsageFigures(BaseModel):
    start: date
    end: date
    total_rooms: int
    meetings: int
    hours: float
    rooms: list[RoomUsage]
    days: list[DayUsage]


class UsageReport(UsageFigures):
    tenant_id: uuid.UUID
    generated_at: datetime


class CustomerHealthRange(HealthFigures, CustomerHealth):
    pass


class PartnerHealthRangeReport(HealthFigures, PartnerHealthReport):
    """Per customer in which the caller holds ``reports.view`` and in total; ``rooms`` (in
    total) lists every customer's rooms, as in each customer's part."""

    customers: list[CustomerHealthRange]  # type: ignore[assignment]


class CustomerUsage(UsageFigures):
    customer_id: uuid.UUID
    customer_name: str


class PartnerUsageReport(UsageFigures):
    customers: list[CustomerUsage]
    withheld: list[WithheldCustomer]
    generated_at: datetime
