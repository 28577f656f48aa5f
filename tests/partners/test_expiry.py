"""Link expiry and renewal (SPEC §4): the end set with the invitation or on the link, access
ending at that instant with no job run, the bookkeeping once, renewal within thirty days and
409 after them, the purge, reminders once per threshold, and both sides' lists."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from roomwarden.audit.models import AuditRecord
from roomwarden.notifications.models import OutgoingMail
from roomwarden.partners.expiry import sweep
from roomwarden.partners.models import LinkReminder, PartnerLink
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import accept, in_customer, invite


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _linked(
    world: World, *, scope: dict[str, Any] | None = None, **extra: Any
) -> tuple[TenantH, TenantH, dict]:
    c, p = world.tenant(), world.tenant()
    inv = invite(world, c, p, scope, **extra)
    return c, p, expect(accept(world, p.admin, inv["id"]), 201)


def _technician(world: World, c: TenantH, p: TenantH) -> UserH:
    """A partner user holding a custom partner role over the link's rooms."""
    tech = world.user(p)
    role = expect(
        world.client.post(
            f"/api/v1/tenants/{c.id}/roles",
            json={"name": f"Desk {uuid.uuid4().hex[:6]}", "permissions": ["rooms.view", "tickets.view"]},
            headers=p.admin.headers,
        ),
        201,
    )
    expect(
        world.client.post(
            f"/api/v1/tenants/{c.id}/roles/{role['id']}/assignments",
            json={"name": "Desk", "members": [{"type": "user", "id": tech.id}], "scope": {"all": True}},
            headers=p.admin.headers,
        ),
        201,
    )
    return tech


def _set_end(world: World, link_id: str, when: datetime) -> None:
    """Write a link's end directly (the API refuses a past one)."""
    with world.transaction() as session:
        session.execute(
            update(PartnerLink).where(PartnerLink.id == uuid.UUID(link_id)).values(expires_at=when)
        )


def _sweep(world: World, now: datetime | None = None) -> int:
    with world.transaction() as session:
        return sweep(session, now)


def _expiry_records(world: World, c: TenantH, link_id: str) -> list[AuditRecord]:
    with world.transaction(write=False) as session:
        rows = session.scalars(
            select(AuditRecord).where(
                AuditRecord.tenant_id == uuid.UUID(c.id), AuditRecord.object_id == link_id
            )
        ).all()
        return [r for r in rows if (r.details or {}).get("status") == {"from": "active", "to": "expired"}]


