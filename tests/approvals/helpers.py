from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import accept, invite

EVENTS = ("room.update", "update_ring.change", "incident.create", "ticket.update", "partner_role.change")
ALL_MANUAL = dict.fromkeys(EVENTS, "manual")


@dataclass
class Linked:
    customer: TenantH
    partner: TenantH
    link: dict[str, Any]

    @property
    def primary(self) -> UserH:
        return self.partner.admin


def linked(world: World, policy: dict[str, str] | None = None, scope: dict[str, Any] | None = None) -> Linked:
    c, p = world.tenant(), world.tenant()
    inv = invite(world, c, p, scope=scope, approval_policy=ALL_MANUAL if policy is None else policy)
    return Linked(c, p, expect(accept(world, p.admin, inv["id"]), 201))


def as_user(world: World, tenant: TenantH, user: UserH, method: str, path: str, body: Any = None) -> Any:
    return world.client.request(method, f"/api/v1/tenants/{tenant.id}{path}", json=body, headers=user.headers)


def requests_of(world: World, c: TenantH, query: str = "", as_: UserH | None = None) -> list[dict[str, Any]]:
    return expect(as_user(world, c, as_ or c.admin, "GET", f"/approval-requests{query}"), 200)["items"]


def approve(world: World, c: TenantH, request_id: str, as_: UserH | None = None) -> Any:
    return as_user(world, c, as_ or c.admin, "POST", f"/approval-requests/{request_id}/approve")


def reject(
    world: World, c: TenantH, request_id: str, reason: str = "not now", as_: UserH | None = None
) -> Any:
    return as_user(
        world, c, as_ or c.admin, "POST", f"/approval-requests/{request_id}/reject", {"reason": reason}
    )


def cancel(world: World, user: UserH, request_id: str) -> Any:
    return world.client.post(f"/api/v1/partner/approval-requests/{request_id}/cancel", headers=user.headers)


def ring_ids(world: World, c: TenantH) -> dict[str, str]:
    rings = expect(world.client.get(f"/api/v1/tenants/{c.id}/update-rings", headers=c.admin.headers), 200)
    return {r["name"]: r["id"] for r in rings["items"]}
