from __future__ import annotations

from typing import Any

from tests.factories import TenantH, UserH, World, expect


def invite(
    world: World,
    customer: TenantH,
    partner: TenantH,
    scope: dict[str, Any] | None = None,
    days: int = 7,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "partner_domain": partner.domain,
        "expires_in_days": days,
        "scope": scope or {"all": True},
        "terms_accepted": True,
        **extra,
    }
    return expect(world.post(customer, "/partner-invitations", body), 201)


def accept(world: World, user: UserH, invitation_id: str, primary_admins: list[dict] | None = None) -> Any:
    body = {"primary_admins": primary_admins} if primary_admins is not None else None
    return world.client.post(
        f"/api/v1/partner/invitations/{invitation_id}/accept", json=body, headers=user.headers
    )


def link(
    world: World,
    customer: TenantH,
    partner: TenantH,
    scope: dict[str, Any] | None = None,
    by: UserH | None = None,
) -> dict[str, Any]:
    inv = invite(world, customer, partner, scope)
    return expect(accept(world, by or partner.admin, inv["id"]), 201)


def in_customer(
    world: World, customer: TenantH, user: UserH, method: str, path: str, body: Any = None
) -> Any:
    return world.client.request(
        method, f"/api/v1/tenants/{customer.id}{path}", json=body, headers=user.headers
    )
