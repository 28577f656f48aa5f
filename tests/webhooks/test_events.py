"""The events outbox: each change of the catalogue records its event in its own transaction
(none for a refused, held or rolled-back change), and a partner hears about a room only while
the room is in its link's scope at the moment of sending."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from roomwarden.events import service as events
from roomwarden.events.catalogue import NAMES
from roomwarden.events.models import EventRecord
from roomwarden.kit.db import Database
from roomwarden.kit.time import utcnow
from roomwarden.partners.invitations import expire_overdue
from roomwarden.partners.models import PartnerInvitation
from roomwarden.settings import Settings
from roomwarden.webhooks import targets
from tests.approvals.helpers import approve, as_user, linked, reject, requests_of
from tests.devices.helpers import enroll, send
from tests.factories import TenantH, World, expect
from tests.partners.helpers import accept, invite
from tests.webhooks.helpers import deliver, deliverer, endpoint, receiver

SPEC = Path("/work/shared/SPEC.md")


def types_of(db: Database, tenant: TenantH) -> list[str]:
    with db.transaction(tenants=[uuid.UUID(tenant.id)]) as s:
        rows = s.scalars(
            select(EventRecord.type)
            .where(EventRecord.tenant_id == uuid.UUID(tenant.id))
            .order_by(EventRecord.id)
        )
        return list(rows)


def count(db: Database, tenant: TenantH) -> int:
    with db.transaction(tenants=[uuid.UUID(tenant.id)]) as s:
        q = select(func.count()).select_from(EventRecord).where(EventRecord.tenant_id == uuid.UUID(tenant.id))
        return int(s.scalar(q) or 0)


def test_the_catalogue_is_the_specs() -> None:
    listed = {
        "partner.invitation.created", "partner.invitation.accepted", "partner.invitation.denied",
        "partner.invitation.revoked", "partner.invitation.expired", "partner.link.expiring",
        "partner.link.expired", "partner.link.renewed", "partner.link.removed", "approval.requested",
        "approval.approved", "approval.rejected", "approval.cancelled", "approval.expired",
        "approval.failed", "elevation.activated", "elevation.ended", "ticket.opened", "ticket.updated",
        "ticket.resolved", "ticket.reopened", "ticket.closed", "room.health_changed", "room.enrolled",
        "room.unenrolled", "software.install_failed", "webhook.test",
    }  # fmt: skip
    assert set(NAMES) == listed and len(NAMES) == len(listed)
    if SPEC.exists():  # the SPEC's own list, where the SPEC is at hand
        text = SPEC.read_text().split("**Catalogue.**", 1)[1].split("\n- ", 1)[0]
        spelled = set()
        for group in re.findall(r"`([a-z_.|]+)`", text):
            head, _, tails = group.rpartition(".")
            spelled |= {f"{head}.{tail}" for tail in tails.split("|")} if head else {group}
        assert spelled == listed


def test_emit_takes_only_the_catalogue_and_its_fields(db: Database, world: World) -> None:
    t = world.tenant()
    with world.transaction() as s:
        with pytest.raises(ValueError, match="not an event"):
            events.emit(s, "room.exploded", tenant_id=uuid.UUID(t.id))
        with pytest.raises(ValueError, match="carries no title"):
            events.emit(s, "ticket.opened", tenant_id=uuid.UUID(t.id), data={"title": "free text"})


def test_a_rolled_back_transaction_leaves_no_event(db: Database, world: World) -> None:
    t = world.tenant()
    with pytest.raises(RuntimeError), world.transaction() as s:
        events.emit(s, "room.unenrolled", tenant_id=uuid.UUID(t.id), room_id=uuid.uuid4())
        s.flush()
        raise RuntimeError("the change fails after its event")
    assert count(db, t) == 0


def test_refused_changes_record_no_event(world: World, db: Database) -> None:
    t = world.tenant()
    room = world.room(t)
    ticket = world.incident(t, room["id"])
    before = types_of(db, t)
    viewer = world.user(t)
    # 403/404: a user without the rights; 422: invalid input; 409: an illegal transition
    assert world.post(
        t, "/incidents", {"room_id": room["id"], "title": "x", "severity": "warning"}, as_=viewer
    ).status_code in (403, 404)
    assert (
        world.post(
            t, "/incidents", {"room_id": room["id"], "title": "x", "severity": "apocalyptic"}
        ).status_code
        == 422
    )
    path = f"/api/v1/tenants/{t.id}/tickets/{ticket['id']}"
    assert world.client.patch(path, json={"status": "closed"}, headers=viewer.headers).status_code in (
        403,
        404,
    )
    expect(world.client.patch(path, json={"status": "closed"}, headers=t.admin.headers), 200)
    assert world.client.patch(path, json={"status": "open"}, headers=t.admin.headers).status_code == 409
    assert types_of(db, t) == [*before, "ticket.closed"]


def test_tickets_and_rooms_of_people_and_of_monitoring(world: World, db: Database) -> None:
    t = world.tenant()
    room = world.room(t)
    ticket = world.incident(t, room["id"])
    path = f"/api/v1/tenants/{t.id}/tickets/{ticket['id']}"
    for status in ("in_progress", "resolved", "open", "closed"):
        expect(world.client.patch(path, json={"status": status}, headers=t.admin.headers), 200)
    expect(
        world.client.patch(
            path.replace(ticket["id"], world.incident(t, room["id"])["id"]),
            json={"comment": "looking"},
            headers=t.admin.headers,
        ),
        200,
    )
    device = enroll(world, t, room["id"])
    expect(send(world, device, {}), 200)  # healthy
    expect(send(world, device, {"display": "failed"}), 200)  # unhealthy: a monitoring ticket
    expect(send(world, device, {}), 200)  # healthy again: resolved
    expect(world.post(t, f"/rooms/{room['id']}/unenroll", None), 200)
    assert types_of(db, t) == [
        "ticket.opened", "ticket.updated", "ticket.resolved", "ticket.reopened", "ticket.closed",
        "ticket.opened", "ticket.updated",
        "room.enrolled", "room.health_changed",
        "ticket.opened", "room.health_changed",
        "ticket.resolved", "room.health_changed",
        "room.health_changed", "room.unenrolled",
    ]  # fmt: skip
    with world.transaction() as s:
        health = s.scalars(
            select(EventRecord.data)
            .where(EventRecord.tenant_id == uuid.UUID(t.id), EventRecord.type == "room.health_changed")
            .order_by(EventRecord.id)
        ).all()
    assert [(h["previous"], h["health"]) for h in health] == [
        ("unknown", "healthy"),
        ("healthy", "unhealthy"),
        ("unhealthy", "healthy"),
        ("healthy", "unknown"),
    ]


def test_the_invitation_and_the_link_for_both_sides(world: World, db: Database) -> None:
    c, p, q = world.tenant(), world.tenant(), world.tenant()  # at most 3 invitations per partner a day
    revoked = invite(world, c, p)
    expect(
        world.client.delete(
            f"/api/v1/tenants/{c.id}/partner-invitations/{revoked['id']}", headers=c.admin.headers
        ),
        204,
    )
    denied = invite(world, c, p)
    expect(
        world.client.post(f"/api/v1/partner/invitations/{denied['id']}/deny", headers=p.admin.headers), 200
    )
    lapsed = invite(world, c, q)
    with world.transaction() as s:
        s.execute(
            update(PartnerInvitation)
            .where(PartnerInvitation.id == uuid.UUID(lapsed["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with world.transaction() as s:
        assert expire_overdue(s) >= 1
    accepted = invite(world, c, p)
    link = expect(accept(world, p.admin, accepted["id"]), 201)
    expect(
        world.client.delete(
            f"/api/v1/tenants/{c.id}/partners/{link['id']}?confirm=true", headers=c.admin.headers
        ),
        204,
    )
    assert types_of(db, c) == [
        "partner.invitation.created", "partner.invitation.revoked",
        "partner.invitation.created", "partner.invitation.denied",
        "partner.invitation.created", "partner.invitation.expired",
        "partner.invitation.created", "partner.invitation.accepted",
        "partner.link.removed",
    ]  # fmt: skip
    with world.transaction() as s:
        partners = set(
            s.scalars(select(EventRecord.partner_tenant_id).where(EventRecord.tenant_id == uuid.UUID(c.id)))
        )
    assert partners == {uuid.UUID(p.id), uuid.UUID(q.id)}


def test_approvals_and_no_event_for_the_held_change(world: World, db: Database) -> None:
    pair = linked(world)
    c = pair.customer
    room = world.room(c)
    held = as_user(
        world,
        c,
        pair.primary,
        "POST",
        "/incidents",
        {"room_id": room["id"], "title": "Held", "severity": "warning"},
    )
    assert held.status_code == 202
    assert types_of(db, c) == [
        "partner.invitation.created",
        "partner.invitation.accepted",
        "approval.requested",
    ]
    [req] = requests_of(world, c)
    expect(approve(world, c, req["id"]), 200)
    again = as_user(
        world,
        c,
        pair.primary,
        "POST",
        "/incidents",
        {"room_id": room["id"], "title": "Held", "severity": "warning"},
    )
    assert again.status_code == 202
    pending = [r for r in requests_of(world, c) if r["status"] == "pending"]
    expect(reject(world, c, pending[0]["id"]), 200)
    assert types_of(db, c)[3:] == [
        "ticket.opened",
        "approval.approved",
        "approval.requested",
        "approval.rejected",
    ]


def test_a_partner_hears_only_about_rooms_in_its_scope_at_sending(
    world: World, db: Database, settings: Settings
) -> None:
    c, p = world.tenant(), world.tenant()
    inside, moved, outside = world.room(c), world.room(c), world.room(c)
    group = world.room_group(c, [inside["id"], moved["id"]])
    inv = invite(world, c, p, scope={"room_groups": [group["id"]]})
    link = expect(accept(world, p.admin, inv["id"]), 201)
    wanted = ["ticket.opened", "partner.link.removed"]
    d = deliverer(db, settings)
    with receiver() as partner_rx, receiver() as customer_rx:
        theirs = endpoint(world, p, partner_rx.url, wanted)
        ours = endpoint(world, c, customer_rx.url, wanted)
        for room in (inside, moved, outside):
            world.incident(c, room["id"])
        deliver(d, c, p)
        about = [b["data"]["room_id"] for b in partner_rx.bodies(theirs["secret"])]
        assert sorted(about) == sorted([inside["id"], moved["id"]])
        assert len(customer_rx.bodies(ours["secret"])) == 3
        # An event recorded while the room was in scope, sent after it left: not sent
        world.incident(c, moved["id"])
        with world.transaction() as s:  # recorded and dispatched now, sent after the change
            targets.dispatch(s, tenant_ids=[uuid.UUID(c.id)])
        expect(
            world.client.patch(
                f"/api/v1/tenants/{c.id}/room-groups/{group['id']}",
                json={"room_ids": [inside["id"]]},
                headers=c.admin.headers,
            ),
            200,
        )
        world.incident(c, moved["id"])
        world.incident(c, inside["id"])
        deliver(d, c, p)
        about = [b["data"]["room_id"] for b in partner_rx.bodies(theirs["secret"])]
        assert about.count(moved["id"]) == 1  # 0 further events about the removed room
        assert about.count(inside["id"]) == 2
        assert len(customer_rx.bodies(ours["secret"])) == 6
        # the link's own end reaches the partner, then nothing more about any room
        expect(
            world.client.delete(
                f"/api/v1/tenants/{c.id}/partners/{link['id']}?confirm=true", headers=c.admin.headers
            ),
            204,
        )
        world.incident(c, inside["id"])
        deliver(d, c, p)
        bodies = partner_rx.bodies(theirs["secret"])
        assert [b["type"] for b in bodies][-1] == "partner.link.removed" and len(bodies) == 4
        statuses = expect(
            world.client.get(
                f"/api/v1/tenants/{p.id}/webhooks/{theirs['id']}/deliveries?status=skipped",
                headers=p.admin.headers,
            ),
            200,
        )
        assert len(statuses["items"]) == 1  # the queued one, re-checked and not sent
