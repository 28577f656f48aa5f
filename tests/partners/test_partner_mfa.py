"""Issue 9, L1: a customer's ``require_mfa_for_partners`` covers every partner-side action on
that customer — its paths, reading and ending the link, accepting and denying its invitations:
403 with a reason for a sign-in without a second factor, and a Failed record in the customer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from roomwarden.audit.models import AuditRecord
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import accept, invite


def _failed(world: World, tenant: TenantH) -> int:
    with world.db.transaction(write=False) as session:
        return session.scalar(
            select(func.count()).where(
                AuditRecord.tenant_id == uuid.UUID(tenant.id), AuditRecord.result_status == "Failed"
            )
        )


def _strict_customer(world: World) -> tuple[TenantH, TenantH, dict[str, Any], TenantH, dict[str, Any]]:
    """A customer linked to ``p`` and with a pending invitation to ``p2``, which then turns
    on the second-factor requirement."""
    c, p, p2 = world.tenant(), world.tenant(), world.tenant()
    room = world.room(c)
    lk = expect(accept(world, p.admin, invite(world, c, p, {"rooms": [room["id"]]})["id"]), 201)
    inv = invite(world, c, p2)
    url = f"/api/v1/tenants/{c.id}/settings"
    expect(
        world.client.patch(
            url,
            json={"require_mfa_for_partners": True, "enable_all_tickets_view": True},
            headers=c.admin.headers,
        ),
        200,
    )
    return c, p, lk, p2, inv


def _with_mfa(world: World, user: UserH) -> dict[str, str]:
    return world.headers(user.id, user.tenant_id, mfa=True)


def test_every_partner_action_on_a_strict_customer_needs_a_second_factor(world: World) -> None:
    c, p, lk, p2, inv = _strict_customer(world)
    client = world.client
    attempts: list[tuple[str, Callable[[dict[str, str]], Any]]] = [
        ("customer path", lambda h: client.get(f"/api/v1/tenants/{c.id}/rooms", headers=h)),
        ("customer change", lambda h: client.post(f"/api/v1/tenants/{c.id}/roles", json={}, headers=h)),
        ("read the link", lambda h: client.get(f"/api/v1/partner/customers/{lk['id']}", headers=h)),
        (
            "off-board",
            lambda h: client.delete(f"/api/v1/partner/customers/{lk['id']}?confirm=true", headers=h),
        ),
        ("tickets", lambda h: client.get(f"/api/v1/partner/tickets?customer_id={c.id}", headers=h)),
    ]
    for what, send in attempts:
        before = _failed(world, c)
        response = send(p.admin.headers)
        assert response.status_code == 403, (what, response.text)
        assert "second factor" in response.json()["detail"], what
        assert _failed(world, c) == before + 1, what
    for what, path in (("accept", "accept"), ("deny", "deny")):
        before = _failed(world, c)
        response = client.post(f"/api/v1/partner/invitations/{inv['id']}/{path}", headers=p2.admin.headers)
        assert response.status_code == 403 and "second factor" in response.json()["detail"], what
        assert _failed(world, c) == before + 1, what
    # Nothing happened: the link is active, the invitation pending.
    links = expect(client.get(f"/api/v1/tenants/{c.id}/partners", headers=c.admin.headers), 200)["items"]
    assert [x["status"] for x in links] == ["active"]
    invs = expect(
        client.get(f"/api/v1/tenants/{c.id}/partner-invitations?status=pending", headers=c.admin.headers), 200
    )
    assert [i["id"] for i in invs["items"]] == [inv["id"]]
    # The list of customers still names it, without its delegated rooms.
    listed = expect(client.get("/api/v1/partner/customers", headers=p.admin.headers), 200)["items"]
    assert [(x["id"], x["scope"], x["second_factor_required"]) for x in listed] == [(lk["id"], None, True)]


def test_with_a_second_factor_the_partner_acts(world: World) -> None:
    c, p, lk, p2, inv = _strict_customer(world)
    client, strong = world.client, _with_mfa(world, p.admin)
    expect(client.get(f"/api/v1/tenants/{c.id}/rooms", headers=strong), 200)
    read = expect(client.get(f"/api/v1/partner/customers/{lk['id']}", headers=strong), 200)
    assert read["scope"] is not None and read["second_factor_required"] is True
    expect(
        client.post(f"/api/v1/partner/invitations/{inv['id']}/deny", headers=_with_mfa(world, p2.admin)), 200
    )
    expect(client.delete(f"/api/v1/partner/customers/{lk['id']}?confirm=true", headers=strong), 204)


def test_a_lenient_customer_asks_nothing(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    lk = expect(accept(world, p.admin, invite(world, c, p)["id"]), 201)
    read = expect(world.client.get(f"/api/v1/partner/customers/{lk['id']}", headers=p.admin.headers), 200)
    assert (
        read["scope"] == {"all": True, "rooms": [], "room_groups": []} and not read["second_factor_required"]
    )
    expect(
        world.client.delete(f"/api/v1/partner/customers/{lk['id']}?confirm=true", headers=p.admin.headers),
        204,
    )
