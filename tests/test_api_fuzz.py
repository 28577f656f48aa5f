"""Schema-driven fuzzing of the whole API (schemathesis): generated requests, valid and
invalid, against every operation, as a tenant's Global admin inside its own tenant and as a
partner user acting in a customer that delegated a room to its partner. The service must
never answer 5xx, and every answer must match the OpenAPI document (documented status code,
content type, response schema, headers) and HTTP (a 405 lists every allowed method, a request
without credentials is refused as such). Every default check of schemathesis runs except
``positive_data_acceptance``: some rules cannot be written in JSON Schema (a password's
strength, an explicit ``confirm=true``, a cursor the service issued), so a schema-valid request
may rightly answer 422. Examples per operation are bounded, so the gate is a fixed cost in CI."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.meta import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.factories import World
from tests.partners.helpers import link

schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(app):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


@pytest.fixture
def fuzz_target(world: World) -> tuple[str, dict[str, str], dict[str, str]]:
    t = world.tenant()
    room = world.room(t)
    world.room_group(t, [room["id"]])
    return t.id, t.admin.headers, {"room_id": room["id"]}


@pytest.fixture
def partner_target(world: World) -> tuple[str, dict[str, str], dict[str, str]]:
    """A partner's Global admin (Primary admins of the link) in a customer with two rooms,
    one of them delegated."""
    customer, partner = world.tenant(), world.tenant()
    delegated, _hidden = world.room(customer), world.room(customer)
    link(world, customer, partner, scope={"rooms": [delegated["id"]], "room_groups": []})
    return customer.id, partner.admin.headers, {"room_id": delegated["id"]}


def _call(case, target) -> None:  # type: ignore[no-untyped-def]
    tenant_id, headers, known = target
    meta = getattr(case, "_meta", None)
    if meta is not None and meta.generation.mode == GenerationMode.NEGATIVE:
        # A request that breaks the schema is sent as generated (no ids or credentials put
        # in for it): the service must refuse it, and no change here may make it valid.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])
        return
    if "tenant_id" in (case.path_parameters or {}):
        case.path_parameters["tenant_id"] = tenant_id
        for name, value in known.items():
            if name in case.path_parameters:
                case.path_parameters[name] = value
    if case.path.startswith("/api/v1/operator"):
        from roomwarden.settings import DEMO_OPERATOR_TOKEN

        headers = {"Authorization": f"Bearer {DEMO_OPERATOR_TOKEN}"}
    case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_and_never_fails(case, fuzz_target) -> None:  # type: ignore[no-untyped-def]
    _call(case, fuzz_target)


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_and_never_fails_for_a_partner(case, partner_target) -> None:  # type: ignore[no-untyped-def]
    _call(case, partner_target)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/security-groups", {"name": "bad\x00name", "member_ids": []}),
        ("post", "/room-groups", {"name": "x", "room_ids": [], "\x00": 1}),
        ("get", "/rooms?q=a%00b", None),
        ("get", "/users?q=%00", None),
    ],
)
def test_nul_characters_are_invalid_input_on_every_database(
    world: World, method: str, path: str, body
) -> None:  # type: ignore[no-untyped-def]
    t = world.tenant()
    url = f"/api/v1/tenants/{t.id}{path}"
    response = world.client.request(method, url, json=body, headers=t.admin.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
