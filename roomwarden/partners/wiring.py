"""The partner rules that packages below partners ask for (``kit.extensions``), registered at
start-up by ``roomwarden.wiring.install``."""

from __future__ import annotations

from roomwarden.access import extensions as access_extensions
from roomwarden.events import service as webhook_events
from roomwarden.identity import extensions as identity_extensions
from roomwarden.partners import delegation, links, primary_admins
from roomwarden.partners import events as partner_events
from roomwarden.partners.models import Elevation
from roomwarden.rooms import events as room_events
from roomwarden.tenants import events as tenant_events
from roomwarden.tenants.events import TenantDeleting


def install() -> None:
    # "May this role, assignment or directory change?" is answered by the Primary admins rules.
    access_extensions.partner_roles.register(primary_admins)
    access_extensions.delegation_change.register(links.change_delegation)
    identity_extensions.directory_change.register(primary_admins.keeping_primary_admins)
    # A delegation follows its room groups and rooms, and the customer's log says so.
    room_events.group_members_changed.connect(delegation.record_group_change)
    room_events.room_deleting.connect(delegation.record_room_deleted)
    tenant_events.tenant_deleting.connect(_end_links)
    # A link's end date and a member's elevation are events of SPEC §13, recorded in the
    # transaction of their change (roomwarden/events; webhooks deliver them).
    partner_events.link_expiring.connect(_link_expiring)
    partner_events.link_expired.connect(_link_expired)
    partner_events.link_renewed.connect(_link_renewed)
    partner_events.elevation_activated.connect(_elevation_activated)
    partner_events.elevation_ended.connect(_elevation_ended)


def _end_links(deleting: TenantDeleting) -> None:
    links.end_links_of_deleted_tenant(deleting.session, deleting.tenant)


def _link_expiring(e: partner_events.LinkExpiring) -> None:
    webhook_events.emit(
        e.session,
        "partner.link.expiring",
        tenant_id=e.customer_id,
        link_id=e.link_id,
        data={"link_id": e.link_id, "partner_tenant_id": e.partner_id, "expires_at": e.expires_at},
    )


def _link_expired(e: partner_events.LinkExpired) -> None:
    webhook_events.emit(
        e.session,
        "partner.link.expired",
        tenant_id=e.customer_id,
        link_id=e.link_id,
        data={"link_id": e.link_id, "partner_tenant_id": e.partner_id},
    )


def _link_renewed(e: partner_events.LinkRenewed) -> None:
    webhook_events.emit(
        e.session,
        "partner.link.renewed",
        tenant_id=e.customer_id,
        link_id=e.link_id,
        data={"link_id": e.link_id, "partner_tenant_id": e.partner_id, "expires_at": e.expires_at},
    )


def _elevation(e: partner_events.ElevationActivated | partner_events.ElevationEnded, kind: str) -> None:
    elevation = e.session.get_one(Elevation, e.elevation_id)
    data: dict[str, webhook_events.Value] = {
        "assignment_id": elevation.assignment_id,
        "activation_id": elevation.id,
        "user_id": e.user_id,
    }
    if kind == "elevation.activated":
        data["ends_at"] = elevation.ends_at
    webhook_events.emit(e.session, kind, tenant_id=e.customer_id, link_id=elevation.link_id, data=data)


def _elevation_activated(e: partner_events.ElevationActivated) -> None:
    _elevation(e, "elevation.activated")


def _elevation_ended(e: partner_events.ElevationEnded) -> None:
    _elevation(e, "elevation.ended")
