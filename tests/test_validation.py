"""Bad input is refused with 422 problem+json and changes nothing in the database."""

from __future__ import annotations

import re
import typing
import uuid
from typing import Annotated, Any

import pytest
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import text

from roomwarden.kit.db import Database
from tests.factories import TenantH, World, owner_engine

TABLES = (
    "users",
    "security_groups",
    "rooms",
    "room_groups",
    "room_group_members",
    "update_rings",
    "tickets",
    "ticket_updates",
    "roles",
    "role_assignments",
    "scopes",
)
LONG = "x" * 5000


def snapshot(db: Database, tenant_id: str) -> dict[str, Any]:
    tid = uuid.UUID(tenant_id)
    with owner_engine(db).connect() as conn:

        def q(sql: str) -> Any:
            return conn.execute(text(sql), {"t": tid.hex if db.is_sqlite else tid}).all()

        state = {t: q(f"SELECT count(*) FROM {t} WHERE tenant_id = :t") for t in TABLES}
        state["rooms_content"] = q(
            "SELECT id, name, country, city, update_ring_id, health_state FROM rooms "
            "WHERE tenant_id = :t ORDER BY id"
        )
        state["settings"] = q(
            "SELECT notification_email, enable_all_tickets_view, require_mfa_for_partners "
            "FROM tenant_settings WHERE tenant_id = :t"
        )
        state["audit_ok"] = q(
            "SELECT count(*) FROM audit_records WHERE tenant_id = :t AND result_status = 'Successful'"
        )
    return state


@pytest.fixture
def target(world: World) -> dict[str, Any]:
    t = world.tenant()
    room = world.room(t)
    group = world.room_group(t, [room["id"]])
    ticket = world.incident(t, room["id"])
    user = world.user(t)
    sg = world.security_group(t, [user])
    role = world.role(t, ["rooms.view"])
    assignment = world.assign(t, role, users=[user])
    rings = world.client.get(f"/api/v1/tenants/{t.id}/update-rings", headers=t.admin.headers).json()["items"]
    return {
        "t": t,
        "room": room["id"],
        "group": group["id"],
        "ticket": ticket["id"],
        "user": user.id,
        "sg": sg,
        "role": role,
        "assignment": assignment["id"],
        "ring": rings[0]["id"],
    }


