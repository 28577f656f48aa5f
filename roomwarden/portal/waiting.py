"""What waits for the signed-in user (SPEC §9 "Home"): approval requests to decide, pending
invitations, unhealthy rooms, open important tickets, and per customer of a partner its
unhealthy rooms and open tickets. Each figure counts exactly the rows of the list its link
opens, through the same queries and the same ``Access`` as that list, so a count never
includes a room the user may not see. The navigation shows the same figures beside its links."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.approvals import policy
from roomwarden.approvals.visibility import customer_query
from roomwarden.identity.principal import Principal
from roomwarden.kit.time import utcnow
from roomwarden.partners import overview
from roomwarden.partners.invitations import is_reviewer, partner_invitations_query, status_is
from roomwarden.partners.models import PartnerLink, live_link
from roomwarden.rooms.health import offline_cutoff
from roomwarden.rooms.models import Room, Ticket
from roomwarden.rooms.tickets import list_tickets_query


@dataclass(frozen=True, slots=True)
class Item:
    """One thing that waits: the link's accessible name starts with ``subject`` and ends
    with ``count``."""

    key: str
    subject: str
    count: int
    href: str


@dataclass(frozen=True, slots=True)
class CustomerItems:
    tenant_id: uuid.UUID
    name: str
    items: list[Item]
    #: the customer requires a second factor this sign-in lacks: nothing is counted there
    needs_second_factor: bool = False


def _count(session: Session, stmt: Select[object]) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)


def unhealthy_rooms(session: Session, tenants: list[tuple[uuid.UUID, Access]]) -> dict[uuid.UUID, int]:
    """Per tenant, its unhealthy rooms the user may see: the rows ``health=unhealthy`` lists
    (``rooms.models.health_state_is``), counted as two disjoint index-only counts — rooms
    reported unhealthy (``ix_rooms_tenant_health``) and the other rooms offline by their last
    report (``ix_rooms_tenant_report``) — so the figure costs the same in a tenant of 100
    rooms and of 10,000."""
    parts = [
        and_(Room.tenant_id == tid, access.rooms(P.ROOMS_VIEW).clause(Room.id)) for tid, access in tenants
    ]
    if not parts:
        return {}
    reported = Room.reported_health == "unhealthy"
    offline = and_(
        Room.last_report_at.is_not(None),
        Room.last_report_at < offline_cutoff(),
        Room.reported_health != "unhealthy",
    )
    counts: dict[uuid.UUID, int] = {}
    for which in (reported, offline):
        stmt = select(Room.tenant_id, func.count()).where(or_(*parts), which).group_by(Room.tenant_id)
        for tid, n in session.execute(stmt):
            counts[tid] = counts.get(tid, 0) + int(n)
    return counts


def tenant_items(session: Session, access: Access) -> list[Item]:
    """What waits in one tenant for the user ``access`` describes: in its own tenant, or in a
    customer's for a partner user (approvals are the customer's own users' only)."""
    base = f"/t/{access.tenant_id}"
    items: list[Item] = []
    if not access.is_partner and access.has(P.APPROVALS_REVIEW):
        pending = customer_query(access, status=policy.PENDING)
        count = _count(session, pending)
        items.append(Item("approvals", "Approval requests", count, f"{base}/approvals?status=pending"))
    if access.has(P.ROOMS_VIEW):
        count = sum(unhealthy_rooms(session, [(access.tenant_id, access)]).values())
        items.append(Item("rooms", "Unhealthy rooms", count, f"{base}/rooms?health=unhealthy"))
    if access.has(P.TICKETS_VIEW):
        important = list_tickets_query(access, status="open", severity="important")
        items.append(
            Item(
                "tickets",
                "Open important tickets",
                _count(session, important),
                f"{base}/tickets?status=open&severity=important",
            )
        )
    if not access.is_partner and access.tenant_wide(P.PARTNERS_MANAGE):
        items.append(Item("partners", "Links ending soon", links_ending(session, access), f"{base}/partners"))
    return items


#: a link whose end is this near is "ending soon" (the first expiry reminder goes out then)
ENDING_SOON = timedelta(days=30)


def links_ending(session: Session, access: Access) -> int:
    """The tenant's live partner links that end within ``ENDING_SOON``."""
    now = utcnow()
    stmt = select(func.count()).where(
        PartnerLink.tenant_id == access.tenant_id,
        live_link(now),
        PartnerLink.expires_at.is_not(None),
        PartnerLink.expires_at <= now + ENDING_SOON,
    )
    return int(session.scalar(stmt) or 0)


def invitations_item(session: Session, principal: Principal) -> Item | None:
    """Pending invitations to the user's tenant, for those who review them."""
    if not is_reviewer(session, principal):
        return None
    pending = partner_invitations_query(session, principal).where(status_is("pending"))
    return Item("invitations", "Invitations", _count(session, pending), "/partner/invitations")


def customer_items(session: Session, principal: Principal) -> list[CustomerItems]:
    """Per customer the user manages rooms for: its unhealthy rooms and open tickets within
    the user's rights there (two grouped statements for all customers together)."""
    view = overview.customer_view(session, principal)
    unhealthy = unhealthy_rooms(
        session, [(tid, access) for tid, access in view.open.items() if access.has(P.ROOMS_VIEW)]
    )
    ticket_parts = [
        and_(Ticket.tenant_id == tid, access.rooms(P.TICKETS_VIEW).clause(Ticket.room_id))
        for tid, access in view.open.items()
        if access.has(P.TICKETS_VIEW)
    ]
    open_tickets: dict[uuid.UUID, int] = {}
    if ticket_parts:
        stmt = (
            select(Ticket.tenant_id, func.count())
            .where(or_(*ticket_parts), Ticket.status == "open")
            .group_by(Ticket.tenant_id)
        )
        open_tickets = {tid: int(n) for tid, n in session.execute(stmt)}
    out = []
    for tid, name in sorted(view.names.items(), key=lambda kv: kv[1].lower()):
        if tid in view.mfa_withheld:
            out.append(CustomerItems(tid, name, [], needs_second_factor=True))
            continue
        access = view.open[tid]
        items = []
        if access.has(P.ROOMS_VIEW):
            href = f"/t/{tid}/rooms?health=unhealthy"
            items.append(Item("rooms", f"Unhealthy rooms at {name}", unhealthy.get(tid, 0), href))
        if access.has(P.TICKETS_VIEW):
            href = f"/t/{tid}/tickets?status=open"
            items.append(Item("tickets", f"Open tickets at {name}", open_tickets.get(tid, 0), href))
        out.append(CustomerItems(tid, name, items))
    return out
