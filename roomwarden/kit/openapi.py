"""The OpenAPI document a client can be generated from, and the interactive docs served from
the installed package (no CDN: they work offline).

- operationIds are the endpoint functions' names: short, stable, unique (checked here).
- Problem details are one shared schema and one shared response per status, referenced by
  every operation instead of copied into each.
- Each operation lists the error statuses it can answer, derived from what it declares:
  401 unless anonymous, 404 with path parameters or a tenant, 403 where permissions apply,
  409 on changes, 412/428 with ``If-Match``, 422 with any input, 429 on sign-in, 503 always.
- Every operation has a description and an example response built from its schema.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse

from roomwarden.kit.api import PROBLEM

DOCS_URL = "/api/v1/docs"
ASSETS_URL = "/api/v1/docs/assets"
EXAMPLE_ID = "01936f3e-8a4b-7c2d-9e10-0123456789ab"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str = ""
    type: str | None = None


class ValidationProblem(Problem):
    """Invalid input: problem details with one entry per refused field."""

    errors: list[FieldError] = []


RESPONSES: dict[str, tuple[str, str, str]] = {
    # status: (component name, description, schema)
    "401": ("Unauthenticated", "Not authenticated: no, an expired or a foreign token", "Problem"),
    "403": ("Forbidden", "Visible but not permitted", "Problem"),
    "404": ("NotFound", "Not visible to the caller, or absent (the same answer)", "Problem"),
    "409": ("Conflict", "State conflict (a rule or a concurrent change)", "Problem"),
    "412": ("PreconditionFailed", "If-Match does not match the current ETag: re-read and retry", "Problem"),
    "422": (
        "InvalidInput",
        "Invalid input, incl. unknown body fields and query parameters",
        "ValidationProblem",
    ),
    "428": ("PreconditionRequired", "Reserved: conditional requests are recommended (If-Match)", "Problem"),
    "429": ("TooManyRequests", "Throttled; see Retry-After", "Problem"),
    "503": ("Unavailable", "The database is busy or unreachable; retry", "Problem"),
}

CSV_EXAMPLE = (
    "activity.category,activity.objectName,activity.operation,activity.resultStatus,"
    "activity.tenantId,creationTime,user.userId,user.userTenantId\n"
)
ANONYMOUS = {"/api/v1/auth/token"}
STATE_CHANGING = {"post", "put", "patch", "delete"}


def _errors_for(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    params = operation.get("parameters", [])
    codes = {"401", "503"}  # anonymous sign-in answers 401 to wrong credentials
    if "{" in path:
        codes.add("404")
    if path.startswith("/api/v1/tenants/") or path.startswith("/api/v1/partner/"):
        codes.update({"403", "404"})
    if method in STATE_CHANGING and path not in ANONYMOUS:
        codes.add("409")
    if params or "requestBody" in operation or path.startswith("/api/"):
        codes.add("422")  # unknown query parameters are refused everywhere
    if any(p.get("name") == "If-Match" for p in params):
        codes.update({"412", "428"})
    if path in ANONYMOUS:
        codes.add("429")
    return sorted(codes)


def _example(schema: dict[str, Any], components: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    if depth > 6:
        return None
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[1]
        return _example(components.get(ref, {}), components, name, depth + 1)
    for key in ("examples",):
        if schema.get(key):
            return schema[key][0]
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _example(options[0], components, name, depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: _example(v, components, k, depth + 1) for k, v in props.items()}
    if kind == "array":
        return [_example(schema.get("items", {}), components, name, depth + 1)]
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string_example(schema, name)


def _string_example(schema: dict[str, Any], name: str) -> str:
    fmt = schema.get("format", "")
    if fmt == "uuid" or name == "id" or name.endswith("_id"):
        return EXAMPLE_ID
    if fmt == "date-time" or name.endswith("_at") or name.endswith("time"):
        return "2026-11-30T09:30:00Z"
    if fmt == "date":
        return "2026-11-30"
    if fmt == "email" or name in ("upn", "notification_email") or name.endswith("email"):
        return "alice@contoso.example"
    if "domain" in name:
        return "contoso.example"
    if name == "country":
        return "US"
    if "url" in name:
        return "https://rooms.contoso.example/"
    return {"name": "Aurora", "display_name": "Alice Example", "title": "Display is blank"}.get(
        name, "string"
    )


def _describe(path: str, method: str, operation: dict[str, Any]) -> str:
    summary = operation.get("summary") or operation["operationId"].replace("_", " ").capitalize()
    if path in ANONYMOUS:
        who = "Anonymous."
    elif path.startswith("/api/v1/operator"):
        who = "Operator only: `Authorization: Bearer <ROOMWARDEN_OPERATOR_TOKEN>`."
    elif path.startswith("/api/v1/tenants/"):
        who = (
            "A user of the tenant or a partner user acting in it, with the permissions this needs; "
            "objects outside the caller's scope answer 404 as if absent."
        )
    else:
        who = "Any signed-in user (bearer access token)."
    return f"{summary}. {who}"


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    document["openapi"] = "3.1.0"
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (Problem, FieldError, ValidationProblem):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schema.pop("$defs", None)
        schemas[model.__name__] = schema
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    shared = components.setdefault("responses", {})
    for status, (name, description, schema_name) in RESPONSES.items():
        body = {"type": "about:blank", "title": name, "status": int(status), "detail": description}
        shared[name] = {
            "description": description,
            "content": {
                PROBLEM: {"schema": {"$ref": f"#/components/schemas/{schema_name}"}, "example": body}
            },
        }
    seen: set[str] = set()
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            op_id = operation.get("operationId", "")
            if op_id in seen:
                raise RuntimeError(f"duplicate operationId {op_id}")
            seen.add(op_id)
            responses = operation.setdefault("responses", {})
            # A route may declare a problem status the rules below cannot derive (a UPN in
            # the body that names no user, a throttled account): kept, as the shared form.
            declared = {status for status in responses if status in RESPONSES}
            for status in list(responses):
                if status in RESPONSES or status == "default":
                    del responses[status]
            for status in sorted(declared.union(_errors_for(path, method, operation))):
                responses[status] = {"$ref": f"#/components/responses/{RESPONSES[status][0]}"}
            operation.setdefault("description", _describe(path, method, operation))
            for response in responses.values():
                for media_type, media in response.get("content", {}).items():
                    if "example" in media:
                        continue
                    if "schema" in media:
                        media["example"] = _example(media["schema"], schemas)
                    elif media_type.startswith("text/csv"):
                        media["example"] = CSV_EXAMPLE
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                if "schema" in media and "example" not in media:
                    media["example"] = _example(media["schema"], schemas)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the document and Swagger UI from the package's own assets."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS_URL, StaticFiles(directory=str(assets)), name="api-docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            oauth2_redirect_url=f"{root}{DOCS_URL}/oauth2-redirect",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": False, "displayOperationId": True},
        )
        # The page's own bootstrap script is inline; everything else comes from here.
        page.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        return page

    @app.get(f"{DOCS_URL}/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
