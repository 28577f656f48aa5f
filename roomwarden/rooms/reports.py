"""The health report: figures over the principal's ``reports.view`` rooms only."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access
from roomwarden.kit.errors import Forbidden
from roomwarden.kit.time import utcnow
from roomwarden.rooms.models import HEALTH_STATES, Room, Ticket, health_state_column
from roomwarden.rooms.schemas import HealthReport
from roomwarden.rooms.tickets import OPEN_STATUSES


def health_report(session: Session, access: Access) -> HealthReport:
    if not access.has(P.REPORTS_VIEW):
        raise Forbidden("reports.view is required")
    rooms = access.rooms(P.REPORTS_VIEW)
    by_health = dict.fromkeys(HEALTH_STATES, 0)
    state = health_state_column()
    rows = session.execute(
        select(state, func.count())
        .where(Room.tenant_id == access.tenant_id, rooms.clause(Room.id))
        .group_by(state)
    ).all()
    by_health.update({state: n for state, n in rows})
    open_tickets = session.scalar(
        select(func.count())
        .select_from(Ticket)
        .where(
            Ticket.tenant_id == access.tenant_id,
            Ticket.status.in_(OPEN_STATUSES),
            rooms.clause(Ticket.room_id),
        )
    )
    return HealthReport(
        tenant_id=access.tenant_id,
        total_rooms=sum(by_health.values()),
        rooms_by_health=by_health,
        **by_health,
        open_tickets=open_tickets or 0,
        generated_at=utcnow(),
    )


def rooms_by_country(session: Session, access: Access) -> list[tuple[str, dict[str, int]]]:
    """For each country with rooms in the principal's ``reports.view`` scope: its rooms per
    health state, by country code."""
    if not access.has(P.REPORTS_VIEW):
        raise Forbidden("reports.view is required")
    rooms = access.rooms(P.REPORTS_VIEW)
    health = health_state_column()
    rows = session.execute(
        select(Room.country, health, func.count())
        .where(Room.tenant_id == access.tenant_id, rooms.clause(Room.id))
        .group_by(Room.country, health)
    ).all()
    out: dict[str, dict[str, int]] = {}
    for country, state, n in rows:
        out.setdefault(country, dict.fromkeys(HEALTH_STATES, 0))[state] = n
    return sorted(out.items())
