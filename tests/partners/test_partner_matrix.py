"""The access matrix extended with partner principals: a Primary admin, a custom partner
role, a partner user without a role, a user of a different partner, and a Primary admin
after off-boarding — every customer endpoint x {in scope, out of scope, another tenant}.

Expiry and elevation (SPEC §4) add theirs, each stated as the principal it must behave like: a
member of an eligible assignment who has not activated it (a user without a role), one who
activated it and was approved (the custom partner role), one whose activation was ended (no
role again); the Primary admin and a technician of an expired link (off-boarded), and the
Primary admin of a link expired then renewed (a Primary admin)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from roomwarden.access.permissions import PARTNER_ADMIN, Permission
from roomwarden.partners.models import PartnerLink
from tests.access.test_matrix import CASES, IN, OTHER, OUT, TARGETS, WHO, Case, Matrix, Who, matrix  # noqa: F401
from tests.factories import TenantH, UserH, expect
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


#: The principals of the link itself (also the change-control matrix's, tests/approvals), then
#: those of expiry and elevation (``LIFECYCLE``).
PARTNERS = [
    PartnerWho("primary_admin", frozenset(PARTNER_ADMIN)),
    PartnerWho("partner_custom_role", CUSTOM_PARTNER),
    PartnerWho("partner_no_role", frozenset(), linked=False),
    PartnerWho("other_partner", frozenset(), linked=False),
    PartnerWho("after_offboarding", frozenset(PARTNER_ADMIN), linked=False),
]
LIFECYCLE = [
    PartnerWho("eligible_not_activated", frozenset(), linked=False),
    PartnerWho("eligible_activated", CUSTOM_PARTNER),
    PartnerWho("activation_ended", frozenset(), linked=False),
    PartnerWho("expired_link_admin", frozenset(PARTNER_ADMIN), linked=False),
    PartnerWho("expired_link_technician", CUSTOM_PARTNER, linked=False),
    PartnerWho("renewed_link_admin", frozenset(PARTNER_ADMIN)),
]
LINK_PRINCIPALS, PARTNERS = PARTNERS, [*PARTNERS, *LIFECYCLE]


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
    if case.name == "GET access explain":  # the customer's own user: never visible to a partner
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
            **_elevated(matrix, p1),
            **_expired(matrix),
        },
        link_id=link["id"],
    )


def _custom_role(matrix: Matrix, partner: TenantH, name: str) -> str:
    w, c = matrix.world, matrix.tenant
    body = {"name": name, "permissions": sorted(p.value for p in CUSTOM_PARTNER)}
    return expect(
        w.client.post(f"/api/v1/tenants/{c.id}/roles", json=body, headers=partner.admin.headers), 201
    )["id"]


def _assign(
    matrix: Matrix, partner: TenantH, role_id: str, user: UserH, activation: str = "permanent"
) -> str:
    w, c = matrix.world, matrix.tenant
    body = {
        "name": f"{activation} {user.upn}",
        "members": [{"type": "user", "id": user.id}],
        "scope": {"rooms": [matrix.rooms[IN]], "room_groups": [matrix.groups[IN]]},
        "activation": activation,
    }
    url = f"/api/v1/tenants/{c.id}/roles/{role_id}/assignments"
    return expect(w.client.post(url, json=body, headers=partner.admin.headers), 201)["id"]


def _elevated(matrix: Matrix, p1: TenantH) -> dict[str, UserH]:
    """Members of an eligible assignment of the same role as the custom partner role's: one
    never activated, one activated (approved by the customer), one whose activation ended."""
    w, c = matrix.world, matrix.tenant
    role = _custom_role(matrix, p1, "Help desk on call")
    idle, active, ended = w.user(p1), w.user(p1), w.user(p1)
    for user in (idle, active, ended):
        assignment = _assign(matrix, p1, role, user, "eligible")
        if user is idle:
            continue
        url = f"/api/v1/tenants/{c.id}/assignments/{assignment}/activate"
        held = expect(
            w.client.post(url, json={"minutes": 60, "justification": "matrix"}, headers=user.headers), 202
        )
        approve = f"/api/v1/tenants/{c.id}/approval-requests/{held['id']}/approve"
        expect(w.client.post(approve, headers=c.admin.headers), 200)
        if user is ended:
            (run,) = expect(w.client.get(f"/api/v1/tenants/{c.id}/activations", headers=user.headers), 200)[
                "items"
            ]
            expect(
                w.client.delete(f"/api/v1/tenants/{c.id}/activations/{run['id']}", headers=user.headers), 204
            )
    return {"eligible_not_activated": idle, "eligible_activated": active, "activation_ended": ended}


def _expire_now(matrix: Matrix, link_id: str) -> None:
    with matrix.world.transaction() as session:
        session.execute(
            update(PartnerLink)
            .where(PartnerLink.id == uuid.UUID(link_id))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def _expired(matrix: Matrix) -> dict[str, UserH]:
    """A link past its end (its Primary admin and a technician are out, as after
    off-boarding), and a link expired then renewed (its Primary admin is back)."""
    w, c = matrix.world, matrix.tenant
    scope = {"room_groups": [matrix.groups[IN]]}
    gone, back = w.tenant(), w.tenant()
    expect(accept(w, gone.admin, invite(w, c, gone, scope=scope)["id"]), 201)
    tech = w.user(gone)
    _assign(matrix, gone, _custom_role(matrix, gone, "Technicians"), tech)
    for lk in expect(w.client.get(f"/api/v1/tenants/{c.id}/partners", headers=c.admin.headers), 200)["items"]:
        if lk["partner_id"] == gone.id:
            _expire_now(matrix, lk["id"])
    renewed = expect(accept(w, back.admin, invite(w, c, back, scope=scope)["id"]), 201)
    _expire_now(matrix, renewed["id"])
    url = f"/api/v1/tenants/{c.id}/partners/{renewed['id']}/renew"
    expect(w.client.post(url, json={"expires_at": None}, headers=c.admin.headers), 200)
    return {
        "expired_link_admin": gone.admin,
        "expired_link_technician": tech,
        "renewed_link_admin": back.admin,
    }


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


# -- the partner's views across customers ------------------------------------------------------


def _delegated(matrix: Matrix) -> set[str]:
    """The link's scope is the "in" group: its current members, read as the customer."""
    url = f"/api/v1/tenants/{matrix.tenant.id}/room-groups/{matrix.groups[IN]}"
    return set(expect(matrix.world.client.get(url, headers=matrix.tenant.admin.headers), 200)["room_ids"])