def test_invitation_carries_the_link_duration(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    for bad in (0, 731, "30", 1.5):
        body = {
            "partner_domain": p.domain,
            "expires_in_days": 7,
            "scope": {"all": True},
            "terms_accepted": True,
        }
        assert world.post(c, "/partner-invitations", {**body, "link_duration_days": bad}).status_code == 422
    inv = invite(world, c, p, link_duration_days=90)
    assert inv["link_duration_days"] == 90
    seen = expect(world.client.get("/api/v1/partner/invitations", headers=p.admin.headers), 200)["items"]
    assert [i["link_duration_days"] for i in seen if i["id"] == inv["id"]] == [90]
    link = expect(accept(world, p.admin, inv["id"]), 201)
    end = datetime.fromisoformat(link["expires_at"])
    assert abs(end - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
    assert link["status"] == "active" and link["renewable_until"] is None
    # Without a duration the link has no end, as in the seed.
    _, _, open_ended = _linked(world)
    assert open_ended["expires_at"] is None


def test_customer_sets_moves_and_clears_the_end_within_730_days(world: World) -> None:
    c, p, lk = _linked(world)
    url = f"/api/v1/tenants/{c.id}/partners/{lk['id']}"
    now = datetime.now(UTC)
    for bad in (
        _iso(now - timedelta(minutes=1)),
        _iso(now + timedelta(days=731)),
        "2030-01-01T00:00:00",
        "soon",
    ):
        r = world.client.patch(url, json={"expires_at": bad}, headers=c.admin.headers)
        assert r.status_code == 422, (bad, r.text)
    end = now + timedelta(days=730) - timedelta(minutes=1)
    got = expect(world.client.patch(url, json={"expires_at": _iso(end)}, headers=c.admin.headers), 200)
    assert datetime.fromisoformat(got["expires_at"]) == end.replace(microsecond=end.microsecond)
    got = expect(world.client.patch(url, json={"expires_at": None}, headers=c.admin.headers), 200)
    assert got["expires_at"] is None
    # A partner cannot move the end (the link is the customer's): not even visible to it.
    assert world.client.patch(url, json={"expires_at": None}, headers=p.admin.headers).status_code == 404


def test_access_ends_at_the_instant_and_renewal_restores_it(world: World) -> None:
    """The black-box journey: an end a moment ahead, no job run, everyone of the partner out."""
    c, p, lk = _linked(world)
    room = world.room(c)
    tech = _technician(world, c, p)
    url = f"/api/v1/tenants/{c.id}/partners/{lk['id']}"
    for user in (p.admin, tech):
        expect(in_customer(world, c, user, "GET", f"/rooms/{room['id']}"), 200)
    end = datetime.now(UTC) + timedelta(seconds=1.5)
    expect(world.client.patch(url, json={"expires_at": _iso(end)}, headers=c.admin.headers), 200)
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.1)
    for user in (p.admin, tech):
        assert in_customer(world, c, user, "GET", f"/rooms/{room['id']}").status_code == 404
        assert in_customer(world, c, user, "GET", "/rooms").status_code == 404
    mine = expect(world.client.get("/api/v1/partner/customers", headers=tech.headers), 200)["items"]
    assert mine == []
    # The partner's reviewers still see the link, expired; both sides filter by status.
    seen = expect(world.client.get("/api/v1/partner/customers?status=expired", headers=p.admin.headers), 200)
    assert [(x["id"], x["status"]) for x in seen["items"]] == [(lk["id"], "expired")]
    listed = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/partners?status=expired", headers=c.admin.headers), 200
    )
    assert [x["id"] for x in listed["items"]] == [lk["id"]]
    assert expect(world.client.get(f"{url}", headers=c.admin.headers), 200)["renewable_until"] is not None
    active = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/partners?status=active", headers=c.admin.headers), 200
    )
    assert active["items"] == []
    # An expired link is renewed, not edited.
    assert world.client.patch(url, json={"scope": {"all": True}}, headers=c.admin.headers).status_code == 409
    renewed = expect(
        world.client.post(
            f"{url}/renew",
            json={"expires_at": _iso(datetime.now(UTC) + timedelta(days=30))},
            headers=c.admin.headers,
        ),
        200,
    )
    assert renewed["status"] == "active"
    for user in (p.admin, tech):
        expect(in_customer(world, c, user, "GET", f"/rooms/{room['id']}"), 200)
    # The expiry was recorded once, although no job ran before the renewal.
    assert len(_expiry_records(world, c, lk["id"])) == 1
    _sweep(world)
    assert len(_expiry_records(world, c, lk["id"])) == 1
    # Renewing a live link is a conflict.
    assert (
        world.client.post(f"{url}/renew", json={"expires_at": None}, headers=c.admin.headers).status_code
        == 409
    )


def test_expiry_ends_pending_requests_once_and_the_job_records_it_once(world: World) -> None:
    c, p, lk = _linked(world, approval_policy={"incident.create": "manual"})
    room = world.room(c)
    held = in_customer(
        world,
        c,
        p.admin,
        "POST",
        "/incidents",
        {"room_id": room["id"], "title": "Screen", "description": "x", "severity": "warning"},
    )
    assert held.status_code == 202, held.text
    request_id = held.json()["id"]
    _set_end(world, lk["id"], datetime.now(UTC) - timedelta(seconds=1))
    assert _sweep(world) >= 1
    assert _sweep(world) == 0
    assert len(_expiry_records(world, c, lk["id"])) == 1
    got = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/approval-requests/{request_id}", headers=c.admin.headers),
        200,
    )
    assert got["status"] == "cancelled"
    # After renewal the request stays cancelled: nothing is applied by surprise.
    url = f"/api/v1/tenants/{c.id}/partners/{lk['id']}"
    expect(world.client.post(f"{url}/renew", json={"expires_at": None}, headers=c.admin.headers), 200)
    got = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/approval-requests/{request_id}", headers=c.admin.headers),
        200,
    )
    assert got["status"] == "cancelled"
    assert len(_expiry_records(world, c, lk["id"])) == 1


