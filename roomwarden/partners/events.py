"""What a partner link tells the packages above partners (``kit.extensions``): change control
keeps a link's pending approval requests, and must end them when the link ends or when the
customer makes their events automatic again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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
