"""The OpenAPI document is one a client can be generated from, and the interactive docs work
offline. The client test generates models from the document with datamodel-code-generator
and drives a journey through operationIds alone."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import PASSWORD, World, expect

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    return expect(client.get("/api/v1/openapi.json"), 200)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, o) for p, item in document["paths"].items() for m, o in item.items() if m in METHODS]


def test_operation_ids_are_short_unique_and_named_after_their_endpoint(document: dict[str, Any]) -> None:
    ids = [o["operationId"] for _, _, o in operations(document)]
    assert len(ids) == len(set(ids)) > 80
    assert all(re.fullmatch(r"[a-z][a-z_]{1,40}", i) for i in ids), ids
    by_route = {(p, m): o["operationId"] for p, m, o in operations(document)}
    assert by_route[("/api/v1/tenants/{tenant_id}/rooms", "get")] == "list_rooms"
    assert by_route[("/api/v1/tenants/{tenant_id}/room-groups", "post")] == "create_room_group"
    assert by_route[("/api/v1/operator/tenants", "get")] == "list_tenants"


def test_problem_details_are_one_shared_component(document: dict[str, Any]) -> None:
    schemas, responses = document["components"]["schemas"], document["components"]["responses"]
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail"}
    assert "errors" in schemas["ValidationProblem"]["properties"]
    assert "HTTPValidationError" not in schemas
    text = json.dumps(document["paths"])
    assert '"application/problem+json"' not in text  # only references to the shared responses
    for path, method, op in operations(document):
        for status, response in op["responses"].items():
            if status[0] in "45":
                assert set(response) == {"$ref"}, (path, method, status)
                assert response["$ref"].rsplit("/", 1)[1] in responses


def test_each_operation_lists_the_errors_it_answers(document: dict[str, Any]) -> None:
    ops = {(p, m): o for p, m, o in operations(document)}

    def errors(path: str, method: str) -> set[str]:
        return {s for s in ops[(path, method)]["responses"] if s[0] in "45"}

    assert errors("/api/v1/auth/token", "post") >= {"401", "422", "429"}
    assert errors("/api/v1/tenants/{tenant_id}/rooms/{room_id}", "patch") >= {
        "401",
        "403",
        "404",
        "409",
        "422",
    }
    assert errors("/api/v1/me", "get") >= {"401", "422"} and "404" not in errors("/api/v1/me", "get")
    assert "403" not in errors("/api/v1/operator/tenants", "get")


def test_every_operation_has_a_description_and_examples(document: dict[str, Any]) -> None:
    for path, method, op in operations(document):
        assert op.get("description"), (path, method)
        for status, response in op["responses"].items():
            for media in response.get("content", {}).values():
                assert "example" in media, (path, method, status)
        for media in op.get("requestBody", {}).get("content", {}).values():
            assert "example" in media, (path, method)


def test_state_machines_are_enums(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    def enum(model: str, field: str) -> set[str]:
        prop = schemas[model]["properties"][field]
        options = prop.get("anyOf", [prop])
        return {v for o in options for v in o.get("enum", [])}

    assert enum("TicketRead", "status") == {"open", "in_progress", "resolved", "closed"}
    assert enum("TicketRead", "severity") == {"important", "warning"}
    assert enum("RoomRead", "enrollment_state") == {"enrolled", "unenrolled"}
    assert enum("RoomRead", "health_state") == {"healthy", "degraded", "unhealthy", "unknown"}
    assert enum("InvitationRead", "status") == {
        "draft",
        "pending",
        "accepted",
        "denied",
        "revoked",
        "expired",
    }
    assert enum("LinkRead", "status") == {"active", "expired", "ended"}


def test_interactive_docs_are_served_from_the_package(client: TestClient) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    external = [u for u in re.findall(r"""(?:src|href)=["']([^"']+)""", html) if "://" in u]
    assert external == [], external
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        assert f"/api/v1/docs/assets/{asset}" in html
        response = client.get(f"/api/v1/docs/assets/{asset}")
        assert response.status_code == 200 and len(response.content) > 1000
    assert "SwaggerUIBundle" in client.get("/api/v1/docs/assets/swagger-ui-bundle.js").text
    assert "/api/v1/openapi.json" in html


class GeneratedClient:
    """Calls operations by operationId, as the document describes them, and parses the
    answers with the models generated from the same document."""

    def __init__(self, http: TestClient, document: dict[str, Any], models: Any) -> None:
        self.http, self.models, self.token = http, models, None
        self.routes = {o["operationId"]: (m, p) for p, m, o in operations(document)}

    def call(
        self, operation: str, model: str | None = None, *, form: dict | None = None, **kwargs: Any
    ) -> Any:
        method, path = self.routes[operation]
        params = {k: v for k, v in kwargs.items() if f"{{{k}}}" not in path and k != "body"}
        url = path.format(**{k: v for k, v in kwargs.items() if f"{{{k}}}" in path})
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body = kwargs.get("body")
        payload = body.model_dump(mode="json", exclude_none=True) if body is not None else None
        response = self.http.request(
            method.upper(), url, params=params, json=payload, data=form, headers=headers
        )
        assert response.status_code < 300, (operation, response.status_code, response.text)
        if model is None or not response.content:
            return None
        return getattr(self.models, model).model_validate(response.json())


def generate_models(document: dict[str, Any], where: Path) -> Any:
    from datamodel_code_generator import DataModelType, Formatter, InputFileType, generate

    out = where / "roomwarden_models.py"
    generate(
        json.dumps(document),
        input_file_type=InputFileType.OpenAPI,
        output=out,
        output_model_type=DataModelType.PydanticV2BaseModel,
        formatters=[Formatter.BUILTIN],
    )
    spec = importlib.util.spec_from_file_location("roomwarden_models", out)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["roomwarden_models"] = module
    spec.loader.exec_module(module)
    return Models(module)


class Models:
    """The generated module's models by schema name (the generator suffixes a model with a
    digit when an inline enum elsewhere took its name first)."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def __getattr__(self, name: str) -> Any:
        from pydantic import BaseModel

        for candidate in (name, f"{name}1", f"{name}2"):
            found = getattr(self.module, candidate, None)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
        raise AttributeError(name)


def test_a_generated_client_drives_the_incident_journey(
    world: World, document: dict[str, Any], tmp_path: Path
) -> None:
    models = generate_models(document, tmp_path)
    api = GeneratedClient(world.client, document, models)
    domain = f"gen-{world.tag}.example.com"
    api.token = (
        world.settings.operator_token.get_secret_value()
        if hasattr(world.settings.operator_token, "get_secret_value")
        else world.settings.operator_token
    )
    tenant = api.call(
        "create_tenant",
        "TenantCreated",
        body=models.TenantCreate(
            name="Generated Ltd",
            domains=[domain],
            admin=models.AdminCreate(upn=f"admin@{domain}", display_name="Gen Admin", password=PASSWORD),
        ),
    )
    listed = api.call("list_tenants", "PageOperatorTenantRead", q=domain)
    assert [t.id for t in listed.items] == [tenant.id]
    api.token = None
    token = api.call("sign_in", "TokenResponse", form={"username": f"admin@{domain}", "password": PASSWORD})
    api.token = token.access_token
    room = api.call(
        "create_room",
        "RoomRead",
        tenant_id=tenant.id,
        body=models.RoomCreate(name="Aurora", resource_account=f"aurora@{domain}", country="US"),
    )
    ticket = api.call(
        "create_incident",
        "TicketDetail",
        tenant_id=tenant.id,
        body=models.IncidentCreate(room_id=room.id, title="Display is blank", severity="warning"),
    )
    assert ticket.room_name == "Aurora" and ticket.status.value == "open"
    page = api.call("list_tickets", "PageTicketRead", tenant_id=tenant.id, room_id=room.id)
    assert [t.id for t in page.items] == [ticket.id]
    done = api.call(
        "update_ticket",
        "TicketDetail",
        tenant_id=tenant.id,
        ticket_id=ticket.id,
        body=models.TicketUpdateIn(status="resolved", comment="replaced the cable"),
    )
    assert done.status.value == "resolved" and done.updates[-1].comment == "replaced the cable"