def test_after_thirty_days_renewal_is_refused_and_the_roles_go(world: World) -> None:
    c, p, lk = _linked(world)
    url = f"/api/v1/tenants/{c.id}/partners/{lk['id']}"
    _set_end(world, lk["id"], datetime.now(UTC) - timedelta(days=30, minutes=1))
    r = world.client.post(f"{url}/renew", json={"expires_at": None}, headers=c.admin.headers)
    assert r.status_code == 409 and "new invitation" in r.json()["detail"]
    _sweep(world)
    got = expect(world.client.get(url, headers=c.admin.headers), 200)
    assert got["status"] == "ended" and got["primary_admins_role_id"] is None
    assert (
        world.client.post(f"{url}/renew", json={"expires_at": None}, headers=c.admin.headers).status_code
        == 409
    )
    assert in_customer(world, c, p.admin, "GET", "/rooms").status_code == 404
    # A new invitation is the way back.
    expect(accept(world, p.admin, invite(world, c, p)["id"]), 201)


def test_renewal_is_refused_when_a_newer_link_exists(world: World) -> None:
    c, p, lk = _linked(world)
    _set_end(world, lk["id"], datetime.now(UTC) - timedelta(seconds=1))
    _sweep(world)
    expect(accept(world, p.admin, invite(world, c, p)["id"]), 201)
    r = world.client.post(
        f"/api/v1/tenants/{c.id}/partners/{lk['id']}/renew",
        json={"expires_at": None},
        headers=c.admin.headers,
    )
    assert r.status_code == 409


def _reminders(world: World, link_id: str) -> list[tuple[int, bool]]:
    with world.transaction(write=False) as session:
        rows = session.execute(
            select(LinkReminder.days, LinkReminder.sent).where(LinkReminder.link_id == uuid.UUID(link_id))
        ).all()
        return sorted((r[0], r[1]) for r in rows)


def _mails(world: World, tenant: TenantH, subject: str) -> int:
    with world.transaction(write=False) as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(OutgoingMail)
                .where(OutgoingMail.tenant_id == uuid.UUID(tenant.id), OutgoingMail.subject.contains(subject))
            )
            or 0
        )


def test_reminders_go_once_to_both_sides_and_skip_passed_thresholds(world: World) -> None:
    c, p, lk = _linked(world)
    url = f"/api/v1/tenants/{c.id}/partners/{lk['id']}"
    now = datetime.now(UTC)
    expect(
        world.client.patch(url, json={"expires_at": _iso(now + timedelta(days=20))}, headers=c.admin.headers),
        200,
    )
    _sweep(world)
    _sweep(world)
    assert _reminders(world, lk["id"]) == [(30, True)]
    assert _mails(world, c, "ends in 30 days") == 1 and _mails(world, p, "ends in 30 days") == 1
    # Days later, the 7- and then 1-day reminders, each once.
    _sweep(world, now + timedelta(days=14))
    _sweep(world, now + timedelta(days=14, hours=1))
    assert _reminders(world, lk["id"]) == [(7, True), (30, True)]
    _sweep(world, now + timedelta(days=19, hours=1))
    assert _reminders(world, lk["id"]) == [(1, True), (7, True), (30, True)]
    assert _mails(world, p, "ends in 1 day") == 1
    # Moving the end re-arms the reminders; the thresholds already passed are skipped except
    # the nearest.
    c2, _, other = _linked(world)
    ourl = f"/api/v1/tenants/{c2.id}/partners/{other['id']}"
    expect(
        world.client.patch(
            ourl, json={"expires_at": _iso(now + timedelta(days=5))}, headers=c2.admin.headers
        ),
        200,
    )
    _sweep(world)
    assert _reminders(world, other["id"]) == [(7, True), (30, False)]
