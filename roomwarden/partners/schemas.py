from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from roomwarden.access.schemas import MemberRef, ScopeIn, ScopeRead
from roomwarden.kit.schemas import FREE_TEXT, Domain, Input, Patch

# "draft" is what the review step answers: the invitation as it would be sent.
InvitationStatus = Literal["draft", "pending", "accepted", "denied", "revoked", "expired"]
LinkStatus = Literal["active", "expired", "ended"]

Mode = Literal["auto", "manual"]
EVENTS = ("room.update", "update_ring.change", "incident.create", "ticket.update", "partner_role.change")
#: Activating an eligible partner assignment (SPEC §4): the one event held (``manual``) by default.
ELEVATION_ACTIVATE = "elevation.activate"


class ApprovalPolicy(Input):
    """Change control per partner write event; every event defaults to ``auto`` but the
    activation of an eligible assignment, which defaults to ``manual``."""

    room_update: Mode = Field("auto", alias="room.update")
    update_ring_change: Mode = Field("auto", alias="update_ring.change")
    incident_create: Mode = Field("auto", alias="incident.create")
    ticket_update: Mode = Field("auto", alias="ticket.update")
    partner_role_change: Mode = Field("auto", alias="partner_role.change")
    elevation_activate: Mode = Field("manual", alias="elevation.activate")

    model_config = {**Input.model_config, "populate_by_name": False}

    def as_dict(self) -> dict[str, str]:
        return self.model_dump(by_alias=True)


class InvitationCreate(Input):
    partner_domain: Domain
    expires_in_days: int = Field(ge=1, le=30, strict=True)
    approval_policy: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    scope: ScopeIn
    terms_accepted: Literal[True]
    #: The link this invitation establishes ends so many days after acceptance (none: no end).
    link_duration_days: int | None = Field(None, ge=1, le=730, strict=True)


class ScopeSize(BaseModel):
    all: bool
    rooms: int
    room_groups: int


class InvitationRead(BaseModel):
    """What the customer sends, and reads back."""

    id: uuid.UUID | None
    status: InvitationStatus
    customer_id: uuid.UUID
    #: Named once the invitation exists; the review step (``status: draft``) names no tenant.
    partner_id: uuid.UUID | None
    partner_name: str | None
    partner_domain: str | None = None
    expires_at: datetime
    approval_policy: dict[str, str]
    scope: ScopeRead
    terms_accepted: bool = True
    created_at: datetime | None
    link_id: uuid.UUID | None = None
    link_duration_days: int | None = None


class PartnerInvitationRead(BaseModel):
    """What the partner sees before it holds a role: high-level customer metadata only."""

    id: uuid.UUID
    status: InvitationStatus
    customer_id: uuid.UUID
    customer_name: str
    scope_size: ScopeSize
    expires_at: datetime
    approval_policy: dict[str, str]
    created_at: datetime
    link_duration_days: int | None = None


class AcceptInvitation(Input):
    primary_admins: list[MemberRef] = Field(default_factory=list, max_length=100)


class LinkUpdate(Patch):
    scope: ScopeIn = None  # type: ignore[assignment]
    approval_policy: ApprovalPolicy = None  # type: ignore[assignment]
    #: How many days a held partner action waits for a decision before it expires.
    approval_expires_in_days: int = Field(default=None, ge=1, le=90, strict=True)  # type: ignore[assignment]
    #: The link's end: a future instant at most 730 days ahead, or ``null`` for none.
    expires_at: AwareDatetime | None = None
    #: The longest activation of an eligible partner assignment, in minutes.
    max_elevation_minutes: int = Field(default=None, ge=5, le=480, strict=True)  # type: ignore[assignment]


class LinkRenew(Input):
    """Renew an expired link: its new end (``null``: none)."""

    expires_at: AwareDatetime | None = None


class LinkRead(BaseModel):
    id: uuid.UUID
    status: LinkStatus
    customer_id: uuid.UUID
    customer_name: str
    partner_id: uuid.UUID
    partner_name: str
    scope: ScopeRead
    approval_policy: dict[str, str]
    approval_expires_in_days: int
    primary_admins_role_id: uuid.UUID | None
    created_at: datetime
    ended_at: datetime | None
    #: The link's end: from this instant no partner user reaches the customer (``null``: none).
    expires_at: datetime | None = None
    #: An expired link can be renewed until then (its roles and Primary admins are kept).
    renewable_until: datetime | None = None
    max_elevation_minutes: int = 60
    version: int = Field(
        description='counts the changes; the `ETag` is `"v{version}"` (send it as `If-Match`)'
    )


class ScopeRoomsAdd(Input):
    """Rooms to add to a link's scope (the rooms already in it stay)."""

    room_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class ScopeGroupsAdd(Input):
    """Room groups to add to a link's scope (the groups already in it stay)."""

    room_group_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class PartnerLinkRead(LinkRead):
    """A link as the partner sees it. The delegated rooms and groups (``scope``) are shown
    only to partner users who hold a role in the link; others (tenant managers, the partner's
    admins without a role there) see the scope's size, as in an invitation."""

    scope: ScopeRead | None  # type: ignore[assignment]
    scope_size: ScopeSize
    holds_role: bool
    #: The customer requires partner users to sign in with a second factor (its delegated
    #: rooms are then shown, and its link acted on, only after such a sign-in).
    second_factor_required: bool = False


class TenantManagerCreate(Input):
    user_id: uuid.UUID


class TenantManagerRead(BaseModel):
    user_id: uuid.UUID
    upn: str
    display_name: str
    created_at: datetime


class CustomerHealth(BaseModel):
    customer_id: uuid.UUID
    customer_name: str
    total_rooms: int
    rooms_by_health: dict[str, int]
    open_tickets: int


class WithheldCustomer(BaseModel):
    """A linked customer left out of a cross-customer view, and why."""

    customer_id: uuid.UUID
    customer_name: str
    reason: str


class PartnerHealthReport(BaseModel):
    customers: list[CustomerHealth]
    total_rooms: int
    rooms_by_health: dict[str, int]
    open_tickets: int
    withheld: list[WithheldCustomer]
    generated_at: datetime


# -- just-in-time elevation (SPEC §4) -------------------------------------------------------------


class ActivationCreate(Input):
    """Activate an eligible assignment for ``minutes`` (5 to the link's ``max_elevation_minutes``)."""

    minutes: int = Field(ge=5, le=480, strict=True)
    justification: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), FREE_TEXT
    ]


class ActivationRead(BaseModel):
    """One activation: who, which role and scope, why, from when to when, who approved it."""

    id: uuid.UUID
    customer_id: uuid.UUID
    link_id: uuid.UUID
    partner_id: uuid.UUID
    assignment_id: uuid.UUID
    assignment_name: str
    role_id: uuid.UUID
    role_name: str
    user_id: uuid.UUID
    upn: str
    display_name: str
    scope: ScopeRead
    minutes: int
    justification: str
    status: Literal["active", "ended"]
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    approved_by_user_id: uuid.UUID | None
    approved_by_upn: str | None
    approval_request_id: uuid.UUID | None


class EligibleAssignmentRead(BaseModel):
    """An eligible assignment naming the partner user, and its activation if one runs."""

    assignment_id: uuid.UUID
    assignment_name: str
    role_id: uuid.UUID
    role_name: str
    customer_id: uuid.UUID
    customer_name: str
    link_id: uuid.UUID
    max_elevation_minutes: int
    scope: ScopeRead
    active: ActivationRead | None
