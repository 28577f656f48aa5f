"""The demo data set: a customer with rooms in several countries, room groups such as
"All US rooms", one user per built-in role, tickets, and a second tenant that acts as a
partner. Built through the same service functions as the API, so it is audited too."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.access import service as access_service
from roomwarden.access.models import Role
from roomwarden.access.permissions import MSA, SITE_LEAD, SITE_TECH, Permission
from roomwarden.access.resolver import Access, resolve_access
from roomwarden.access.schemas import AssignmentCreate, MemberRef, RoleCreate, ScopeIn
from roomwarden.identity import service as identity_service
from roomwarden.identity.domains import tenant_by_domain
from roomwarden.identity.models import User
from roomwarden.identity.principal import Principal
from roomwarden.identity.schemas import UserCreate
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import Database, state_tenants
from roomwarden.partners.invitations import accept, create_invitation
from roomwarden.partners.schemas import AcceptInvitation, InvitationCreate
from roomwarden.rooms import groups as group_service
from roomwarden.rooms import service as room_service
from roomwarden.rooms import tickets as ticket_service
from roomwarden.rooms.models import Room
from roomwarden.rooms.schemas import IncidentCreate, RoomCreate, RoomGroupCreate, TicketUpdateIn
from roomwarden.software import releases, versions
from roomwarden.software.models import Release
from roomwarden.software.schemas import ReleaseCreate
from roomwarden.tenants.operator import delete_tenant
from roomwarden.tenants.schemas import AdminCreate, TenantCreate
from roomwarden.tenants.service import create_tenant

DEMO_PASSWORD = "Roomwarden-demo-1"
CUSTOMER_DOMAIN = "contoso.example"
PARTNER_DOMAIN = "fabrikam.example"

SITES = [
    ("US", "Seattle", "Building 92"),
    ("US", "New York", "Hudson Yards"),
    ("US", "Austin", "Domain Tower"),
    ("DE", "Berlin", "Spreepark"),
    ("DE", "Munich", "Isar Campus"),
    ("GB", "London", "Paddington"),
    ("KR", "Seoul", "Gangnam Tower"),
    ("JP", "Tokyo", "Shinagawa"),
    ("FR", "Paris", "La Defense"),
]
TIME_ZONES = {
    "Seattle": "America/Los_Angeles",
    "New York": "America/New_York",
    "Austin": "America/Chicago",
    "Berlin": "Europe/Berlin",
    "Munich": "Europe/Berlin",
    "London": "Europe/London",
    "Seoul": "Asia/Seoul",
    "Tokyo": "Asia/Tokyo",
    "Paris": "Europe/Paris",
}
ROOM_NAMES = ["Aurora", "Birch", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris", "Juniper"]


@dataclass
class DemoAccount:
    upn: str
    role: str
    scope: str


@dataclass
class DemoResult:
    created: bool
    customer_id: uuid.UUID
    partner_id: uuid.UUID
    rooms: int
    accounts: list[DemoAccount] = field(default_factory=list)
    password: str = DEMO_PASSWORD


def _access(session: Session, user: User) -> Access:
    principal = Principal(user.id, user.tenant_id, user.upn, user.display_name, user.is_global_admin)
    return resolve_access(session, principal, user.tenant_id)


def _user(session: Session, access: Access, local: str, name: str, domain: str, ga: bool = False) -> User:
    body = UserCreate(upn=f"{local}@{domain}", display_name=name, password=DEMO_PASSWORD, is_global_admin=ga)
    return identity_service.create_user(session, access, body)


def _role_id(session: Session, tenant_id: uuid.UUID, name: str) -> uuid.UUID:
    return session.scalars(
        select(Role.id).where(Role.tenant_id == tenant_id, Role.name == name, Role.partner_link_id.is_(None))
    ).one()


def _assign(session: Session, access: Access, role: str, user: User, scope: ScopeIn, label: str) -> None:
    body = AssignmentCreate(name=label, members=[MemberRef(type="user", id=user.id)], scope=scope)
    access_service.create_assignment(session, access, _role_id(session, access.tenant_id, role), body)


def build_demo(
    db: Database,
    box: SecretBox,
    *,
    rooms_per_site: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Create the demo data set unless it exists; either way return its sign-in details."""
    with db.transaction() as session:
        existing = tenant_by_domain(session, CUSTOMER_DOMAIN)
        if existing is not None:
            partner = tenant_by_domain(session, PARTNER_DOMAIN)
            state_tenants(session, [existing.id])
            count = len(session.scalars(select(Room.id).where(Room.tenant_id == existing.id)).all())
            return DemoResult(False, existing.id, partner.id if partner else existing.id, count, _accounts())
        return _build(session, box, rooms_per_site, progress)


