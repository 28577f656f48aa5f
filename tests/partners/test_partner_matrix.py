"""The access matrix extended with partner principals: a Primary admin, a custom partner
role, a partner user without a role, a user of a different partner, and a Primary admin
after off-boarding — every customer endpoint x {in scope, out of scope, another tenant}."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from roomwarden.access.permissions import PARTNER_ADMIN, Permission
from tests.access.test_matrix import CASES, IN, OTHER, OUT, TARGETS, Case, Matrix, Who, matrix  # noqa: F401
from tests.factories import UserH, expect
from tests.partners.helpers import accept, invite

P = Permission
HIDDEN = {
    "GET settings",
    "PATCH settings",
    "GET audit log",
    "GET audit export",
    "GET audit verify",
    "GET users",
    "POST user",
    "GET security groups",
    "POST security group",
}
CUSTOM_PARTNER = frozenset({P.ROOMS_VIEW, P.TICKETS_VIEW, P.TICKETS_UPDATE})


@dataclass(frozen=True)
class PartnerWho(Who):
    """A partner principal: permissions cut to the Partner admin column, rooms cut to the
    link's scope (the "in" group); ``linked`` False means the customer is invisible."""

    linked: bool = True


PARTNERS = [
    PartnerWho("primary_admin", frozenset(PARTNER_ADMIN)),
    PartnerWho("partner_custom_role", CUSTOM_PARTNER),
    PartnerWho("partner_no_role", frozenset(), linked=False),
    PartnerWho("other_partner", frozenset(), linked=False),
    PartnerWho("after_offboarding", frozenset(PARTNER_ADMIN), linked=False),
]


def expected(who: PartnerWho, case: Case, target: str) -> int:
    if target == OTHER or not who.linked:
        return 404
    if case.name in HIDDEN:
        return 404
    if case.name in ("GET roles",):
        return 200 if who.any(P.ROLES_VIEW) else 403
    if case.name == "POST role":
        return 201 if who.any(P.ROLES_MODIFY) else 403
    if case.name in ("GET role", "GET role assignments"):  # the customer's own role: never visible
        return 404 if who.any(P.ROLES_VIEW) else 403
    return case.expected(who, target)


@dataclass
class Partners:
    users: dict[str, UserH]
    link_id: str


@pytest.fixture(scope="module")
def partners(matrix: Matrix) -> Partners:
    w, c = matrix.world, matrix.tenant
    p1, p2, p3 = w.tenant(), w.tenant(), w.tenant()
    inv = invite(w, c, p1, scope={"room_groups": [matrix.groups[IN]]})
    link = expect(accept(w, p1.admin, inv["id"]), 201)
    custom, norole = w.user(p1), w.user(p1)
    role = expect(
        w.client.post(
            f"/api/v1/tenants/{c.id}/roles",
            json={"name": "Help desk", "permissions": sorted(p.value for p in CUSTOM_PARTNER)},
            headers=p1.admin.headers,
        ),
        201,
    )
    assert role["kind"] == "partner_custom" and role["partner_link_id"] == link["id"]
    expect(
        w.client.post(
            f"/api/v1/tenants/{c.id}/roles/{role['id']}/assignments",
            json={
                "name": "Desk",
                "members": [{"type": "user", "id": custom.id}],
                "scope": {"rooms": [matrix.rooms[IN]], "room_groups": [matrix.groups[IN]]},
            },
            headers=p1.admin.headers,
        ),
        201,
    )
    gone = expect(accept(w, p3.admin, invite(w, c, p3)["id"]), 201)
    expect(
        w.client.delete(
            f"/api/v1/tenants/{c.id}/partners/{gone['id']}?confirm=true", headers=c.admin.headers
        ),
        204,
    )
    return Partners(
        users={
            "primary_admin": p1.admin,
            "partner_custom_role": custom,
            "partner_no_role": norole,
            "other_partner": p2.admin,
            "after_offboarding": p3.admin,
        },
        link_id=link["id"],
    )


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("who", PARTNERS, ids=lambda w: w.name)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_partner_access_matrix(
    matrix: Matrix,
    partners: Partners,
    case: Case,
    who: PartnerWho,
    target: str,
) -> None:
    method, path, body = case.request(matrix, target)
    tenant = matrix.tenant_for(target)
    response = matrix.world.client.request(
        method, f"/api/v1/tenants/{tenant.id}{path}", json=body, headers=partners.users[who.name].headers
    )
    want = expected(who, case, target)
    assert response.status_code == want, f"{case.name} as {who.name} on {target}: {response.text}"


@pytest.mark.parametrize("customer_path", ["/partners", "/partner-invitations", "/roles"])
def test_partner_never_sees_customer_administration(
    matrix: Matrix,
    partners: Partners,
    customer_path: str,
) -> None:
    c = matrix.tenant
    headers = partners.users["primary_admin"].headers
    response = matrix.world.client.get(f"/api/v1/tenants/{c.id}{customer_path}", headers=headers)
    if customer_path == "/roles":  # only the link's own partner roles
        kinds = {r["kind"] for r in expect(response, 200)["items"]}
        assert kinds == {"partner_builtin", "partner_custom"}
    else:
        assert response.status_code == 404


def test_narrowing_the_link_applies_to_every_partner_role_on_the_next_request(
    matrix: Matrix,
    partners: Partners,
) -> None:
    w, c = matrix.world, matrix.tenant
    room = f"/api/v1/tenants/{c.id}/rooms/{matrix.rooms[IN]}"
    for name in ("primary_admin", "partner_custom_role"):
        assert w.client.get(room, headers=partners.users[name].headers).status_code == 200
    url = f"/api/v1/tenants/{c.id}/partners/{partners.link_id}"
    expect(w.client.patch(url, json={"scope": {"rooms": []}}, headers=c.admin.headers), 200)
    try:
        for name in ("primary_admin", "partner_custom_role"):
            assert w.client.get(room, headers=partners.users[name].headers).status_code == 404
    finally:
        expect(
            w.client.patch(
                url, json={"scope": {"room_groups": [matrix.groups[IN]]}}, headers=c.admin.headers
            ),
            200,
        )
    assert uuid.UUID(partners.link_id)