def endpoints(x: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Each endpoint with a body, and a valid body to corrupt."""
    t: TenantH = x["t"]
    return {
        "create user": (
            "POST",
            "/users",
            {"upn": f"n@{t.domain}", "display_name": "N", "password": "long enough to pass"},
        ),
        "update user": ("PATCH", f"/users/{x['user']}", {"display_name": "N"}),
        "create security group": ("POST", "/security-groups", {"name": "SG", "member_ids": [x["user"]]}),
        "update security group": ("PATCH", f"/security-groups/{x['sg']}", {"name": "SG2"}),
        "create room": (
            "POST",
            "/rooms",
            {"name": "R", "resource_account": f"r@{t.domain}", "country": "US"},
        ),
        "update room": ("PATCH", f"/rooms/{x['room']}", {"name": "R2", "country": "DE"}),
        "create room group": ("POST", "/room-groups", {"name": "G", "room_ids": [x["room"]]}),
        "update room group": ("PATCH", f"/room-groups/{x['group']}", {"name": "G2", "room_ids": []}),
        "create ring": ("POST", "/update-rings", {"name": "Pilot", "deferral_days": 3}),
        "update ring": ("PATCH", f"/update-rings/{x['ring']}", {"deferral_days": 3}),
        "create incident": (
            "POST",
            "/incidents",
            {"room_id": x["room"], "title": "T", "severity": "warning"},
        ),
        "update ticket": ("PATCH", f"/tickets/{x['ticket']}", {"status": "in_progress", "comment": "c"}),
        "update settings": ("PATCH", "/settings", {"enable_all_tickets_view": True}),
        "create role": ("POST", "/roles", {"name": "Role X", "permissions": ["rooms.view"]}),
        "update role": ("PATCH", f"/roles/{x['role']}", {"permissions": ["rooms.modify"]}),
        "create assignment": (
            "POST",
            f"/roles/{x['role']}/assignments",
            {"name": "A", "members": [{"type": "user", "id": x["user"]}], "scope": {"all": True}},
        ),
        "update assignment": ("PATCH", f"/assignments/{x['assignment']}", {"name": "A2"}),
    }


def corruptions(body: dict[str, Any]) -> list[tuple[str, Any]]:
    first = next(iter(body))
    value = body[first]
    wrong_type = 12345 if isinstance(value, str) else "not-the-right-type"
    return [
        ("unknown field", {**body, "surprise": 1}),
        ("wrong type", {**body, first: wrong_type}),
        ("null", {**body, first: None}),
        ("oversize string", {**body, first: LONG} if isinstance(value, str) else {**body, "surprise": LONG}),
        ("not an object", [body]),
        (
            "bad id in body",
            {**body, first: "not-a-uuid"}
            if first.endswith(("_id", "_ids", "members"))
            else {**body, "room_id": "not-a-uuid"},
        ),
    ]


NAMES = list(
    endpoints(
        {
            "t": TenantH("", "", "d", None),
            **dict.fromkeys(  # type: ignore[arg-type]
                ("room", "group", "ticket", "user", "sg", "role", "assignment", "ring"), ""
            ),
        }
    )
)


@pytest.mark.parametrize("name", NAMES)
def test_corrupted_bodies_are_422_and_change_nothing(world: World, target: dict[str, Any], name: str) -> None:
    t = target["t"]
    method, path, body = endpoints(target)[name]
    before = snapshot(world.db, t.id)
    assert before["rooms"] == [(1,)] and before["audit_ok"][0][0] > 5  # the snapshot sees the tenant
    for label, bad in corruptions(body):
        response = world.client.request(
            method, f"/api/v1/tenants/{t.id}{path}", json=bad, headers=t.admin.headers
        )
        assert response.status_code == 422, f"{name} / {label}: {response.status_code} {response.text}"
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert {"type", "title", "status", "detail"} <= problem.keys() and problem["status"] == 422
    empty = world.client.request(
        method,
        f"/api/v1/tenants/{t.id}{path}",
        content=b"{not json",
        headers={**t.admin.headers, "content-type": "application/json"},
    )
    assert empty.status_code == 422
    assert snapshot(world.db, t.id) == before


@pytest.mark.parametrize(
    "path",
    [
        "/rooms/not-a-uuid",
        "/tickets/123",
        "/room-groups/%20",
        "/users/x",
        "/roles/zz/assignments",
        "/update-rings/1",
    ],
)
def test_malformed_ids_in_paths_are_422(world: World, path: str) -> None:
    t = world.tenant()
    response = world.client.get(f"/api/v1/tenants/{t.id}{path}", headers=t.admin.headers)
    assert response.status_code == 422
    assert world.client.get(f"/api/v1/tenants/not-a-tenant{path}", headers=t.admin.headers).status_code == 422


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=x",
        "cursor=%%%",
        "country=XX",
        "country=USA",
        "health_state=great",
        "group_id=nope",
    ],
)
def test_bad_list_parameters_are_422(world: World, query: str) -> None:
    t = world.tenant()
    assert (
        world.client.get(f"/api/v1/tenants/{t.id}/rooms?{query}", headers=t.admin.headers).status_code == 422
    )


@given(
    junk=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_junk_room_bodies_never_create_a_room(world: World, target: dict[str, Any], junk: Any) -> None:
    t = target["t"]
    before = snapshot(world.db, t.id)
    response = world.client.post(f"/api/v1/tenants/{t.id}/rooms", json=junk, headers=t.admin.headers)
    assert response.status_code == 422
    assert snapshot(world.db, t.id) == before


PATH_IDS = {
    "update user": ("PATCH", "/users/{bad}", {"display_name": "N"}),
    "delete user": ("DELETE", "/users/{bad}", None),
    "update security group": ("PATCH", "/security-groups/{bad}", {"name": "N"}),
    "delete security group": ("DELETE", "/security-groups/{bad}", None),
    "update room": ("PATCH", "/rooms/{bad}", {"name": "N"}),
    "unenroll": ("POST", "/rooms/{bad}/unenroll", None),
    "reset key": ("POST", "/rooms/{bad}/reset-key", None),
    "update room group": ("PATCH", "/room-groups/{bad}", {"name": "N"}),
    "delete room group": ("DELETE", "/room-groups/{bad}", None),
    "update ring": ("PATCH", "/update-rings/{bad}", {"deferral_days": 1}),
    "update ticket": ("PATCH", "/tickets/{bad}", {"comment": "c"}),
    "update role": ("PATCH", "/roles/{bad}", {"name": "N"}),
    "delete role": ("DELETE", "/roles/{bad}", None),
    "create assignment": (
        "POST",
        "/roles/{bad}/assignments",
        {"name": "A", "members": [], "scope": {"all": True}},
    ),
    "update assignment": ("PATCH", "/assignments/{bad}", {"name": "N"}),
    "delete assignment": ("DELETE", "/assignments/{bad}", None),
}


@pytest.mark.parametrize("name", list(PATH_IDS))
def test_malformed_ids_in_change_paths_are_422_and_change_nothing(
    world: World, target: dict[str, Any], name: str
) -> None:
    t = target["t"]
    method, path, body = PATH_IDS[name]
    before = snapshot(world.db, t.id)
    for bad in ("not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "%20"):
        response = world.client.request(
            method, f"/api/v1/tenants/{t.id}{path.format(bad=bad)}", json=body, headers=t.admin.headers
        )
        assert response.status_code == 422, (name, bad, response.text)
        problem = response.json()
        assert {"type", "title", "status", "detail"} <= problem.keys() and problem["status"] == 422
    assert snapshot(world.db, t.id) == before


@pytest.mark.parametrize("name", NAMES)
def test_a_missing_or_empty_body_is_422_and_changes_nothing(
    world: World, target: dict[str, Any], name: str
) -> None:
    t = target["t"]
    method, path, _ = endpoints(target)[name]
    before = snapshot(world.db, t.id)
    url = f"/api/v1/tenants/{t.id}{path}"
    headers = {**t.admin.headers, "content-type": "application/json"}
    bodies: list[dict[str, Any]] = [{"content": b""}, {"content": b"null"}]
    if method == "POST":
        bodies.append({"content": b"{}"})  # for PATCH an empty object is a valid, empty change
    for kwargs in bodies:
        response = world.client.request(method, url, headers=headers, **kwargs)
        assert response.status_code == 422, (name, kwargs, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert snapshot(world.db, t.id) == before


def _global_counts(db: Database) -> tuple[int, ...]:
    with owner_engine(db).connect() as conn:
        return tuple(
            conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("tenants", "tenant_domains", "users", "audit_records")
        )


def _operator_bodies(tag: str) -> list[tuple[str, Any]]:
    domain = f"new-{tag}.example.com"
    good = {
        "name": "New tenant",
        "domains": [domain],
        "admin": {"upn": f"admin@{domain}", "display_name": "Admin", "password": "long enough to pass"},
    }
    admin = good["admin"]
    return [
        ("unknown field", {**good, "plan": "gold"}),
        ("unknown admin field", {**good, "admin": {**admin, "role": "root"}}),
        ("no domains", {**good, "domains": []}),
        ("too many domains", {**good, "domains": [f"d{i}-{domain}" for i in range(21)]}),
        ("bad domain", {**good, "domains": ["not a domain"]}),
        ("admin outside the domains", {**good, "admin": {**admin, "upn": "admin@elsewhere.example.com"}}),
        ("bad upn", {**good, "admin": {**admin, "upn": "admin"}}),
        ("short password", {**good, "admin": {**admin, "password": "short"}}),
        ("oversize name", {**good, "name": LONG}),
        ("blank name", {**good, "name": "   "}),
        ("null name", {**good, "name": None}),
        ("wrong type", {**good, "domains": domain}),
        ("missing admin", {k: v for k, v in good.items() if k != "admin"}),
        ("empty", {}),
        ("not an object", [good]),
    ]


def test_operator_tenant_creation_validates_and_changes_nothing(world: World) -> None:
    before = _global_counts(world.db)
    for label, body in _operator_bodies(world.tag):
        response = world.client.post("/api/v1/operator/tenants", json=body, headers=world.operator)
        assert response.status_code == 422, (label, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert _global_counts(world.db) == before
    taken = world.tenant()
    body = {
        "name": "Copy",
        "domains": [taken.domain.upper()],
        "admin": {"upn": f"a@{taken.domain}", "display_name": "A", "password": "long enough to pass"},
    }
    assert world.client.post("/api/v1/operator/tenants", json=body, headers=world.operator).status_code == 409
    assert world.client.post("/api/v1/operator/tenants", json=body).status_code == 401
    assert _global_counts(world.db)[:3] == tuple(n + d for n, d in zip(before[:3], (1, 1, 1), strict=True))


_JUNK_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
# Not an object, or an object with at least one field no endpoint knows: never a valid body.
_JUNK_BODIES = st.one_of(
    _JUNK_VALUES.filter(lambda v: not isinstance(v, dict)),
    st.dictionaries(st.text(max_size=8).map(lambda k: "zz_" + k), _JUNK_VALUES, min_size=1, max_size=3),
    st.builds(
        lambda extra, key: {**extra, "zz_" + key: 1},
        st.dictionaries(
            st.sampled_from(["name", "room_ids", "status", "permissions", "scope"]), _JUNK_VALUES
        ),
        st.text(max_size=5),
    ),
)


@given(name=st.sampled_from(NAMES), junk=_JUNK_BODIES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_junk_bodies_on_any_endpoint_are_422_and_change_nothing(
    world: World, target: dict[str, Any], name: str, junk: Any
) -> None:
    t = target["t"]
    method, path, _ = endpoints(target)[name]
    before = snapshot(world.db, t.id)
    response = world.client.request(
        method, f"/api/v1/tenants/{t.id}{path}", json=junk, headers=t.admin.headers
    )
    assert response.status_code == 422, (name, junk, response.text)
    assert response.json()["status"] == 422
    assert snapshot(world.db, t.id) == before


# -- names are one line (issue 9, L4) ----------------------------------------------------------

ONE_LINE_BAD = ["a\r\nb", "a\nb", "a\rb", "a\x07b", "a\x1bb", "a\x7fb", "a\u2028b", "a\u2029b"]
#: field names that are names, wherever they appear: a new one must be a ``Name``/``ShortName``
NAME_LIKE = re.compile(r"(^|_)(name|title)$")


def _request_models(app: Any) -> set[type[BaseModel]]:
    """Every Pydantic model a request body of the API can carry, nested ones included."""
    found: set[type[BaseModel]] = set()

    def walk(tp: Any) -> None:
        if typing.get_origin(tp) is not None:
            for arg in typing.get_args(tp):
                walk(arg)
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in found:
            found.add(tp)
            for f in tp.model_fields.values():
                walk(f.annotation)

    def bodies(dependant: Any) -> list[Any]:
        return [*dependant.body_params, *(b for d in dependant.dependencies for b in bodies(d))]

    for ctx in iter_route_contexts(app.routes):
        if (ctx.path or "").startswith("/api/") and getattr(ctx, "dependant", None) is not None:
            for body in bodies(ctx.dependant):
                walk(body.field_info.annotation)
    return found


def _one_line_fields(app: Any) -> list[tuple[type[BaseModel], str]]:
    """Fields typed ``Name``/``ShortName`` (their one-line validator), and any string field
    named like a name."""
    fields = []
    for model in sorted(_request_models(app), key=lambda m: (m.__module__, m.__name__)):
        for name, f in model.model_fields.items():
            typed = any(getattr(getattr(m, "func", None), "__name__", "") == "_one_line" for m in f.metadata)
            if typed or (NAME_LIKE.search(name) and "str" in str(f.annotation)):
                fields.append((model, name))
    return fields


def test_every_name_field_of_every_request_refuses_control_characters(app: Any) -> None:
    """Generated from the API's request models: each name field refuses CR/LF, other control
    characters and Unicode line separators (a name ends up in mail headers, CSV cells and log
    lines), with the reason, whatever else the body holds."""
    fields = _one_line_fields(app)
    found = {f"{m.__name__}.{n}" for m, n in fields}
    assert {
        "TenantCreate.name",
        "AdminCreate.display_name",
        "RoomCreate.name",
        "IncidentCreate.title",
    } <= found
    assert len(fields) >= 15, sorted(found)
    missed = []
    for model, name in fields:
        for bad in ONE_LINE_BAD:
            try:
                model.model_validate({name: bad})
            except ValidationError as exc:
                errors = [e for e in exc.errors() if e["loc"] == (name,)]
                if errors and "one line" in errors[0]["msg"]:
                    continue
            missed.append(f"{model.__name__}.{name} accepts {bad!r}")
        try:
            model.model_validate({name: "One line"})
        except ValidationError as exc:
            assert not [e for e in exc.errors() if e["loc"] == (name,)], (model.__name__, name, exc)
    assert not missed, missed


def test_every_text_field_of_every_request_refuses_control_characters(app: Any) -> None:
    """Generated like the test above, over every string field of every request body: a name
    is one line, free text (a description, a comment, a reason) may hold line breaks and tabs,
    and nothing holds other control characters (they end up in mail, CSV cells and logs).
    Passwords are the only exception: they are never shown anywhere."""
    missed = []
    checked = 0
    for model in sorted(_request_models(app), key=lambda m: (m.__module__, m.__name__)):
        for name, f in model.model_fields.items():
            if "str" not in str(f.annotation) or "password" in name:
                continue
            checked += 1
            field = TypeAdapter(Annotated[f.annotation, *f.metadata] if f.metadata else f.annotation)
            try:
                field.validate_python("bell\x07ringing")
            except ValidationError:
                continue
            missed.append(f"{model.__name__}.{name}")
    assert checked >= 40
    assert not missed, missed
