"""Just-in-time elevation (SPEC §4, §5): an eligible partner assignment holds nothing until its
member activates it; the customer approves the activation in the approval queue (or it starts
at once under ``auto``); the end holds at the request's instant; the customer or the member ends
it early; the customer's MFA rule applies; activations are listed, explained and audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from roomwarden.audit.models import AuditRecord
from roomwarden.partners.models import Elevation, PartnerLink
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import accept, in_customer, invite


@dataclass
class Setup:
    c: TenantH
    p: TenantH
    link: dict[str, Any]
    tech: UserH
    room: dict[str, Any]
    role_id: str
    assignment_id: str


def setup(world: World, *, policy: dict[str, str] | None = None) -> Setup:
    c, p = world.tenant(), world.tenant()
    room = world.room(c)
    extra = {"approval_policy": policy} if policy else {}
    link = expect(accept(world, p.admin, invite(world, c, p, **extra)["id"]), 201)
    tech = world.user(p)
    role = expect(
        in_customer(
            world,
            c,
            p.admin,
            "POST",
            "/roles",
            {"name": "Desk", "permissions": ["rooms.view", "tickets.view"]},
        ),
        201,
    )
    assignment = expect(
        in_customer(
            world,
            c,
            p.admin,
            "POST",
            f"/roles/{role['id']}/assignments",
            {
                "name": "On call",
                "members": [{"type": "user", "id": tech.id}],
                "scope": {"all": True},
                "activation": "eligible",
            },
        ),
        201,
    )
    assert assignment["activation"] == "eligible"
    return Setup(c, p, link, tech, room, role["id"], assignment["id"])


def activate(
    world: World, s: Setup, user: UserH | None = None, minutes: Any = 30, why: str = "Ticket 42"
) -> Any:
    return in_customer(
        world,
        s.c,
        user or s.tech,
        "POST",
        f"/assignments/{s.assignment_id}/activate",
        {"minutes": minutes, "justification": why},
    )


def reach(world: World, s: Setup, user: UserH | None = None) -> int:
    return in_customer(world, s.c, user or s.tech, "GET", f"/rooms/{s.room['id']}").status_code


def test_an_eligible_member_holds_nothing_until_the_customer_approves_its_activation(world: World) -> None:
    s = setup(world)
    assert reach(world, s) == 404
    assert in_customer(world, s.c, s.tech, "GET", "/rooms").status_code == 404
    assert expect(world.client.get("/api/v1/partner/customers", headers=s.tech.headers), 200)["items"] == []
    eligible = expect(world.client.get("/api/v1/partner/eligible-assignments", headers=s.tech.headers), 200)
    assert [(e["assignment_id"], e["max_elevation_minutes"], e["active"]) for e in eligible["items"]] == [
        (s.assignment_id, 60, None)
    ]
    # Bounds and input.
    for bad in (4, 61, "30", None):
        assert activate(world, s, minutes=bad).status_code == 422, bad
    assert activate(world, s, why="").status_code == 422
    # Held for the customer (manual by default): nothing is held yet.
    held = activate(world, s)
    assert held.status_code == 202, held.text
    request = held.json()
    assert request["event"] == "elevation.activate" and request["status"] == "pending"
    assert reach(world, s) == 404
    assert activate(world, s).status_code == 409  # one waiting activation at a time
    approved = expect(
        world.client.post(
            f"/api/v1/tenants/{s.c.id}/approval-requests/{request['id']}/approve", headers=s.c.admin.headers
        ),
        200,
    )
    assert approved["status"] == "approved"
    assert reach(world, s) == 200
    assert activate(world, s).status_code == 409  # already active
    listed = expect(world.client.get(f"/api/v1/tenants/{s.c.id}/activations", headers=s.c.admin.headers), 200)
    (one,) = listed["items"]
    assert (one["user_id"], one["role_name"], one["justification"], one["status"]) == (
        s.tech.id,
        "Desk",
        "Ticket 42",
        "active",
    )
    assert one["approved_by_user_id"] == s.c.admin.id and one["approval_request_id"] == request["id"]
    assert one["scope"]["all"] is True
    start, end = datetime.fromisoformat(one["starts_at"]), datetime.fromisoformat(one["ends_at"])
    assert end - start == timedelta(minutes=30)
    # The member sees its own; effective access names the elevation.
    mine = expect(in_customer(world, s.c, s.tech, "GET", "/activations"), 200)["items"]
    assert [m["id"] for m in mine] == [one["id"]]
    explained = expect(
        world.client.get(
            f"/api/v1/tenants/{s.c.id}/access/explain?user_id={s.tech.id}&room_id={s.room['id']}",
            headers=s.c.admin.headers,
        ),
        200,
    )
    assert [r["via"]["type"] for r in explained["reasons"]] == ["elevation"]
    # The customer ends it early: out on the next request; ending again is a conflict.
    url = f"/api/v1/tenants/{s.c.id}/activations/{one['id']}"
    expect(world.client.delete(url, headers=s.c.admin.headers), 204)
    assert reach(world, s) == 404
    assert world.client.delete(url, headers=s.c.admin.headers).status_code == 409
    gone = expect(world.client.get(url, headers=s.c.admin.headers), 200)
    assert gone["status"] == "ended" and gone["end_reason"] == "ended early by the customer"


def test_under_auto_the_clock_starts_at_once_and_the_member_ends_it(world: World) -> None:
    s = setup(world, policy={"elevation.activate": "auto"})
    started = expect(activate(world, s, minutes=5), 201)
    assert started["status"] == "active" and started["approved_by_user_id"] is None
    assert reach(world, s) == 200
    # Another partner user cannot end it (not visible); the member can.
    other = world.user(s.p)
    url = f"/activations/{started['id']}"
    assert in_customer(world, s.c, other, "DELETE", url).status_code == 404
    expect(in_customer(world, s.c, s.tech, "DELETE", url), 204)
    assert reach(world, s) == 404
    # Activated again after its end.
    expect(activate(world, s, minutes=5), 201)
    assert reach(world, s) == 200


def test_the_end_holds_at_the_instant_without_a_job(world: World) -> None:
    s = setup(world, policy={"elevation.activate": "auto"})
    started = expect(activate(world, s), 201)
    with world.transaction() as session:
        session.execute(
            update(Elevation)
            .where(Elevation.id == uuid.UUID(started["id"]))
            .values(ends_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert reach(world, s) == 404
    got = expect(in_customer(world, s.c, s.c.admin, "GET", f"/activations/{started['id']}"), 200)
    assert got["status"] == "ended"
    # A new activation is admitted once the last one ran out.
    expect(activate(world, s), 201)


def test_who_may_activate_and_the_customers_cap(world: World) -> None:
    s = setup(world, policy={"elevation.activate": "auto"})
    stranger, outsider = world.user(s.p), world.tenant()
    assert activate(world, s, user=stranger).status_code == 404
    assert activate(world, s, user=outsider.admin).status_code == 404
    assert activate(world, s, user=s.c.admin).status_code == 404  # the customer's own user
    link_url = f"/api/v1/tenants/{s.c.id}/partners/{s.link['id']}"
    for bad in (4, 481, "10"):
        r = world.client.patch(link_url, json={"max_elevation_minutes": bad}, headers=s.c.admin.headers)
        assert r.status_code == 422, bad
    expect(world.client.patch(link_url, json={"max_elevation_minutes": 10}, headers=s.c.admin.headers), 200)
    assert activate(world, s, minutes=11).status_code == 422
    expect(activate(world, s, minutes=10), 201)
    # Only a partner's own roles can be eligible: not the customer's, not the Primary admins.
    own = expect(
        world.client.post(
            f"/api/v1/tenants/{s.c.id}/roles/{s.c.roles['Site Lead']}/assignments",
            json={
                "name": "x",
                "members": [{"type": "user", "id": s.c.admin.id}],
                "scope": {"all": True},
                "activation": "eligible",
            },
            headers=s.c.admin.headers,
        ),
        422,
    )
    assert "partner" in own["detail"]


def test_the_customers_mfa_rule_applies_on_activation_and_every_use(world: World) -> None:
    s = setup(world, policy={"elevation.activate": "auto"})
    expect(
        world.client.patch(
            f"/api/v1/tenants/{s.c.id}/settings",
            json={"require_mfa_for_partners": True},
            headers=s.c.admin.headers,
        ),
        200,
    )
    assert activate(world, s).status_code == 403
    strong = UserH(
        s.tech.id, s.tech.upn, s.tech.tenant_id, world.headers(s.tech.id, s.tech.tenant_id, mfa=True)
    )
    expect(activate(world, s, user=strong), 201)
    assert reach(world, s, strong) == 200
    assert reach(world, s) == 403


def test_the_links_expiry_ends_running_activations_and_the_log_says_so(world: World) -> None:
    s = setup(world, policy={"elevation.activate": "auto"})
    started = expect(activate(world, s), 201)
    with world.transaction() as session:
        session.execute(
            update(PartnerLink)
            .where(PartnerLink.id == uuid.UUID(s.link["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert reach(world, s) == 404
    expect(
        world.client.post(
            f"/api/v1/tenants/{s.c.id}/partners/{s.link['id']}/renew",
            json={"expires_at": None},
            headers=s.c.admin.headers,
        ),
        200,
    )
    # Renewal restores the assignment, not the activation: eligible again, holding nothing.
    assert reach(world, s) == 404
    got = expect(in_customer(world, s.c, s.c.admin, "GET", f"/activations/{started['id']}"), 200)
    assert got["status"] == "ended" and got["end_reason"] == "the partner link expired"
    with world.transaction(write=False) as session:
        details = session.scalars(
            select(AuditRecord.details).where(
                AuditRecord.tenant_id == uuid.UUID(s.c.id), AuditRecord.object_id == s.assignment_id
            )
            .order_by(AuditRecord.seq)
        ).all()
    assert [d.get("elevation") for d in details if "elevation" in d] == ["activated", "ended"]


def test_a_customer_without_the_right_may_not_list_or_end(world: World) -> None:
    s = setup(world, policy={"elevation.activate": "auto"})
    started = expect(activate(world, s), 201)
    lead = world.user(s.c)
    world.assign(s.c, s.c.roles["Site Lead"], users=[lead])
    assert in_customer(world, s.c, lead, "GET", "/activations").status_code == 403
    assert in_customer(world, s.c, lead, "DELETE", f"/activations/{started['id']}").status_code == 403
    other = world.tenant()
    assert in_customer(world, other, other.admin, "GET", f"/activations/{started['id']}").status_code == 404
    assert reach(world, s) == 200