@pytest.mark.parametrize("who", PARTNERS, ids=lambda w: w.name)
def test_partner_aggregate_views_show_exactly_the_delegated_rooms(
    matrix: Matrix, partners: Partners, who: PartnerWho
) -> None:
    client, user = matrix.world.client, partners.users[who.name]
    rooms = expect(client.get("/api/v1/partner/rooms?limit=200", headers=user.headers), 200)["items"]
    # Both partner roles reach the whole "in" group (the custom one also names the "in" room,
    # which the group holds): the link's scope is everything either may see.
    want = _delegated(matrix) if who.linked and who.any(P.ROOMS_VIEW) else set()
    assert {r["id"] for r in rooms} == want
    assert {(r["customer_id"], r["customer_name"]) for r in rooms} <= {(matrix.tenant.id, matrix.tenant.name)}
    one = client.get(f"/api/v1/partner/rooms?customer_id={matrix.tenant.id}", headers=user.headers)
    assert one.status_code == (200 if who.linked else 404)
    health = expect(client.get("/api/v1/partner/reports/health", headers=user.headers), 200)
    if who.linked and who.any(P.REPORTS_VIEW):
        [mine] = health["customers"]
        own = expect(
            client.get(f"/api/v1/tenants/{matrix.tenant.id}/reports/health", headers=user.headers), 200
        )
        assert (mine["customer_id"], mine["total_rooms"], mine["open_tickets"]) == (
            matrix.tenant.id,
            own["total_rooms"],
            own["open_tickets"],
        )
        assert mine["total_rooms"] == len(want)
        assert {r["room_id"] for r in mine["rooms"]} == want == {r["room_id"] for r in health["rooms"]}
        usage = expect(client.get("/api/v1/partner/reports/usage", headers=user.headers), 200)
        [used] = usage["customers"]
        assert {r["room_id"] for r in used["rooms"]} == want and usage["total_rooms"] == len(want)
    else:
        assert health["customers"] == [] and health["total_rooms"] == 0 and health["rooms"] == []
        usage = expect(client.get("/api/v1/partner/reports/usage", headers=user.headers), 200)
        assert usage["customers"] == [] and usage["rooms"] == []


@pytest.mark.parametrize("who", [w for w in WHO if w.perms is not None], ids=lambda w: w.name)
def test_customer_principals_see_no_partner_views(matrix: Matrix, who: Who) -> None:
    client, headers = matrix.world.client, matrix.users[who.name].headers
    assert expect(client.get("/api/v1/partner/rooms", headers=headers), 200)["items"] == []
    assert expect(client.get("/api/v1/partner/reports/health", headers=headers), 200)["customers"] == []
    assert expect(client.get("/api/v1/partner/reports/usage", headers=headers), 200)["customers"] == []
    url = f"/api/v1/partner/rooms?customer_id={matrix.tenant.id}"
    assert client.get(url, headers=headers).status_code == 404


def test_partner_views_refuse_the_anonymous(matrix: Matrix) -> None:
    for path in ("/api/v1/partner/rooms", "/api/v1/partner/reports/health", "/api/v1/partner/reports/usage"):
        response = matrix.world.client.get(path)
        assert response.status_code == 401 and response.headers["content-type"] == "application/problem+json"
