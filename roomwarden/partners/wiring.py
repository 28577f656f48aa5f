"""The partner rules that packages below partners ask for (``kit.extensions``), registered at
start-up by ``roomwarden.wiring.install``."""

from __future__ import annotations

from roomwarden.access import extensions as access_extensions
from roomwarden.identity import extensions as identity_extensions
from roomwarden.partners import delegation, links, primary_admins
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


def _end_links(deleting: TenantDeleting) -> None:
    links.end_links_of_deleted_tenant(deleting.session, deleting.tenant)
