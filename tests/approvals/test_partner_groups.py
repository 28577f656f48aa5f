"""A partner's own security group named by the link's partner role assignments: changing its
members changes who holds the customer's partner roles, so it is the link's
``partner_role.change`` (approvals.partner_groups). Under ``manual`` the change waits in the
customer's queue and applies on approval; under ``auto`` it applies at once; the customer's
log records it either way."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from roomwarden.audit.models import AuditRecord
from tests.approvals.helpers import ALL_MANUAL, approve, as_user, linked, reject, requests_of
from tests.factories import World, expect
from tests.partners.helpers import accept, invite
from tests.portal.helpers import signed_in

POLICY_AUTO = dict.fromkeys(ALL_MANUAL, "auto")


def _customer_records(world: World, tenant_id: str, category: str) -> list[AuditRecord]:
    with world.transaction(write=False) as s:
        return list(
            s.scalars(
                select(AuditRecord)
                .where(AuditRecord.tenant_id == uuid.UUID(tenant_id), AuditRecord.category == category)
                .order_by(AuditRecord.seq)
            )
        )


def _setup(world: World) -> tuple[Any, str, str, Any]:
    """A link whose partner role is assigned to an empty group of the partner, made under
    ``auto``; then the customer reviews partner role changes (``manual``)."""
    x = linked(world, POLICY_AUTO)
    c, p = x.customer, x.partner
    room = world.room(c)
    group = world.security_group(p, [])
    role = expect(
        as_user(world, c, x.primary, "POST", "/roles", {"name": "Desk", "permissions": ["rooms.view"]}), 201
    )
    expect(
        as_user(
            world,
            c,
            x.primary,
            "POST",
            f"/roles/{role['id']}/assignments",
            {"name": "Desk group", "members": [{"type": "group", "id": group}], "scope": {"all": True}},
        ),
        201,
    )
    expect(
        as_user(world, c, c.admin, "PATCH", f"/partners/{x.link['id']}", {"approval_policy": ALL_MANUAL}),
        200,
    )
    return x, group, room["id"], role


def _members(world: World, x: Any, group: str) -> list[str]:
    url = f"/api/v1/tenants/{x.partner.id}/security-groups/{group}"
    return expect(world.client.get(url, headers=x.partner.admin.headers), 200)["member_ids"]


def test_a_partner_group_change_waits_for_the_customers_approval(world: World) -> None:
    x, group, room_id, _ = _setup(world)
    c, p = x.customer, x.partner
    newcomer = world.user(p)
    url = f"/api/v1/tenants/{p.id}/security-groups/{group}"
    changed = world.client.patch(url, json={"member_ids": [newcomer.id]}, headers=p.admin.headers)
    assert changed.status_code == 200, changed.text
    # held: the group is as it was, the newcomer holds no role in the customer
    assert _members(world, x, group) == []
    assert as_user(world, c, newcomer, "GET", f"/rooms/{room_id}").status_code == 404
    pending = [r for r in requests_of(world, c, "?status=pending") if r["action"] == "group_members.update"]
    assert len(pending) == 1 and pending[0]["event"] == "partner_role.change", pending
    held = _customer_records(world, c.id, "ApprovalRequest")
    assert held and held[-1].object_name.startswith("group_members.update")
    # approved: applied, and recorded in the customer's log and the partner's
    expect(approve(world, c, pending[0]["id"]), 200)
    assert _members(world, x, group) == [newcomer.id]
    expect(as_user(world, c, newcomer, "GET", f"/rooms/{room_id}"), 200)
    applied = _customer_records(world, c.id, "SecurityGroup")[-1]
    assert applied.details["members_added"] == [newcomer.id] and applied.details["approval"]
    assert _customer_records(world, p.id, "SecurityGroup")[-1].details["approval"]


def test_a_rejected_partner_group_change_never_applies(world: World) -> None:
    x, group, room_id, _ = _setup(world)
    c, p = x.customer, x.partner
    newcomer = world.user(p)
    url = f"/api/v1/tenants/{p.id}/security-groups/{group}"
    expect(world.client.patch(url, json={"member_ids": [newcomer.id]}, headers=p.admin.headers), 200)
    pending = [r for r in requests_of(world, c, "?status=pending") if r["action"] == "group_members.update"]
    expect(reject(world, c, pending[0]["id"]), 200)
    assert _members(world, x, group) == []
    assert as_user(world, c, newcomer, "GET", f"/rooms/{room_id}").status_code == 404


def test_under_auto_the_change_applies_and_the_customer_log_records_it(world: World) -> None:
    x = linked(world, POLICY_AUTO)
    c, p = x.customer, x.partner
    group = world.security_group(p, [])
    role = expect(
        as_user(world, c, x.primary, "POST", "/roles", {"name": "Desk", "permissions": ["rooms.view"]}), 201
    )
    expect(
        as_user(
            world,
            c,
            x.primary,
            "POST",
            f"/roles/{role['id']}/assignments",
            {"name": "Desk group", "members": [{"type": "group", "id": group}], "scope": {"all": True}},
        ),
        201,
    )
    newcomer = world.user(p)
    url = f"/api/v1/tenants/{p.id}/security-groups/{group}"
    expect(world.client.patch(url, json={"member_ids": [newcomer.id]}, headers=p.admin.headers), 200)
    assert _members(world, x, group) == [newcomer.id]
    recorded = _customer_records(world, c.id, "SecurityGroup")
    assert recorded and recorded[-1].details["members_added"] == [newcomer.id]
    assert recorded[-1].details["link_id"] == x.link["id"]


def test_the_customers_approval_pages_show_the_held_group_change(world: World, app: Any) -> None:
    x, group, _, _ = _setup(world)
    c, p = x.customer, x.partner
    newcomer = world.user(p)
    url = f"/api/v1/tenants/{p.id}/security-groups/{group}"
    expect(world.client.patch(url, json={"member_ids": [newcomer.id]}, headers=p.admin.headers), 200)
    pending = [r for r in requests_of(world, c, "?status=pending") if r["action"] == "group_members.update"]
    browser = signed_in(world, app, c.admin)
    listing = browser.get(f"/t/{c.id}/approvals")
    assert listing.status_code == 200
    page = browser.get(f"/t/{c.id}/approvals/{pending[0]['id']}")
    assert page.status_code == 200, page.text
    assert "partner group" in page.text.lower()


def test_a_group_that_several_reviewing_customers_use_keeps_its_members(world: World) -> None:
    """One customer's approval must not decide for another: the change is refused (409)."""
    x, group, _, _ = _setup(world)
    p = x.partner
    other = world.tenant()
    inv = invite(world, other, p, approval_policy=POLICY_AUTO)
    expect(accept(world, p.admin, inv["id"]), 201)
    role = expect(
        as_user(world, other, p.admin, "POST", "/roles", {"name": "Desk", "permissions": ["rooms.view"]}), 201
    )
    body = {"name": "Desk group", "members": [{"type": "group", "id": group}], "scope": {"all": True}}
    expect(as_user(world, other, p.admin, "POST", f"/roles/{role['id']}/assignments", body), 201)
    link_id = expect(as_user(world, other, other.admin, "GET", "/partners"), 200)["items"][0]["id"]
    expect(
        as_user(world, other, other.admin, "PATCH", f"/partners/{link_id}", {"approval_policy": ALL_MANUAL}),
        200,
    )
    newcomer = world.user(p)
    url = f"/api/v1/tenants/{p.id}/security-groups/{group}"
    refused = world.client.patch(url, json={"member_ids": [newcomer.id]}, headers=p.admin.headers)
    assert refused.status_code == 409, refused.text
    assert _members(world, x, group) == []
