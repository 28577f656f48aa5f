"""A partner link's end (SPEC §4 "Expiry and renewal").

Access ends at ``expires_at`` exactly: the resolver reads links through
``models.live_link``, so no job has to run first. The bookkeeping follows (``sweep``, the
``partners.expiry`` job, or whichever request meets the expired link first, under the link's
lock, so it happens once): pending approval requests and active elevations end, one
``Partner``/``Update`` record says so, both sides are told. Thirty days later the link's roles,
assignments and Primary admins go as in an off-boarding and the link has ended. Before its end,
reminders go out 30, 7 and 1 days ahead, each once per end."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.models import Role, RoleAssignment
from roomwarden.access.scopes import delete_scopes
from roomwarden.audit.service import SYSTEM_ACTOR, Actor, Category, Operation, record
from roomwarden.kit import conditional
from roomwarden.kit.errors import Invalid
from roomwarden.kit.time import utcnow
from roomwarden.partners import elevation, events
from roomwarden.partners.invitations import tenant_names
from roomwarden.partners.models import RENEWAL_GRACE, LinkReminder, PartnerLink, live_link
from roomwarden.partners.notices import notify_expired, notify_expiring

#: How far ahead a link's end may be set (and an invitation's ``link_duration_days`` reach).
MAX_AHEAD = timedelta(days=730)
#: Days before the end at which both sides are reminded, farthest first.
REMINDER_DAYS = (30, 7, 1)


def check_end(expires_at: datetime | None, now: datetime) -> None:
    """A new end for a link: none, or a future instant at most 730 days ahead (else 422)."""
    if expires_at is None:
        return
    if expires_at <= now:
        raise Invalid("expires_at must be in the future")
    if expires_at > now + MAX_AHEAD:
        raise Invalid("expires_at must be at most 730 days ahead")


def renewable_until(link: PartnerLink) -> datetime | None:
    """Until when an expired link can be renewed in place (``None`` while it has no end)."""
    return link.expires_at + RENEWAL_GRACE if link.expires_at is not None else None


def partner_name(session: Session, link: PartnerLink) -> str:
    return tenant_names(session, {link.partner_tenant_id})[link.partner_tenant_id]


def remove_partner_roles(session: Session, link: PartnerLink) -> int:
    """Delete the link's partner roles, their assignments and scopes; returns how many roles."""
    roles = session.scalars(select(Role.id).where(Role.partner_link_id == link.id)).all()
    scopes = session.scalars(select(RoleAssignment.scope_id).where(RoleAssignment.role_id.in_(roles))).all()
    session.execute(delete(RoleAssignment).where(RoleAssignment.role_id.in_(roles)))
    delete_scopes(session, scopes)
    session.execute(delete(Role).where(Role.id.in_(roles)))
    return len(roles)


def expire(session: Session, link: PartnerLink, now: datetime, actor: Actor = SYSTEM_ACTOR) -> bool:
    """The expiry's bookkeeping for a link past its end whose status still says ``active``
    (the caller holds the link's row lock): it ends the link's pending requests and active
    elevations and writes the one record. Returns whether there was anything to do."""
    if link.status != "active" or link.expires_at is None or link.expires_at > now:
        return False
    events.link_ending.emit(events.LinkEnding(session, link, actor, "the partner link expired"))
    elevation.end_of_link(session, link, now, "the partner link expired")
    link.status, link.expired_at = "expired", now
    conditional.bump(link)
    session.flush()
    record(
        session,
        tenant_id=link.tenant_id,
        actor=SYSTEM_ACTOR,
        category=Category.PARTNER,
        operation=Operation.UPDATE,
        object_name=partner_name(session, link),
        object_id=link.id,
        details={
            "status": {"from": "active", "to": "expired"},
            "expires_at": link.expires_at.isoformat(),
            "renewable_until": (link.expires_at + RENEWAL_GRACE).isoformat(),
        },
    )
    notify_expired(session, link)
    events.link_expired.emit(
        events.LinkExpired(session, link.id, link.tenant_id, link.partner_tenant_id, link.expires_at)
    )
    return True


