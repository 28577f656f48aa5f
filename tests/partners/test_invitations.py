"""Invitation rules: inputs, states, who reviews, and that nothing leaks before a role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from roomwarden.partners.models import PartnerInvitation
from tests.factories import World, expect
from tests.partners.helpers import accept, invite


@pytest.mark.parametrize("days", [0, 31, -1, 1.5, "7", None])
def test_expiry_must_be_whole_days_1_to_30(world: World, days: object) -> None:
    c, p = world.tenant(), world.tenant()
    body = {
        "partner_domain": p.domain,
        "expires_in_days": days,
        "scope": {"all": True},
        "terms_accepted": True,
    }
    assert world.post(c, "/partner-invitations", body).status_code == 422


@pytest.mark.parametrize("days", [1, 30])
def test_expiry_bounds_are_accepted(world: World, days: int) -> None:
    c, p = world.tenant(), world.tenant()
    inv = invite(world, c, p, days=days)
    expires = datetime.fromisoformat(inv["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=days))) < timedelta(minutes=1)


@pytest.mark.parametrize("terms", [False, None, "yes"])
def test_terms_must_be_accepted(world: World, terms: object) -> None:
    c, p = world.tenant(), world.tenant()
    body = {"partner_domain": p.domain, "expires_in_days": 5, "scope": {"all": True}, "terms_accepted": terms}
    assert world.post(c, "/partner-invitations", body).status_code == 422


def test_unknown_domain_and_self_and_bad_policy(world: World) -> None:
    c = world.tenant()
    body = {
        "partner_domain": "nobody-here.example",
        "expires_in_days": 5,
        "scope": {"all": True},
        "terms_accepted": True,
    }
    response = world.post(c, "/partner-invitations", body)
    assert response.status_code == 422 and response.json()["detail"] == "no tenant with that domain"
    assert world.post(c, "/partner-invitations", {**body, "partner_domain": c.domain}).status_code == 422
    p = world.tenant()
    for policy in ({"room.update": "sometimes"}, {"room.delete": "auto"}):
        bad = {**body, "partner_domain": p.domain, "approval_policy": policy}
        assert world.post(c, "/partner-invitations", bad).status_code == 422


def test_one_pending_invitation_or_active_link_per_pair(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    inv = invite(world, c, p)
    body = {"partner_domain": p.domain, "expires_in_days": 5, "scope": {"all": True}, "terms_accepted": True}
    assert world.post(c, "/partner-invitations", body).status_code == 409
    expect(accept(world, p.admin, inv["id"]), 201)
    assert world.post(c, "/partner-invitations", body).status_code == 409


def test_revoke_deny_and_states_that_cannot_be_accepted(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    revoked = invite(world, c, p)
    expect(
        world.client.delete(
            f"/api/v1/tenants/{c.id}/partner-invitations/{revoked['id']}", headers=c.admin.headers
        ),
        204,
    )
    assert (
        world.client.delete(
            f"/api/v1/tenants/{c.id}/partner-invitations/{revoked['id']}", headers=c.admin.headers
        ).status_code
        == 409
    )
    assert accept(world, p.admin, revoked["id"]).status_code == 409
    denied = invite(world, c, p)
    expect(
        world.client.post(f"/api/v1/partner/invitations/{denied['id']}/deny", headers=p.admin.headers), 200
    )
    assert accept(world, p.admin, denied["id"]).status_code == 409
    accepted = invite(world, c, p)
    expect(accept(world, p.admin, accepted["id"]), 201)
    assert accept(world, p.admin, accepted["id"]).status_code == 409
    statuses = {
        i["id"]: i["status"]
        for i in expect(
            world.client.get(f"/api/v1/tenants/{c.id}/partner-invitations", headers=c.admin.headers), 200
        )["items"]
    }
    assert statuses == {revoked["id"]: "revoked", denied["id"]: "denied", accepted["id"]: "accepted"}


def test_expiry_is_enforced_at_the_moment_of_acceptance(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    inv = invite(world, c, p, days=1)
    with world.transaction() as session:  # time passes: the invitation's moment is gone
        session.execute(
            update(PartnerInvitation)
            .where(PartnerInvitation.id == uuid.UUID(inv["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    response = accept(world, p.admin, inv["id"])
    assert response.status_code == 409 and "expired" in response.json()["detail"]
    listed = expect(world.client.get("/api/v1/partner/invitations", headers=p.admin.headers), 200)["items"]
    assert listed[0]["status"] == "expired"
    for status, count in (("expired", 1), ("pending", 0)):
        url = f"/api/v1/partner/invitations?status={status}"
        assert len(expect(world.client.get(url, headers=p.admin.headers), 200)["items"]) == count
        url = f"/api/v1/tenants/{c.id}/partner-invitations?status={status}"
        assert len(expect(world.client.get(url, headers=c.admin.headers), 200)["items"]) == count
    invite(world, c, p)  # an expired invitation does not block a new one


def test_who_reviews_invitations(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    inv = invite(world, c, p)
    nobody, manager, pro = world.user(p), world.user(p), world.user(p)
    world.assign(p, p.roles["Managed Service Administrator"], users=[pro])
    url = "/api/v1/partner/invitations"
    assert world.client.get(url, headers=nobody.headers).status_code == 403
    assert accept(world, nobody, inv["id"]).status_code == 403
    assert (
        world.client.post(
            "/api/v1/partner/tenant-managers", json={"user_id": manager.id}, headers=nobody.headers
        ).status_code
        == 403
    )
    expect(
        world.client.post(
            "/api/v1/partner/tenant-managers", json={"user_id": manager.id}, headers=pro.headers
        ),
        201,
    )
    managers = expect(world.client.get("/api/v1/partner/tenant-managers", headers=p.admin.headers), 200)
    assert [m["user_id"] for m in managers["items"]] == [manager.id]
    assert len(expect(world.client.get(url, headers=manager.headers), 200)["items"]) == 1
    # Other tenants' invitations are invisible; customers see none of this.
    assert world.client.post(f"{url}/{inv['id']}/accept", headers=c.admin.headers).status_code == 404
    link = expect(accept(world, manager, inv["id"]), 201)
    # The accepting tenant manager becomes a Primary admin only because it was the default.
    assert link["primary_admins_role_id"]
    expect(world.client.delete(f"/api/v1/partner/tenant-managers/{manager.id}", headers=p.admin.headers), 204)
    assert world.client.get(url, headers=manager.headers).status_code == 403


def test_partner_sees_no_customer_data_before_it_holds_a_role(world: World) -> None:
    c, p = world.tenant("Secretive"), world.tenant()
    room = world.room(c)
    inv = invite(world, c, p, scope={"rooms": [room["id"]]})
    listed = expect(world.client.get("/api/v1/partner/invitations", headers=p.admin.headers), 200)["items"][0]
    assert set(listed) == {
        "id",
        "status",
        "customer_id",
        "customer_name",
        "scope_size",
        "expires_at",
        "approval_policy",
        "created_at",
        "link_duration_days",  # the term the link would have: no customer data
    }
    assert room["id"] not in str(listed)
    assert world.client.get(f"/api/v1/tenants/{c.id}/rooms", headers=p.admin.headers).status_code == 404
    expect(accept(world, p.admin, inv["id"]), 201)
    other = world.user(p)  # a partner user without a role in the link
    assert world.client.get(f"/api/v1/tenants/{c.id}/rooms", headers=other.headers).status_code == 404
