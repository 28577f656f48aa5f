"""A partner's delegation also changes when a room group its link names changes: rooms added to
the group are delegated at once, rooms removed are withdrawn (SPEC §3: a scope follows its
groups' current members). Such a change is recorded on the link too, in the customer's log,
so the customer's record of what it delegated, and when, is complete (issue 9)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roomwarden.access.models import ScopeGroup, ScopeRoom
from roomwarden.audit.service import Category, Operation
from roomwarden.partners.models import PartnerLink
from roomwarden.rooms.events import GroupMembersChanged, RoomDeleting
from roomwarden.tenants.models import Tenant


def record_group_change(change: GroupMembersChanged) -> None:
    """Record, on every active link whose scope names the group, the rooms that joined or
    left its delegation through the group (``rooms.events.group_members_changed``, sent
    before a deleted group's rows are gone)."""
    session, access, group_id, deleted = change.session, change.access, change.group_id, change.deleted
    delegated, withdrawn = sorted(str(r) for r in change.added), sorted(str(r) for r in change.removed)
    if not (delegated or withdrawn or deleted):
        return
    links = session.execute(
        select(PartnerLink.id, Tenant.name)
        .join(ScopeGroup, ScopeGroup.scope_id == PartnerLink.scope_id)
        .join(Tenant, Tenant.id == PartnerLink.partner_tenant_id)
        .where(
            ScopeGroup.group_id == group_id,
            PartnerLink.tenant_id == access.tenant_id,
            PartnerLink.status == "active",
        )
        .order_by(PartnerLink.id)
    ).all()
    for link_id, partner_name in links:
        details: dict[str, object] = {
            "via_room_group": {"id": str(group_id), "name": change.group_name},
            "rooms_delegated": delegated,
            "rooms_withdrawn": withdrawn,
        }
        if deleted:  # the link's scope no longer names the group: a new version of the link
            details["room_group_deleted"] = True
            _bump(session, link_id)
        access.audit(session, Category.PARTNER, Operation.UPDATE, partner_name, link_id, details)


def record_room_deleted(deleting: RoomDeleting) -> None:
    """Record, on every active link whose scope names the room itself, that the room left its
    delegation because it was deleted (``rooms.events.room_deleting``, sent before the room's
    rows are gone)."""
    session, access, room_id = deleting.session, deleting.access, deleting.room_id
    links = session.execute(
        select(PartnerLink.id, Tenant.name)
        .join(ScopeRoom, ScopeRoom.scope_id == PartnerLink.scope_id)
        .join(Tenant, Tenant.id == PartnerLink.partner_tenant_id)
        .where(
            ScopeRoom.room_id == room_id,
            PartnerLink.tenant_id == access.tenant_id,
            PartnerLink.status == "active",
        )
        .order_by(PartnerLink.id)
    ).all()
    for link_id, partner_name in links:
        details = {
            "room_deleted": {"id": str(room_id), "name": deleting.room_name},
            "rooms_withdrawn": [str(room_id)],
        }
        _bump(session, link_id)
        access.audit(session, Category.PARTNER, Operation.UPDATE, partner_name, link_id, details)


def _bump(session: Session, link_id: uuid.UUID) -> None:
    """The link's representation (its scope's lists) changes: its ETag moves on."""
    session.execute(
        update(PartnerLink).where(PartnerLink.id == link_id).values(version=PartnerLink.version + 1)
    )