def purge(session: Session, link: PartnerLink, now: datetime) -> bool:
    """Thirty days after its end an unrenewed link ends for good: its roles, assignments and
    Primary admins are deleted (the customer's log keeps every record)."""
    if link.status != "expired" or link.expires_at is None or link.expires_at + RENEWAL_GRACE > now:
        return False
    removed = remove_partner_roles(session, link)
    link.status, link.ended_at = "ended", now
    conditional.bump(link)
    session.flush()
    record(
        session,
        tenant_id=link.tenant_id,
        actor=SYSTEM_ACTOR,
        category=Category.PARTNER,
        operation=Operation.DELETE,
        object_name=partner_name(session, link),
        object_id=link.id,
        details={"ended_by": "expiry", "partner_roles_removed": removed},
    )
    return True


def remind(session: Session, link: PartnerLink, now: datetime) -> int | None:
    """Send the reminder now due for a live link (the caller holds its lock), once per end:
    of the thresholds passed and not yet handled, the nearest to the end is sent and the
    farther ones are recorded as skipped. Returns the days of the one sent, if any."""
    if not link.live(now) or link.expires_at is None:
        return None
    left = link.expires_at - now
    due = [d for d in REMINDER_DAYS if left <= timedelta(days=d)]
    done = set(
        session.scalars(
            select(LinkReminder.days).where(
                LinkReminder.link_id == link.id, LinkReminder.expires_at == link.expires_at
            )
        )
    )
    new = [d for d in due if d not in done]
    if not new:
        return None
    nearest = min(new)
    for d in new:
        session.add(
            LinkReminder(
                link_id=link.id,
                expires_at=link.expires_at,
                days=d,
                tenant_id=link.tenant_id,
                sent=d == nearest,
            )
        )
    session.flush()
    notify_expiring(session, link, nearest)
    events.link_expiring.emit(
        events.LinkExpiring(
            session, link.id, link.tenant_id, link.partner_tenant_id, nearest, link.expires_at
        )
    )
    return nearest


def _reminder_due(now: datetime) -> object:
    """Live links with a reminder threshold passed and not yet handled for their end."""
    parts = []
    for d in REMINDER_DAYS:
        handled = exists(
            select(LinkReminder.link_id).where(
                LinkReminder.link_id == PartnerLink.id,
                LinkReminder.expires_at == PartnerLink.expires_at,
                LinkReminder.days == d,
            )
        )
        parts.append(and_(PartnerLink.expires_at <= now + timedelta(days=d), ~handled))
    return and_(live_link(now), PartnerLink.expires_at.is_not(None), or_(*parts))


def _locked(session: Session, where: object, limit: int) -> Sequence[PartnerLink]:
    """Links matching ``where``, locked; rows another transaction holds are left for later."""
    return session.scalars(
        select(PartnerLink)
        .where(where)  # type: ignore[arg-type]
        .order_by(PartnerLink.expires_at, PartnerLink.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()


def sweep(session: Session, now: datetime | None = None, *, limit: int = 200) -> int:
    """One pass of the expiry job: links past their end are expired, links thirty days past
    it are purged, due reminders are sent, and activations whose time ran out are ended.
    Returns how many links and activations it changed."""
    now = now or utcnow()
    done = 0
    overdue = and_(PartnerLink.status == "active", PartnerLink.expires_at <= now)
    for link in _locked(session, overdue, limit):
        done += expire(session, link, now)
    stale = and_(PartnerLink.status == "expired", PartnerLink.expires_at <= now - RENEWAL_GRACE)
    for link in _locked(session, stale, limit):
        done += purge(session, link, now)
    for link in _locked(session, _reminder_due(now), limit):
        done += remind(session, link, now) is not None
    return done + elevation.ran_out(session, now, limit=limit)
