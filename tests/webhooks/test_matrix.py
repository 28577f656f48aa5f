"""The webhook routes in the access matrix: every principal of the customer matrix (built-in
roles, custom roles, no role, anonymous) and every partner principal, on the tenant's own
endpoint, another tenant's endpoint under this tenant's path, and another tenant's path.

Managing webhooks takes the Global admin or ``settings.modify`` over all rooms (403 otherwise);
a partner acting in the customer never sees them (404), and another tenant's endpoint is
absent (404)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from roomwarden.access.permissions import Permission
from roomwarden.audit.models import AuditRecord
from tests.access.test_matrix import FOREIGN, IN, OTHER, WHO, Matrix, Who, matrix  # noqa: F401
from tests.factories import expect
from tests.partners.test_partner_matrix import PARTNERS, Partners, PartnerWho, partners  # noqa: F401

P = Permission
TARGETS = (IN, FOREIGN, OTHER)


@dataclass
class Hooks:
    ids: dict[str, str]
    deliveries: dict[str, str]


@pytest.fixture(scope="module")
def hooks(matrix: Matrix) -> Hooks:
    ids, deliveries = {}, {}
    for key, tenant in ((IN, matrix.tenant), (OTHER, matrix.other)):
        hook = expect(
            matrix.world.post(
                tenant, "/webhooks", {"url": "https://hooks.invalid/in", "events": ["webhook.test"]}
            ),
            201,
        )
        ids[key] = hook["id"]
        deliveries[key] = expect(matrix.world.post(tenant, f"/webhooks/{hook['id']}/test", None), 201)["id"]
    ids[FOREIGN], deliveries[FOREIGN] = ids[OTHER], deliveries[OTHER]
    return Hooks(ids, deliveries)


def _fresh(m: Matrix, target: str) -> str:
    body = {"url": "https://hooks.invalid/fresh", "events": ["ticket.opened"]}
    return expect(m.world.post(m.owner(target), "/webhooks", body), 201)["id"]


Request = tuple[str, str, Any]


@dataclass(frozen=True)
class Case:
    name: str
    request: Callable[[Matrix, Hooks, str], Request]
    ok: int
    by_id: bool = True


CASES = [
    Case("GET webhooks", lambda m, h, t: ("GET", "/webhooks", None), 200, by_id=False),
    Case(
        "POST webhook",
        lambda m, h, t: (
            "POST",
            "/webhooks",
            {"url": "https://hooks.invalid/x", "events": ["room.enrolled"]},
        ),
        201,
        by_id=False,
    ),
    Case("GET webhook", lambda m, h, t: ("GET", f"/webhooks/{h.ids[t]}", None), 200),
    Case(
        "PATCH webhook",
        lambda m, h, t: (
            "PATCH",
            f"/webhooks/{h.ids[t]}",
            {"description": f"changed {uuid.uuid4().hex[:6]}"},
        ),
        200,
    ),
    Case("DELETE webhook", lambda m, h, t: ("DELETE", f"/webhooks/{_fresh(m, t)}", None), 204),
    Case("POST rotate secret", lambda m, h, t: ("POST", f"/webhooks/{h.ids[t]}/rotate-secret", None), 200),
    Case("POST test", lambda m, h, t: ("POST", f"/webhooks/{h.ids[t]}/test", None), 201),
    Case("GET deliveries", lambda m, h, t: ("GET", f"/webhooks/{h.ids[t]}/deliveries", None), 200),
    Case(
        "POST retry",
        lambda m, h, t: ("POST", f"/webhooks/{h.ids[t]}/deliveries/{h.deliveries[t]}/retry", None),
        200,
    ),
]


def manages(who: Who) -> bool:
    return who.global_admin or who.tenant_wide(P.SETTINGS_MODIFY)


def expected(who: Who, case: Case, target: str) -> int:
    if who.perms is None:
        return 401
    if target == OTHER:
        return 404
    if not manages(who):
        return 403
    return 404 if target == FOREIGN else case.ok


def _params() -> list[Any]:
    return [
        pytest.param(case, who, target, id=f"{case.name}-{who.name}-{target}")
        for case in CASES
        for who in WHO
        for target in (TARGETS if case.by_id else (IN, OTHER))
    ]


@pytest.mark.parametrize(("case", "who", "target"), _params())
def test_webhook_access_matrix(matrix: Matrix, hooks: Hooks, case: Case, who: Who, target: str) -> None:
    method, path, body = case.request(matrix, hooks, target)
    tenant = matrix.tenant_for(target)
    response = matrix.world.client.request(
        method, f"/api/v1/tenants/{tenant.id}{path}", json=body, headers=matrix.users[who.name].headers
    )
    want = expected(who, case, target)
    assert response.status_code == want, f"{case.name} as {who.name} on {target}: {response.text}"
    if want >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    elif method != "GET":
        with matrix.world.transaction() as session:
            row = session.execute(
                select(AuditRecord.category, AuditRecord.allowed_by)
                .where(
                    AuditRecord.tenant_id == uuid.UUID(tenant.id),
                    AuditRecord.user_id == matrix.users[who.name].id,
                )
                .order_by(AuditRecord.seq.desc())
                .limit(1)
            ).one()
        assert row.category == "Webhook" and row.allowed_by, f"{case.name} as {who.name}: {row}"


@pytest.mark.parametrize("target", (IN, OTHER))
@pytest.mark.parametrize("who", PARTNERS, ids=lambda w: w.name)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_partners_never_see_a_customers_webhooks(
    matrix: Matrix,
    partners: Partners,
    hooks: Hooks,
    case: Case,
    who: PartnerWho,
    target: str,
) -> None:
    method, path, body = case.request(matrix, hooks, target)
    tenant = matrix.tenant_for(target)
    response = matrix.world.client.request(
        method, f"/api/v1/tenants/{tenant.id}{path}", json=body, headers=partners.users[who.name].headers
    )
    assert response.status_code == 404, f"{case.name} as {who.name}: {response.text}"
