"""Monitoring tickets (SPEC §11): at most one open ticket per room and signal (a partial
unique index, ``uq_tickets_open_monitoring``); a signal that leaves ``ok`` opens one, or
reopens the one resolved in the last 7 days; back to ``ok`` resolves it; a resolved monitoring
ticket closes after 7 days. Each of these is an entry of the ticket's history written by no
person (``author_user_id`` null), not an audit record: the audit log is what people did.

Callers hold the room's row lock, so two reports of one room never decide at once; the index
holds the rule even if one did not.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from roomwarden.devices.catalogue import SIGNALS, ticket_severity
from roomwarden.events import service as events
from roomwarden.kit.time import utcnow
from roomwarden.notifications.service import LINK, queue_mail
from roomwarden.rooms.events import MonitoringTicketChanged, monitoring_ticket_changed
from roomwarden.rooms.models import OPEN_STATUSES, Room, Ticket, TicketUpdate
from roomwarden.rooms.notices import ticket_recipients
from roomwarden.tenants.models import Tenant

MONITORING = "monitoring"
REOPEN_WITHIN = timedelta(days=7)
CLOSE_AFTER = timedelta(days=7)
#: A flapping signal mails about its ticket at most this often.
MAIL_AT_MOST_EVERY = timedelta(hours=1)


def _ours(room: Room, signal: str) -> Select[Ticket]:
    return select(Ticket).where(
        Ticket.tenant_id == room.tenant_id,
        Ticket.room_id == room.id,
        Ticket.source == MONITORING,
        Ticket.signal == signal,
    )


def open_ticket(session: Session, room: Room, signal: str) -> Ticket | None:
    return session.scalar(_ours(room, signal).where(Ticket.status.in_(OPEN_STATUSES)).with_for_update())


def _note(
    session: Session,
    ticket: Ticket,
    status_to: str | None,
    comment: str,
    now: datetime,
    *,
    opened: bool = False,
) -> None:
    """One entry of the ticket's history, and its ``ticket.*`` event (``opened``: the entry
    that opens a new ticket)."""
    previous = None if opened else ticket.status
    session.add(
        TicketUpdate(
            tenant_id=ticket.tenant_id,
            ticket_id=ticket.id,
            status_from=ticket.status if status_to and status_to != ticket.status else None,
            status_to=status_to if status_to and status_to != ticket.status else None,
            comment=comment,
            created_at=now,
        )
    )
    if status_to:
        ticket.status = status_to
    ticket.updated_at = now
    events.ticket_changed(session, ticket, previous)


def _changed(session: Session, ticket: Ticket, now: datetime) -> None:
    monitoring_ticket_changed.emit(MonitoringTicketChanged(session, ticket, now))


def signal_failed(
    session: Session, room: Room, signal: str, state: str, detail: str, now: datetime
) -> Ticket:
    """The signal is ``warning`` or ``failed``: its open ticket (severity brought up to date),
    the one resolved in the last 7 days reopened, or a new one."""
    severity = ticket_severity(signal, state)
    said = f" ({detail})" if detail else ""
    ticket = open_ticket(session, room, signal)
    if ticket is not None:
        if ticket.severity != severity:
            ticket.severity = severity
            _note(session, ticket, None, f"Monitoring: the signal is now {state}{said}.", now)
            _changed(session, ticket, now)
        return ticket
    recent = session.scalar(
        _ours(room, signal)
        .where(Ticket.status == "resolved", Ticket.resolved_at >= now - REOPEN_WITHIN)
        .order_by(Ticket.resolved_at.desc())
        .limit(1)
        .with_for_update()
    )
    if recent is not None:
        recent.severity = severity
        recent.resolved_at = None
        _note(
            session,
            recent,
            "open",
            f"Monitoring reopened the ticket: the signal is {state} again{said}.",
            now,
        )
        session.flush()
        _changed(session, recent, now)
        notify(session, room, recent, now, reopened=True)
        return recent
    ticket = Ticket(
        tenant_id=room.tenant_id,
        room_id=room.id,
        kind="incident",
        source=MONITORING,
        signal=signal,
        status="open",
        severity=severity,
        title=SIGNALS[signal].title,
        description=detail,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    _note(
        session, ticket, None, f"Monitoring opened the ticket: the signal is {state}{said}.", now, opened=True
    )
    session.flush()
    _changed(session, ticket, now)
    notify(session, room, ticket, now)
    return ticket


def signal_cleared(session: Session, room: Room, signal: str, comment: str, now: datetime) -> Ticket | None:
    """Resolve the signal's open ticket, if any, with ``comment`` in its history."""
    ticket = open_ticket(session, room, signal)
    if ticket is None:
        return None
    ticket.resolved_at = now
    _note(session, ticket, "resolved", comment, now)
    session.flush()
    _changed(session, ticket, now)
    return ticket


def resolve_all(session: Session, room: Room, why: str) -> int:
    now = utcnow()
    tickets = session.scalars(
        select(Ticket)
        .where(
            Ticket.tenant_id == room.tenant_id,
            Ticket.room_id == room.id,
            Ticket.source == MONITORING,
            Ticket.status.in_(OPEN_STATUSES),
        )
        .with_for_update()
    ).all()
    for ticket in tickets:
        ticket.resolved_at = now
        _note(session, ticket, "resolved", f"Resolved by monitoring: {why}.", now)
    session.flush()
    for ticket in tickets:
        _changed(session, ticket, now)
    return len(tickets)


def close_resolved(session: Session, now: datetime, limit: int = 500) -> int:
    """Close monitoring tickets resolved more than 7 days ago (skipping rows others hold)."""
    tickets = session.scalars(
        select(Ticket)
        .where(
            Ticket.source == MONITORING, Ticket.status == "resolved", Ticket.resolved_at < now - CLOSE_AFTER
        )
        .order_by(Ticket.resolved_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for ticket in tickets:
        _note(session, ticket, "closed", "Closed by monitoring: resolved for 7 days.", now)
    session.flush()
    return len(tickets)


def notify(session: Session, room: Room, ticket: Ticket, now: datetime, *, reopened: bool = False) -> None:
    """Mail the tenant's notification address and the subscribers who may see the room, at
    most once an hour per ticket (a flapping signal reopens its ticket without a storm)."""
    if ticket.notified_at is not None and ticket.notified_at > now - MAIL_AT_MOST_EVERY:
        return
    ticket.notified_at = now
    recipients = ticket_recipients(session, ticket.tenant_id, ticket.room_id)
    if not recipients:
        return
    tenant = session.get_one(Tenant, ticket.tenant_id)
    verb = "Reopened" if reopened else "New"
    subject = f"[{tenant.name}] {verb} monitoring ticket: {ticket.title} ({room.name})"
    body = "\n".join(
        [
            f"Monitoring {'reopened' if reopened else 'opened'} a ticket in {tenant.name}.",
            "",
            f"Ticket: {ticket.title}",
            f"Room: {room.name} ({room.city or room.country})",
            f"Signal: {ticket.signal}",
            f"Severity: {ticket.severity}",
            *([f"Detail: {ticket.description}"] if ticket.description else []),
            "",
            f"Open the ticket: {LINK}",
            "",
        ]
    )
    queue_mail(
        session,
        ticket.tenant_id,
        recipients,
        subject,
        body,
        link=f"/t/{ticket.tenant_id}/tickets/{ticket.id}",
    )