def _build(
    session: Session, box: SecretBox, rooms_per_site: int, progress: Callable[[int, int], None] | None
) -> DemoResult:
    rng = random.Random(20261124)
    customer, admin = create_tenant(
        session,
        TenantCreate(
            name="Contoso Ltd",
            domains=[CUSTOMER_DOMAIN],
            admin=AdminCreate(
                upn=f"admin@{CUSTOMER_DOMAIN}", display_name="Contoso Admin", password=DEMO_PASSWORD
            ),
        ),
    )
    partner, partner_admin = create_tenant(
        session,
        TenantCreate(
            name="Fabrikam Managed Services",
            domains=[PARTNER_DOMAIN],
            admin=AdminCreate(
                upn=f"admin@{PARTNER_DOMAIN}", display_name="Fabrikam Admin", password=DEMO_PASSWORD
            ),
        ),
    )
    ga = _access(session, admin)
    total = len(SITES) * rooms_per_site
    by_country: dict[str, list[uuid.UUID]] = {}
    by_city: dict[str, list[uuid.UUID]] = {}
    done = 0
    for country, city, building in SITES:
        for i in range(rooms_per_site):
            name = f"{city} {ROOM_NAMES[i % len(ROOM_NAMES)]}{'' if i < len(ROOM_NAMES) else i}"
            local = f"{city.lower().replace(' ', '')}.{ROOM_NAMES[i % len(ROOM_NAMES)].lower()}{i}"
            account = f"{local}@{CUSTOMER_DOMAIN}"
            room = room_service.create_room(
                session,
                ga,
                box,
                RoomCreate(
                    name=name,
                    resource_account=account,
                    country=country,
                    city=city,
                    building=building,
                    time_zone=TIME_ZONES[city],
                ),
            )
            by_country.setdefault(country, []).append(room.id)
            by_city.setdefault(city, []).append(room.id)
            done += 1
            if progress:
                progress(done, total)
    us = group_service.create_group(
        session, ga, RoomGroupCreate(name="All US rooms", room_ids=by_country["US"])
    )
    eu_rooms = by_country["DE"] + by_country["GB"] + by_country["FR"]
    group_service.create_group(session, ga, RoomGroupCreate(name="All EU rooms", room_ids=eu_rooms))
    seoul = group_service.create_group(
        session, ga, RoomGroupCreate(name="Seoul HQ", room_ids=by_city["Seoul"])
    )

    _releases(session)
    msa = _user(session, ga, "msa", "Mina Park (MSA)", CUSTOMER_DOMAIN)
    lead = _user(session, ga, "lead", "Luis Ortega (Site Lead)", CUSTOMER_DOMAIN)
    tech = _user(session, ga, "tech", "Tomo Sato (Site Tech)", CUSTOMER_DOMAIN)
    _user(session, ga, "norole", "Nadia Olsen (no role)", CUSTOMER_DOMAIN)
    _assign(session, ga, MSA, msa, ScopeIn(all=True), "Service administrators")
    _assign(session, ga, SITE_LEAD, lead, ScopeIn(room_groups=[us.id]), "US site leads")
    _assign(session, ga, SITE_TECH, tech, ScopeIn(room_groups=[seoul.id]), "Seoul technicians")

    candidates = by_country["US"] + by_city["Seoul"] + by_city["Berlin"]
    for room_id in rng.sample(candidates, min(6, len(candidates))):
        ticket = ticket_service.create_incident(
            session,
            ga,
            IncidentCreate(
                room_id=room_id,
                title=rng.choice(["Display flickers", "No audio", "Camera offline", "Touch panel frozen"]),
                description="Reported at the front desk.",
                severity=rng.choice(["important", "warning"]),
            ),
        )
        if rng.random() < 0.5:
            ticket_service.update_ticket(
                session, ga, ticket.id, TicketUpdateIn(status="in_progress", comment="Technician dispatched.")
            )
    fabrikam = _access(session, partner_admin)
    helpdesk = _user(session, fabrikam, "helpdesk", "Hana Lee (Fabrikam help desk)", PARTNER_DOMAIN)
    _user(session, fabrikam, "partnerops", "Pavel Novak (Fabrikam)", PARTNER_DOMAIN)
    _delegate_us_rooms(session, ga, partner_admin, helpdesk, us.id)
    return DemoResult(True, customer.id, partner.id, total, _accounts())


