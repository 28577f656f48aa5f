"""Notifications without storms (SPEC §11): a new monitoring ticket is mailed to the tenant's
notification address and to the members of assignments with e-mail notifications who may view
the room (a partner's included, never someone outside the room's scope); a flapping signal
mails about its ticket at most once an hour."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from roomwarden.kit.time import utcnow
from roomwarden.notifications.models import OutgoingMail
from roomwarden.rooms.models import Ticket
from tests.devices.helpers import enroll, report
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import link


def outbox(world: World, t: TenantH) -> list[OutgoingMail]:
    with world.transaction(write=False) as session:
        return list(
            session.scalars(
                select(OutgoingMail)
                .where(OutgoingMail.tenant_id == uuid.UUID(t.id))
                .order_by(OutgoingMail.id)
            )
        )


def notify_on(
    world: World, t: TenantH, role: str, user: UserH, scope: dict, tenant: TenantH | None = None
) -> None:
    a = world.assign(t, role, users=[user], scope=scope)
    expect(
        world.client.patch(
            f"/api/v1/tenants/{t.id}/assignments/{a['id']}",
            json={"email_notifications": True},
            headers=t.admin.headers,
        ),
        200,
    )


def test_a_new_monitoring_ticket_is_mailed_to_who_may_see_the_room_and_flapping_is_quiet(
    world: World,
) -> None:
    t, p = world.tenant(), world.tenant()
    room, elsewhere = world.room(t), world.room(t)
    expect(
        world.client.patch(
            f"/api/v1/tenants/{t.id}/settings",
            json={"notification_email": f"desk@{t.domain}"},
            headers=t.admin.headers,
        ),
        200,
    )
    role = world.role(t, ["rooms.view", "tickets.view"])
    watcher, blind = world.user(t), world.user(t)
    notify_on(world, t, role, watcher, {"rooms": [room["id"]]})
    notify_on(world, t, role, blind, {"rooms": [elsewhere["id"]]})
    lk = link(world, t, p, scope={"rooms": [room["id"]]})
    partner_roles = world.client.get(f"/api/v1/tenants/{t.id}/roles", headers=t.admin.headers).json()["items"]
    primary = next(r["id"] for r in partner_roles if r.get("partner_link_id") == lk["id"])
    url = f"/api/v1/tenants/{t.id}/roles/{primary}/assignments"
    [assignment] = expect(world.client.get(url, headers=p.admin.headers), 200)["items"]
    changed = world.client.patch(
        f"/api/v1/tenants/{t.id}/assignments/{assignment['id']}",
        json={"email_notifications": True},
        headers=p.admin.headers,
    )
    assert changed.status_code == 200, changed.text
    tech = p.admin
    device = enroll(world, t, room["id"])
    report(world, device, {"display": "failed"})
    mails = outbox(world, t)
    assert sorted(m.to_address for m in mails) == sorted([f"desk@{t.domain}", watcher.upn, tech.upn])
    assert all("New monitoring ticket: Display not working" in m.subject for m in mails)
    # flapping: resolved and reopened again and again within the hour, no new mail
    for _ in range(3):
        report(world, device, {"display": "ok"})
        report(world, device, {"display": "failed"})
    assert len(outbox(world, t)) == 3
    # an hour later, a relapse mails again
    with world.transaction() as session:
        session.execute(
            update(Ticket)
            .where(Ticket.room_id == uuid.UUID(room["id"]))
            .values(notified_at=utcnow() - timedelta(minutes=61))
        )
    report(world, device, {"display": "ok"})
    report(world, device, {"display": "failed"})
    later = outbox(world, t)
    assert len(later) == 6 and all("Reopened monitoring ticket" in m.subject for m in later[3:])
