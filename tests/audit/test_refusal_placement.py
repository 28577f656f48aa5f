"""Where a refused change attempt is written: in the target tenant's log for the people that
tenant deals with (its users, partners it linked or invited); in the caller's own log,
bounded, for anyone else — a stranger cannot write into a tenant's log."""

from __future__ import annotations

import uuid
from typing import Any

from roomwarden.audit.refusals import ELSEWHERE, PROBES_PER_MINUTE
from tests.audit.test_audit_records import audit
from tests.factories import TenantH, World, expect
from tests.partners.helpers import in_customer, invite, link


def _verify(world: World, t: TenantH) -> None:
    result = expect(
        world.client.get(f"/api/v1/tenants/{t.id}/audit-logs/verify", headers=t.admin.headers), 200
    )
    assert result["ok"], result


def test_a_strangers_probe_is_written_to_its_own_tenant_not_the_target(world: World) -> None:
    target, stranger = world.tenant(), world.tenant()
    room = world.room(target)
    before_target, before_own = audit(world, target), audit(world, stranger)
    probes = [
        ("PATCH", f"/api/v1/tenants/{target.id}/rooms/{room['id']}", {"name": "x"}),
        ("DELETE", f"/api/v1/tenants/{target.id}/room-groups/{uuid.uuid4()}", None),
        ("PATCH", f"/api/v1/tenants/{uuid.uuid4()}/rooms/{room['id']}", {"name": "x"}),  # no such tenant
    ]
    for method, path, body in probes:
        r = world.client.request(method, path, json=body, headers=stranger.admin.headers)
        assert r.status_code == 404, r.text
    assert audit(world, target) == before_target
    new = audit(world, stranger)[len(before_own) :]
    assert [(r["object_name"], r["result_status"], r["user_id"]) for r in new] == [
        (ELSEWHERE, "Failed", stranger.admin.id)
    ] * 3
    # the caller's admins see what was tried and where; a tenant that exists and one that does
    # not read alike
    assert [r["details"]["path"] for r in new] == [p for _, p, _ in probes]
    assert {r["details"]["status"] for r in new} == {404}
    assert all(r["object_id"] is None for r in new)
    _verify(world, stranger)


def test_a_strangers_probes_are_bounded_in_its_own_log(world: World) -> None:
    target, stranger = world.tenant(), world.tenant()
    prober = world.user(stranger)
    before = audit(world, stranger)
    path = f"/api/v1/tenants/{target.id}/rooms/{uuid.uuid4()}"
    for _ in range(PROBES_PER_MINUTE + 5):
        r = world.client.patch(path, json={"name": "x"}, headers=prober.headers)
        assert r.status_code == 404
    new = _new(world, stranger, before)
    assert len(new) == PROBES_PER_MINUTE
    # another user of the same tenant has a budget of its own
    expect_404 = world.client.patch(path, json={"name": "x"}, headers=stranger.admin.headers)
    assert expect_404.status_code == 404
    assert len(_new(world, stranger, before)) == PROBES_PER_MINUTE + 1


def _new(world: World, t: TenantH, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {r["seq"] for r in before}
    return [r for r in audit(world, t) if r["seq"] not in seen]


def test_a_linked_partners_refusal_is_written_to_the_customers_log(world: World) -> None:
    customer, partner = world.tenant(), world.tenant()
    inside, outside = world.room(customer), world.room(customer)
    link(world, customer, partner, {"rooms": [inside["id"]]})
    before_customer, before_partner = audit(world, customer), audit(world, partner)
    r = in_customer(world, customer, partner.admin, "PATCH", f"/rooms/{outside['id']}", {"name": "x"})
    assert r.status_code == 404
    new = _new(world, customer, before_customer)
    assert [(r["result_status"], r["user_id"], r["user_tenant_id"]) for r in new] == [
        ("Failed", partner.admin.id, partner.id)
    ]
    assert _new(world, partner, before_partner) == []
    _verify(world, customer)


def test_an_invited_partners_refusal_is_written_to_the_customers_log(world: World) -> None:
    customer, partner = world.tenant(), world.tenant()
    room = world.room(customer)
    invite(world, customer, partner, {"rooms": [room["id"]]})
    before = audit(world, customer)
    r = in_customer(world, customer, partner.admin, "PATCH", f"/rooms/{room['id']}", {"name": "x"})
    assert r.status_code == 404
    assert [x["user_id"] for x in _new(world, customer, before)] == [partner.admin.id]
