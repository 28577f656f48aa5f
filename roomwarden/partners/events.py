"""What a partner link tells the packages above partners (``kit.extensions``): change control
keeps a link's pending approval requests, and must end them when the link ends or when the
customer makes their events automatic again. A link's end and renewal are told to optional
listeners (``link_expiring``, ``link_expired``, ``link_renewed``: the webhooks)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from roomwarden.audit.service import Actor
from roomwarden.kit.extensions import Event
from roomwarden.partners.models import PartnerLink


@dataclass(frozen=True, slots=True)
class LinkEnding:
    """The link is about to end (off-boarding by either side, or the tenant's deletion)."""

    session: Session
    link: PartnerLink
    actor: Actor
    reason: str


@dataclass(frozen=True, slots=True)
class PolicyChanged:
    """The customer changed the link's change-control policy (event → ``auto``/``manual``)."""

    session: Session
    link: PartnerLink
    actor: Actor
    before: Mapping[str, str]
    after: Mapping[str, str]


link_ending: Event[LinkEnding] = Event("partners.link_ending")
policy_changed: Event[PolicyChanged] = Event("partners.policy_changed")


# -- a link's end (SPEC §4 "Expiry and renewal"), for whoever listens (webhooks, §13) -------------


@dataclass(frozen=True, slots=True)
class LinkExpiring:
    """A reminder: the link ends in ``days_left`` days (30, 7 or 1), at ``expires_at``."""

    session: Session
    link_id: uuid.UUID
    customer_id: uuid.UUID
    partner_id: uuid.UUID
    days_left: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LinkExpired:
    """The link reached its end: no partner user reaches the customer any more."""

    session: Session
    link_id: uuid.UUID
    customer_id: uuid.UUID
    partner_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LinkRenewed:
    """The customer renewed an expired link (``expires_at`` ``None``: no end)."""

    session: Session
    link_id: uuid.UUID
    customer_id: uuid.UUID
    partner_id: uuid.UUID
    expires_at: datetime | None


link_expiring: Event[LinkExpiring] = Event("partners.link_expiring", required=False)
link_expired: Event[LinkExpired] = Event("partners.link_expired", required=False)
link_renewed: Event[LinkRenewed] = Event("partners.link_renewed", required=False)


@dataclass(frozen=True, slots=True)
class ElevationActivated:
    """An eligible assignment's activation started (SPEC §4 "Just-in-time elevation")."""

    session: Session
    elevation_id: uuid.UUID
    customer_id: uuid.UUID
    partner_id: uuid.UUID
    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ElevationEnded:
    """An activation was ended early (by the customer, the member, or the link's expiry)."""

    session: Session
    elevation_id: uuid.UUID
    customer_id: uuid.UUID
    partner_id: uuid.UUID
    user_id: uuid.UUID


elevation_activated: Event[ElevationActivated] = Event("partners.elevation_activated", required=False)
elevation_ended: Event[ElevationEnded] = Event("partners.elevation_ended", required=False)
