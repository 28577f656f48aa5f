"""The partner side: tenant managers, the aggregate ticket view, and refused partner-side
attempts written to the audit log of the customer they concern."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import accept, in_customer, invite, link

MANAGERS = "/api/v1/partner/tenant-managers"
TICKETS = "/api/v1/partner/tickets"


def _log(world: World, tenant: TenantH) -> list[dict[str, Any]]:
    url = f"/api/v1/tenants/{tenant.id}/audit-logs?limit=200&order=asc"
    return expect(world.client.get(url, headers=tenant.admin.headers), 200)["items"]


def _failed(world: World, tenant: TenantH, by: UserH) -> list[tuple[str, str, str | None, int]]:
    return [
        (r["category"], r["operation"], r["object_id"], r["details"]["status"])
        for r in _log(world, tenant)
        if r["result_status"] == "Failed" and r["user_id"] == by.id and r["user_tenant_id"] == by.tenant_id
    ]


# -- tenant managers ------------------------------------------------------------------------------


def _grant(world: World, p: TenantH, user: UserH, by: UserH | None = None) -> Any:
    return world.client.post(MANAGERS, json={"user_id": user.id}, headers=(by or p.admin).headers)


def test_tenant_managers_are_listed_in_pages(world: World) -> None:
    p = world.tenant()
    users = [world.user(p) for _ in range(3)]
    for u in users:
        expect(_grant(world, p, u), 201)
    assert _grant(world, p, users[0]).status_code == 409
    first = expect(world.client.get(f"{MANAGERS}?limit=2", headers=p.admin.headers), 200)
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = expect(
        world.client.get(f"{MANAGERS}?limit=2&cursor={first['next_cursor']}", headers=p.admin.headers), 200
    )
    listed = [m["user_id"] for m in first["items"] + rest["items"]]
    assert listed == [u.id for u in users] and rest["next_cursor"] is None
    assert {m["upn"] for m in first["items"]} == {users[0].upn, users[1].upn}
    # A tenant manager reads the list but does not grant.
    assert world.client.get(MANAGERS, headers=users[0].headers).status_code == 200
    assert _grant(world, p, world.user(p), by=users[0]).status_code == 403


def test_tenant_managers_are_removed_by_path_query_or_body(world: World) -> None:
    p = world.tenant()
    a, b, c = world.user(p), world.user(p), world.user(p)
    for u in (a, b, c):
        expect(_grant(world, p, u), 201)
    h = p.admin.headers
    expect(world.client.delete(f"{MANAGERS}/{a.id}", headers=h), 204)
    expect(world.client.delete(f"{MANAGERS}?user_id={b.id}", headers=h), 204)
    expect(world.client.request("DELETE", MANAGERS, json={"user_id": c.id}, headers=h), 204)
    assert world.client.delete(f"{MANAGERS}/{a.id}", headers=h).status_code == 404
    assert world.client.delete(MANAGERS, headers=h).status_code == 422
    both = world.client.request("DELETE", f"{MANAGERS}?user_id={a.id}", json={"user_id": b.id}, headers=h)
    assert both.status_code == 422
    assert expect(world.client.get(MANAGERS, headers=h), 200)["items"] == []


def test_tenant_managers_belong_to_their_own_tenant(world: World) -> None:
    p, other = world.tenant(), world.tenant()
    stranger = world.user(other)
    assert _grant(world, p, stranger).status_code == 422
    expect(_grant(world, other, stranger), 201)
    assert world.client.delete(f"{MANAGERS}/{stranger.id}", headers=p.admin.headers).status_code == 404
    assert [
        m["user_id"] for m in expect(world.client.get(MANAGERS, headers=p.admin.headers), 200)["items"]
    ] == []
    # Granting and removing are recorded in the partner's own log; refusals too.
    assert _grant(world, p, stranger, by=world.user(p)).status_code == 403
    ops = [(r["category"], r["operation"], r["result_status"]) for r in _log(world, other)]
    assert ("TenantManager", "Create", "Successful") in ops
    failed = [(r["category"], r["result_status"]) for r in _log(world, p) if r["category"] == "TenantManager"]
    assert failed == [("TenantManager", "Failed")] * 3


def test_deleted_users_stop_being_tenant_managers(world: World) -> None:
    p = world.tenant()
    m = world.user(p)
    expect(_grant(world, p, m), 201)
    expect(world.client.delete(f"/api/v1/tenants/{p.id}/users/{m.id}", headers=p.admin.headers), 204)
    assert expect(world.client.get(MANAGERS, headers=p.admin.headers), 200)["items"] == []


# -- the aggregate ticket view ----------------------------------------------------------------------


def _enable(world: World, c: TenantH, **settings: bool) -> None:
    body = {"enable_all_tickets_view": True, **settings}
    expect(world.client.patch(f"/api/v1/tenants/{c.id}/settings", json=body, headers=c.admin.headers), 200)


def test_aggregate_tickets_follow_each_customers_scope_and_role(world: World) -> None:
    p = world.tenant()
    a, b = world.tenant("A"), world.tenant("B")
    inside, outside = world.room(a), world.room(a)
    t_in = world.incident(a, inside["id"])["id"]
    world.incident(a, outside["id"])
    link(world, a, p, scope={"rooms": [inside["id"]]})
    b_room = world.room(b)
    b_tickets = [world.incident(b, b_room["id"])["id"] for _ in range(3)]
    link(world, b, p)
    _enable(world, a)
    _enable(world, b)
    everything = []
    cursor = None
    while True:
        url = f"{TICKETS}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = expect(world.client.get(url, headers=p.admin.headers), 200)
        everything += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(t["id"] for t in everything) == sorted([t_in, *b_tickets])  # never the out-of-scope one
    assert {t["customer_name"] for t in everything} == {"A", "B"}
    assert all(t["tenant_id"] in (a.id, b.id) for t in everything)
    # Filter by customer and by status.
    only_a = expect(world.client.get(f"{TICKETS}?customer_id={a.id}", headers=p.admin.headers), 200)["items"]
    assert [t["id"] for t in only_a] == [t_in]
    expect(in_customer(world, b, p.admin, "PATCH", f"/tickets/{b_tickets[0]}", {"status": "resolved"}), 200)
    resolved = expect(world.client.get(f"{TICKETS}?status=resolved", headers=p.admin.headers), 200)["items"]
    assert [t["id"] for t in resolved] == [b_tickets[0]]
    assert world.client.get(f"{TICKETS}?status=lost", headers=p.admin.headers).status_code == 422
    # A partner user whose role has no tickets.view sees none; one without a role, none either.
    viewer = world.user(p)
    role = expect(
        in_customer(world, b, p.admin, "POST", "/roles", {"name": "Look", "permissions": ["rooms.view"]}), 201
    )
    body = {"name": "L", "members": [{"type": "user", "id": viewer.id}], "scope": {"all": True}}
    expect(in_customer(world, b, p.admin, "POST", f"/roles/{role['id']}/assignments", body), 201)
    assert expect(world.client.get(TICKETS, headers=viewer.headers), 200)["items"] == []
    assert expect(world.client.get(TICKETS, headers=world.user(p).headers), 200)["items"] == []
    # A customer that is linked but not to the caller's role is not a filter it may use.
    assert world.client.get(f"{TICKETS}?customer_id={a.id}", headers=viewer.headers).status_code == 404


def test_aggregate_tickets_respect_the_customers_mfa_requirement(world: World) -> None:
    p = world.tenant()
    strict, relaxed = world.tenant("Strict"), world.tenant("Relaxed")
    for c in (strict, relaxed):
        world.incident(c, world.room(c)["id"])
        link(world, c, p)
    _enable(world, strict, require_mfa_for_partners=True)
    _enable(world, relaxed)
    without = expect(world.client.get(TICKETS, headers=p.admin.headers), 200)["items"]
    assert {t["customer_name"] for t in without} == {"Relaxed"}
    assert world.client.get(f"{TICKETS}?customer_id={strict.id}", headers=p.admin.headers).status_code == 403
    mfa = world.headers(p.admin.id, p.id, mfa=True)
    with_mfa = expect(world.client.get(TICKETS, headers=mfa), 200)["items"]
    assert {t["customer_name"] for t in with_mfa} == {"Strict", "Relaxed"}


def test_aggregate_tickets_end_with_the_link(world: World) -> None:
    p, c = world.tenant(), world.tenant()
    world.incident(c, world.room(c)["id"])
    lk = link(world, c, p)
    _enable(world, c)
    assert len(expect(world.client.get(TICKETS, headers=p.admin.headers), 200)["items"]) == 1
    expect(
        world.client.delete(
            f"/api/v1/tenants/{c.id}/partners/{lk['id']}?confirm=true", headers=c.admin.headers
        ),
        204,
    )
    assert expect(world.client.get(TICKETS, headers=p.admin.headers), 200)["items"] == []
    assert world.client.get(f"{TICKETS}?customer_id={c.id}", headers=p.admin.headers).status_code == 404


# -- refused partner-side attempts ---------------------------------------------------------------


def test_refused_invitation_decisions_are_recorded_in_the_customer(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    inv = invite(world, c, p)
    nobody = world.user(p)
    assert accept(world, nobody, inv["id"]).status_code == 403
    bad_body = world.client.post(
        f"/api/v1/partner/invitations/{inv['id']}/accept",
        json={"primary_admins": [{"type": "robot", "id": nobody.id}]},
        headers=p.admin.headers,
    )
    assert bad_body.status_code == 422
    assert accept(world, p.admin, inv["id"], [{"type": "user", "id": world.user(c).id}]).status_code == 422
    expect(world.client.post(f"/api/v1/partner/invitations/{inv['id']}/deny", headers=p.admin.headers), 200)
    assert (
        world.client.post(
            f"/api/v1/partner/invitations/{inv['id']}/deny", headers=p.admin.headers
        ).status_code
        == 409
    )
    assert _failed(world, c, nobody) == [("PartnerInvitation", "Approve", inv["id"], 403)]
    assert _failed(world, c, p.admin) == [
        ("PartnerInvitation", "Approve", inv["id"], 422),
        ("PartnerInvitation", "Approve", inv["id"], 422),
        ("PartnerInvitation", "Reject", inv["id"], 409),
    ]
    denied = [r for r in _log(world, c) if r["operation"] == "Reject" and r["result_status"] == "Successful"]
    assert [(r["user_tenant_id"], r["tenant_id"]) for r in denied] == [(p.id, c.id)]


def test_attempts_on_what_is_not_the_callers_are_recorded_nowhere(world: World) -> None:
    c, p, other = world.tenant(), world.tenant(), world.tenant()
    inv = invite(world, c, p)
    lk_other = link(world, c, other)
    assert accept(world, p.admin, lk_other["id"]).status_code == 404  # a link id is no invitation
    url = f"/api/v1/partner/customers/{lk_other['id']}?confirm=true"
    assert world.client.delete(url, headers=p.admin.headers).status_code == 404
    assert (
        world.client.post(
            f"/api/v1/partner/invitations/{inv['id']}/deny", headers=other.admin.headers
        ).status_code
        == 404
    )
    assert _failed(world, c, p.admin) == [] and _failed(world, c, other.admin) == []
    assert _failed(world, p, p.admin) == []


@pytest.mark.parametrize("case", ["no_confirmation", "not_primary_admin"])
def test_refused_offboarding_by_the_partner_is_recorded_in_the_customer(world: World, case: str) -> None:
    c, p = world.tenant(), world.tenant()
    lk = link(world, c, p)
    user = p.admin
    url = f"/api/v1/partner/customers/{lk['id']}"
    if case == "no_confirmation":
        assert world.client.delete(url, headers=user.headers).status_code == 422
        want = 422
    else:
        user = world.user(p, ga=True)  # sees the link (a reviewer) but is no Primary admin
        assert world.client.delete(f"{url}?confirm=true", headers=user.headers).status_code == 403
        want = 403
    assert _failed(world, c, user) == [("Partner", "Delete", lk["id"], want)]
    assert (
        expect(world.client.get(f"/api/v1/tenants/{c.id}/partners/{lk['id']}", headers=c.admin.headers), 200)[
            "status"
        ]
        == "active"
    )
