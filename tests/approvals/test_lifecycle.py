"""Every way a request ends, what it leaves in the audit log and the outbox, and what refusals
look like under a manual policy."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from roomwarden.approvals.models import ApprovalRequest
from roomwarden.approvals.service import sweep
from roomwarden.kit.time import utcnow
from roomwarden.notifications.models import OutgoingMail
from tests.approvals.helpers import (
    ALL_MANUAL,
    Linked,
    approve,
    as_user,
    cancel,
    linked,
    reject,
    requests_of,
    ring_ids,
)
from tests.factories import World, expect
from tests.partners.helpers import accept, invite


def _audit(world: World, x: Linked, category: str | None = None) -> list[dict[str, Any]]:
    query = f"?limit=200&category={category}" if category else "?limit=200"
    return expect(as_user(world, x.customer, x.customer.admin, "GET", f"/audit-logs{query}"), 200)["items"]


def _hold_city(world: World, x: Linked, room: dict[str, Any], city: str = "Oslo") -> dict[str, Any]:
    return expect(as_user(world, x.customer, x.primary, "PATCH", f"/rooms/{room['id']}", {"city": city}), 202)


def _count_requests(world: World, x: Linked) -> int:
    with world.transaction(write=False) as s:
        return (
            s.scalar(select(func.count()).where(ApprovalRequest.tenant_id == uuid.UUID(x.customer.id))) or 0
        )


def _overdue(world: World, request_id: str) -> None:
    with world.transaction() as s:
        s.execute(
            update(ApprovalRequest)
            .where(ApprovalRequest.id == uuid.UUID(request_id))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


def test_customer_users_are_never_held(world: World) -> None:
    x = linked(world)
    room = world.room(x.customer)
    r = expect(
        as_user(world, x.customer, x.customer.admin, "PATCH", f"/rooms/{room['id']}", {"city": "Rome"}), 200
    )
    assert r["city"] == "Rome" and _count_requests(world, x) == 0


def test_auto_events_apply_at_once_beside_manual_ones(world: World) -> None:
    x = linked(world, {"room.update": "manual"})
    room = world.room(x.customer)
    rings = ring_ids(world, x.customer)
    moved = as_user(
        world, x.customer, x.primary, "PATCH", f"/rooms/{room['id']}", {"update_ring_id": rings["Validation"]}
    )
    assert expect(moved, 200)["update_ring_id"] == rings["Validation"]
    both = {"update_ring_id": rings["General"], "city": "Lima"}
    held = expect(as_user(world, x.customer, x.primary, "PATCH", f"/rooms/{room['id']}", both), 202)
    assert held["event"] == "room.update" and held["events"] == ["room.update", "update_ring.change"]
    now = expect(as_user(world, x.customer, x.customer.admin, "GET", f"/rooms/{room['id']}"), 200)
    assert now["update_ring_id"] == rings["Validation"] and now["city"] != "Lima"


def test_refusals_are_the_direct_paths_and_hold_nothing(world: World) -> None:
    x = linked(world, scope={"rooms": []})
    inside = world.room(x.customer)
    outside = world.room(x.customer)
    expect(
        as_user(
            world,
            x.customer,
            x.customer.admin,
            "PATCH",
            f"/partners/{x.link['id']}",
            {"scope": {"rooms": [inside["id"]]}},
        ),
        200,
    )
    closed = world.incident(x.customer, inside["id"])
    expect(
        as_user(
            world, x.customer, x.customer.admin, "PATCH", f"/tickets/{closed['id']}", {"status": "closed"}
        ),
        200,
    )
    before = {r["id"] for r in _audit(world, x)}
    attempts = [
        (("PATCH", f"/rooms/{outside['id']}", {"city": "X"}), 404),  # out of the link's scope
        (("PATCH", f"/rooms/{inside['id']}", {"country": "XX"}), 422),  # invalid input
        (("PATCH", f"/tickets/{closed['id']}", {"status": "open"}), 409),  # a closed ticket is final
        (("PATCH", f"/update-rings/{ring_ids(world, x.customer)['General']}", {"deferral_days": 2}), 403),
        (("POST", "/roles", {"name": "Keys", "permissions": ["rooms.download_key"]}), 422),
    ]
    for (method, path, body), status in attempts:
        r = as_user(world, x.customer, x.primary, method, path, body)
        assert r.status_code == status, (path, r.text)
    records = [r for r in _audit(world, x) if r["id"] not in before]
    assert [r["result_status"] for r in records] == ["Failed"] * len(attempts)
    assert all(r["user_tenant_id"] == x.partner.id for r in records)
    assert _count_requests(world, x) == 0


def test_the_audit_trail_of_a_held_change(world: World) -> None:
    x = linked(world)
    room = world.room(x.customer)
    held = _hold_city(world, x, room)
    expect(approve(world, x.customer, held["id"]), 200)
    rejected = _hold_city(world, x, room, "Bergen")
    expect(reject(world, x.customer, rejected["id"], "we move it ourselves"), 200)
    cancelled = _hold_city(world, x, room, "Tromsø")
    expect(cancel(world, x.primary, cancelled["id"]), 200)
    stale = _hold_city(world, x, room, "Narvik")
    expect(
        as_user(world, x.customer, x.customer.admin, "PATCH", f"/rooms/{room['id']}", {"name": "Mine"}), 200
    )
    assert approve(world, x.customer, stale["id"]).status_code == 409
    expired = _hold_city(world, x, room, "Bodø")
    _overdue(world, expired["id"])
    assert approve(world, x.customer, expired["id"]).status_code == 409

    trail = [r for r in _audit(world, x, "ApprovalRequest")]
    ops = [(r["object_id"], r["operation"], r["result_status"], r["details"]["status"]) for r in trail]
    creates = [o for o in ops if o[1] == "Create"]
    assert len(creates) == 5 and all(
        r["user_tenant_id"] == x.partner.id and r["tenant_id"] == x.customer.id
        for r in trail
        if r["operation"] == "Create"
    )
    assert (held["id"], "Approve", "Successful", "approved") in ops
    assert (rejected["id"], "Reject", "Successful", "rejected") in ops
    assert (cancelled["id"], "Update", "Successful", "cancelled") in ops
    assert (stale["id"], "Approve", "Failed", "failed") in ops
    assert (expired["id"], "Update", "Successful", "expired") in ops
    failed = next(r for r in trail if r["object_id"] == stale["id"] and r["operation"] == "Approve")
    assert "changed" in failed["details"]["reason"]
    applied = [r for r in _audit(world, x, "Room") if r["details"].get("approval")]
    assert len(applied) == 1
    assert applied[0]["user_id"] == x.primary.id and applied[0]["user_tenant_id"] == x.partner.id
    assert applied[0]["details"]["approval"] == {
        "request_id": held["id"],
        "approved_by": x.customer.admin.id,
        "approved_by_upn": x.customer.admin.upn,
    }
    verify = expect(as_user(world, x.customer, x.customer.admin, "GET", "/audit-logs/verify"), 200)
    assert verify["ok"]


def test_expiry_is_per_link_read_at_once_and_swept(world: World) -> None:
    x = linked(world)
    expect(
        as_user(
            world,
            x.customer,
            x.customer.admin,
            "PATCH",
            f"/partners/{x.link['id']}",
            {"approval_expires_in_days": 2},
        ),
        200,
    )
    room = world.room(x.customer)
    held = _hold_city(world, x, room)
    lifetime = datetime.fromisoformat(held["expires_at"]) - datetime.fromisoformat(held["created_at"])
    assert lifetime == timedelta(days=2)
    _overdue(world, held["id"])
    assert [r["id"] for r in requests_of(world, x.customer, "?status=expired")] == [held["id"]]
    assert requests_of(world, x.customer, "?status=pending") == []
    with world.transaction() as s:
        assert sweep(s, tenant_id=uuid.UUID(x.customer.id)) == 1
        assert sweep(s, tenant_id=uuid.UUID(x.customer.id)) == 0
    got = expect(as_user(world, x.customer, x.customer.admin, "GET", f"/approval-requests/{held['id']}"), 200)
    assert got["status"] == "expired" and got["reason"].startswith("no decision before")
    assert cancel(world, x.primary, held["id"]).status_code == 409
    bad = as_user(
        world,
        x.customer,
        x.customer.admin,
        "PATCH",
        f"/partners/{x.link['id']}",
        {"approval_expires_in_days": 0},
    )
    assert bad.status_code == 422


def test_policy_back_to_auto_cancels_only_those_events(world: World) -> None:
    x = linked(world)
    room = world.room(x.customer)
    rename = _hold_city(world, x, room)
    incident = expect(
        as_user(
            world,
            x.customer,
            x.primary,
            "POST",
            "/incidents",
            {"room_id": room["id"], "title": "Screen", "severity": "warning"},
        ),
        202,
    )
    policy = {**ALL_MANUAL, "room.update": "auto"}
    expect(
        as_user(
            world,
            x.customer,
            x.customer.admin,
            "PATCH",
            f"/partners/{x.link['id']}",
            {"approval_policy": policy},
        ),
        200,
    )
    by_id = {r["id"]: r for r in requests_of(world, x.customer)}
    assert by_id[rename["id"]]["status"] == "cancelled"
    assert "room.update is now automatic" in by_id[rename["id"]]["reason"]
    assert by_id[incident["id"]]["status"] == "pending"
    assert approve(world, x.customer, rename["id"]).status_code == 409


def test_approval_rechecks_the_requester(world: World) -> None:
    x = linked(world)
    room = world.room(x.customer)
    helper = world.user(x.partner)
    role = expect(as_user(world, x.customer, x.customer.admin, "GET", "/roles?kind=partner_builtin"), 200)[
        "items"
    ][0]
    assignment = expect(as_user(world, x.customer, x.primary, "GET", f"/roles/{role['id']}/assignments"), 200)
    aid = assignment["items"][0]["id"]
    # The link's Primary admins now include the helper (applied: partner roles are auto here).
    expect(
        as_user(
            world,
            x.customer,
            x.customer.admin,
            "PATCH",
            f"/partners/{x.link['id']}",
            {"approval_policy": {**ALL_MANUAL, "partner_role.change": "auto"}},
        ),
        200,
    )
    both = [{"type": "user", "id": x.primary.id}, {"type": "user", "id": helper.id}]
    expect(as_user(world, x.customer, x.primary, "PATCH", f"/assignments/{aid}", {"members": both}), 200)
    held = expect(as_user(world, x.customer, helper, "PATCH", f"/rooms/{room['id']}", {"city": "Kyiv"}), 202)
    mfa = expect(
        as_user(world, x.customer, x.primary, "PATCH", f"/rooms/{room['id']}", {"building": "B"}), 202
    )
    expect(
        as_user(
            world,
            x.customer,
            x.primary,
            "PATCH",
            f"/assignments/{aid}",
            {"members": [{"type": "user", "id": x.primary.id}]},
        ),
        200,
    )
    r = approve(world, x.customer, held["id"])
    assert r.status_code == 409 and "no longer holds a role" in r.json()["detail"]
    expect(
        as_user(
            world, x.customer, x.customer.admin, "PATCH", "/settings", {"require_mfa_for_partners": True}
        ),
        200,
    )
    r = approve(world, x.customer, mfa["id"])
    assert r.status_code == 409 and "second factor" in r.json()["detail"]
    now = expect(as_user(world, x.customer, x.customer.admin, "GET", f"/rooms/{room['id']}"), 200)
    assert now["city"] != "Kyiv" and now["building"] != "B"


def test_who_sees_and_cancels_on_the_partner_side(world: World) -> None:
    x = linked(world)
    room = world.room(x.customer)
    other = linked(world)
    stranger = other.primary
    held = _hold_city(world, x, room)
    mine = expect(world.client.get("/api/v1/partner/approval-requests", headers=x.primary.headers), 200)
    assert [r["id"] for r in mine["items"]] == [held["id"]]
    per_customer = world.client.get(
        f"/api/v1/partner/approval-requests?customer_id={other.customer.id}", headers=x.primary.headers
    )
    assert expect(per_customer, 200)["items"] == []
    assert (
        world.client.get(
            f"/api/v1/partner/approval-requests/{held['id']}", headers=stranger.headers
        ).status_code
        == 404
    )
    assert cancel(world, stranger, held["id"]).status_code == 404
    # Another user of the same partner without the Primary admins role sees nothing.
    colleague = world.user(x.partner)
    assert cancel(world, colleague, held["id"]).status_code == 404
    # Partners never reach the customer-side approval endpoints.
    assert as_user(world, x.customer, x.primary, "GET", "/approval-requests").status_code == 404
    assert approve(world, x.customer, held["id"], as_=x.primary).status_code == 404
    assert expect(cancel(world, x.primary, held["id"]), 200)["status"] == "cancelled"
    assert cancel(world, x.primary, held["id"]).status_code == 409


def test_filters(world: World) -> None:
    x = linked(world)
    c = x.customer
    a, b = world.room(c), world.room(c)
    p2 = world.tenant()
    expect(accept(world, p2.admin, invite(world, c, p2, approval_policy=ALL_MANUAL)["id"]), 201)
    r1 = _hold_city(world, x, a)
    r2 = expect(as_user(world, c, p2.admin, "PATCH", f"/rooms/{b['id']}", {"city": "Q"}), 202)
    r3 = expect(
        as_user(
            world,
            c,
            x.primary,
            "POST",
            "/incidents",
            {"room_id": b["id"], "title": "t", "severity": "important"},
        ),
        202,
    )
    ids = lambda q: [r["id"] for r in requests_of(world, c, q)]  # noqa: E731
    assert ids("") == [r1["id"], r2["id"], r3["id"]]
    assert ids(f"?partner_id={p2.id}") == [r2["id"]]
    assert ids(f"?room_id={b['id']}") == [r2["id"], r3["id"]]
    assert ids("?event=incident.create") == [r3["id"]]
    assert ids(f"?event=room.update&room_id={b['id']}&status=pending") == [r2["id"]]
    assert as_user(world, c, c.admin, "GET", "/approval-requests?status=bogus").status_code == 422


def test_reviewers_and_requester_are_told_by_mail(world: World) -> None:
    x = linked(world)
    c = x.customer
    expect(as_user(world, c, c.admin, "PATCH", "/settings", {"notification_email": f"ops@{c.domain}"}), 200)
    a, b = world.room(c), world.room(c)
    reviewer, scoped, quiet = world.user(c), world.user(c), world.user(c)
    msa = c.roles["Managed Service Administrator"]
    body = {
        "name": "Approvers",
        "email_notifications": True,
        "members": [{"type": "user", "id": reviewer.id}],
        "scope": {"all": True},
    }
    expect(world.post(c, f"/roles/{msa}/assignments", body), 201)
    body = {
        **body,
        "name": "Site approvers",
        "members": [{"type": "user", "id": scoped.id}],
        "scope": {"rooms": [a["id"]]},
    }
    expect(world.post(c, f"/roles/{msa}/assignments", body), 201)
    body = {
        **body,
        "name": "Silent",
        "email_notifications": False,
        "members": [{"type": "user", "id": quiet.id}],
        "scope": {"all": True},
    }
    expect(world.post(c, f"/roles/{msa}/assignments", body), 201)
    on_b = _hold_city(world, x, b)
    on_a = _hold_city(world, x, a)

    def to(subject_start: str) -> list[str]:
        with world.transaction(write=False) as s:
            return sorted(
                s.scalars(
                    select(OutgoingMail.to_address).where(
                        OutgoingMail.tenant_id == uuid.UUID(c.id),
                        OutgoingMail.subject.startswith(subject_start),
                    )
                )
            )

    needed = to("Approval needed")
    assert needed.count(f"ops@{c.domain}") == 2 and needed.count(reviewer.upn) == 2
    assert needed.count(scoped.upn) == 1 and quiet.upn not in needed
    expect(approve(world, c, on_a["id"]), 200)
    expect(reject(world, c, on_b["id"]), 200)
    assert to("Request approved") == [x.primary.upn] and to("Request rejected") == [x.primary.upn]