def _delegate_us_rooms(
    session: Session, customer: Access, partner_admin: User, helpdesk: User, us_group: uuid.UUID
) -> None:
    """Contoso delegates its US rooms to Fabrikam; Fabrikam's admin accepts and gives its help
    desk a custom partner role for rooms and tickets."""
    invitation = create_invitation(
        session,
        customer,
        InvitationCreate(
            partner_domain=PARTNER_DOMAIN,
            expires_in_days=14,
            scope=ScopeIn(room_groups=[us_group]),
            terms_accepted=True,
        ),
    )
    principal = Principal(
        partner_admin.id, partner_admin.tenant_id, partner_admin.upn, partner_admin.display_name, True
    )
    link = accept(session, principal, invitation.id, AcceptInvitation())
    in_customer = resolve_access(session, principal, link.tenant_id)
    perms = [
        Permission.ROOMS_VIEW,
        Permission.TICKETS_VIEW,
        Permission.TICKETS_UPDATE,
        Permission.INCIDENTS_CREATE,
    ]
    desk = access_service.create_role(
        session, in_customer, RoleCreate(name="Fabrikam help desk", permissions=perms)
    )
    access_service.create_assignment(
        session,
        in_customer,
        desk.id,
        AssignmentCreate(
            name="Help desk", members=[MemberRef(type="user", id=helpdesk.id)], scope=ScopeIn(all=True)
        ),
    )


def _accounts() -> list[DemoAccount]:
    c, p = CUSTOMER_DOMAIN, PARTNER_DOMAIN
    return [
        DemoAccount(f"admin@{c}", "Global admin", "whole tenant"),
        DemoAccount(f"msa@{c}", MSA, "all rooms"),
        DemoAccount(f"lead@{c}", SITE_LEAD, "All US rooms"),
        DemoAccount(f"tech@{c}", SITE_TECH, "Seoul HQ"),
        DemoAccount(f"norole@{c}", "no role", "nothing"),
        DemoAccount(
            f"admin@{p}", "Fabrikam Global admin; Primary admin for Contoso", "Contoso: All US rooms"
        ),
        DemoAccount(f"helpdesk@{p}", "Fabrikam help desk (custom partner role)", "Contoso: All US rooms"),
        DemoAccount(f"partnerops@{p}", "Fabrikam user without a role", "nothing at Contoso"),
    ]


def _releases(session: Session) -> None:
    """The agent's releases the simulated devices are offered (the catalogue is the service's:
    kept by a demo reset, published once)."""
    for version, notes in (("1.0.0", "The simulated agent"), ("1.1.0", "Faster meeting joins")):
        exists = select(Release.id).where(
            Release.component == "agent", Release.version_key == versions.key(version)
        )
        if session.scalar(exists) is None:
            releases.publish(session, ReleaseCreate(component="agent", version=version, notes=notes))


def reset_demo(session: Session) -> int:
    """Delete the demo tenants with everything they hold, so the next build starts afresh.
    Other tenants of the database are left alone. Returns how many tenants were deleted."""
    removed = 0
    for domain in (PARTNER_DOMAIN, CUSTOMER_DOMAIN):
        tenant = tenant_by_domain(session, domain)
        if tenant is not None:
            delete_tenant(session, tenant.id, confirm=True)
            removed += 1
    return removed
