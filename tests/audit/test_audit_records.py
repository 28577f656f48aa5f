"""Every change writes exactly one Successful record with the SPEC §6 fields, in the same
transaction as the change; every refused change attempt writes one Failed record."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts

from roomwarden.kit.api import check_refusal_auditing, not_audited, undeclared_changing_routes
from tests.factories import PASSWORD, TenantH, UserH, World, expect


def audit(world: World, t: TenantH, **params: str) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        query = {"limit": "200", "order": "asc", **params, **({"cursor": cursor} if cursor else {})}
        page = expect(
            world.client.get(f"/api/v1/tenants/{t.id}/audit-logs", params=query, headers=t.admin.headers), 200
        )
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


class Target:
    """A tenant with one of everything, and the changes to make to it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.t = t = world.tenant()
        self.room = world.room(t)
        self.group = world.room_group(t, [self.room["id"]])
        self.ticket = world.incident(t, self.room["id"])
        self.user = world.user(t)
        self.sg = world.security_group(t, [self.user])
        self.role = world.role(t, ["rooms.view"])
        self.assignment = world.assign(t, self.role, users=[self.user])
        rings = world.client.get(f"/api/v1/tenants/{t.id}/update-rings", headers=t.admin.headers).json()
        self.rings = {r["name"]: r["id"] for r in rings["items"]}

    def call(self, method: str, path: str, body: Any = None, who: UserH | None = None) -> Any:
        headers = (who or self.t.admin).headers
        return self.world.client.request(
            method, f"/api/v1/tenants/{self.t.id}{path}", json=body, headers=headers
        )


# name -> (method, path, body, category, operation, object id attribute)
CHANGES: dict[str, Callable[[Target], tuple[str, str, Any, str, str, str | None]]] = {
    "create user": lambda x: (
        "POST",
        "/users",
        {"upn": f"new@{x.t.domain}", "display_name": "New", "password": PASSWORD},
        "User",
        "Create",
        None,
    ),
    "update user": lambda x: (
        "PATCH",
        f"/users/{x.user.id}",
        {"display_name": "B"},
        "User",
        "Update",
        x.user.id,
    ),
    "delete user": lambda x: ("DELETE", f"/users/{x.user.id}", None, "User", "Delete", x.user.id),
    "create security group": lambda x: (
        "POST",
        "/security-groups",
        {"name": "SG new"},
        "SecurityGroup",
        "Create",
        None,
    ),
    "update security group": lambda x: (
        "PATCH",
        f"/security-groups/{x.sg}",
        {"member_ids": []},
        "SecurityGroup",
        "Update",
        x.sg,
    ),
    "delete security group": lambda x: (
        "DELETE",
        f"/security-groups/{x.sg}",
        None,
        "SecurityGroup",
        "Delete",
        x.sg,
    ),
    "create room": lambda x: (
        "POST",
        "/rooms",
        {"name": "New room", "resource_account": f"new-room@{x.t.domain}", "country": "JP"},
        "Room",
        "Create",
        None,
    ),
    "update room": lambda x: (
        "PATCH",
        f"/rooms/{x.room['id']}",
        {"city": "Osaka"},
        "Room",
        "Update",
        x.room["id"],
    ),
    "move room": lambda x: (
        "PATCH",
        f"/rooms/{x.room['id']}",
        {"update_ring_id": x.rings["Validation"]},
        "UpdateRing",
        "Update",
        x.room["id"],
    ),
    "unenroll room": lambda x: (
        "POST",
        f"/rooms/{x.room['id']}/unenroll",
        None,
        "Room",
        "Update",
        x.room["id"],
    ),
    "reset key": lambda x: (
        "POST",
        f"/rooms/{x.room['id']}/reset-key",
        None,
        "EnrollmentKey",
        "Update",
        x.room["id"],
    ),
    "download key": lambda x: (
        "GET",
        f"/rooms/{x.room['id']}/enrollment-key",
        None,
        "EnrollmentKey",
        "Read",
        x.room["id"],
    ),
    "create room group": lambda x: ("POST", "/room-groups", {"name": "G new"}, "RoomGroup", "Create", None),
    "update room group": lambda x: (
        "PATCH",
        f"/room-groups/{x.group['id']}",
        {"room_ids": []},
        "RoomGroup",
        "Update",
        x.group["id"],
    ),
    "delete room group": lambda x: (
        "DELETE",
        f"/room-groups/{x.group['id']}",
        None,
        "RoomGroup",
        "Delete",
        x.group["id"],
    ),
    "create ring": lambda x: (
        "POST",
        "/update-rings",
        {"name": "Pilot", "deferral_days": 1},
        "UpdateRing",
        "Create",
        None,
    ),
    "update ring": lambda x: (
        "PATCH",
        f"/update-rings/{x.rings['General']}",
        {"deferral_days": 9},
        "UpdateRing",
        "Update",
        x.rings["General"],
    ),
    "create incident": lambda x: (
        "POST",
        "/incidents",
        {"room_id": x.room["id"], "title": "Broken", "severity": "warning"},
        "Ticket",
        "Create",
        None,
    ),
    "update ticket": lambda x: (
        "PATCH",
        f"/tickets/{x.ticket['id']}",
        {"status": "resolved"},
        "Ticket",
        "Update",
        x.ticket["id"],
    ),
    "update settings": lambda x: (
        "PATCH",
        "/settings",
        {"enable_all_tickets_view": True},
        "Settings",
        "Update",
        None,
    ),
    "create role": lambda x: (
        "POST",
        "/roles",
        {"name": "New role", "permissions": ["tickets.view"]},
        "Role",
        "Create",
        None,
    ),
    "update role": lambda x: ("PATCH", f"/roles/{x.role}", {"description": "d"}, "Role", "Update", x.role),
    "delete role": lambda x: ("DELETE", f"/roles/{x.role}", None, "Role", "Delete", x.role),
    "create assignment": lambda x: (
        "POST",
        f"/roles/{x.role}/assignments",
        {"name": "A new", "members": [{"type": "group", "id": x.sg}], "scope": {"rooms": [x.room["id"]]}},
        "Assignment",
        "Create",
        None,
    ),
    "update assignment": lambda x: (
        "PATCH",
        f"/assignments/{x.assignment['id']}",
        {"email_notifications": True},
        "Assignment",
        "Update",
        x.assignment["id"],
    ),
    "delete assignment": lambda x: (
        "DELETE",
        f"/assignments/{x.assignment['id']}",
        None,
        "Assignment",
        "Delete",
        x.assignment["id"],
    ),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_each_change_writes_exactly_one_successful_record(world: World, name: str) -> None:
    x = Target(world)
    method, path, body, category, operation, object_id = CHANGES[name](x)
    before = audit(world, x.t)
    started = datetime.now(UTC) - timedelta(seconds=1)
    response = x.call(method, path, body)
    assert response.status_code in (200, 201, 204), response.text
    new = audit(world, x.t)[len(before) :]
    assert len(new) == 1, new
    rec = new[0]
    assert (rec["category"], rec["operation"], rec["result_status"]) == (category, operation, "Successful")
    assert rec["tenant_id"] == x.t.id and rec["user_id"] == x.t.admin.id and rec["user_tenant_id"] == x.t.id
    assert started <= datetime.fromisoformat(rec["creation_time"]) <= datetime.now(UTC) + timedelta(seconds=1)
    assert rec["object_name"]
    expected_id = object_id or (response.json()["id"] if category != "Settings" else None)
    assert rec["object_id"] == expected_id
    assert rec["seq"] == before[-1]["seq"] + 1


def test_every_changing_route_declares_what_it_audits(app) -> None:  # type: ignore[no-untyped-def]
    """A refused attempt is recorded only for routes marked ``audited``; every other changing
    route says why it records none (``not_audited``). The walk must see the routes of
    included routers, which are nested under ``app.routes``: count them."""
    changing = [
        ctx
        for ctx in iter_route_contexts(app.routes)
        if (ctx.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
    ]
    assert len(changing) > 100
    assert any(ctx.path == "/api/v1/tenants/{tenant_id}/rooms" for ctx in changing)
    assert undeclared_changing_routes(app.routes) == []


def test_an_undeclared_changing_route_stops_the_service_from_starting() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/api/v1/tenants/{tenant_id}")

    @router.post("/gadgets")
    def create_gadget(tenant_id: uuid.UUID) -> dict[str, str]:
        return {}

    @router.get("/gadgets")
    def list_gadgets(tenant_id: uuid.UUID) -> list[str]:
        return []

    app.include_router(router)
    assert undeclared_changing_routes(app.routes) == ["POST /api/v1/tenants/{tenant_id}/gadgets"]
    with pytest.raises(RuntimeError, match=r"undeclared: POST /api/v1/tenants/\{tenant_id\}/gadgets"):
        check_refusal_auditing(app)

    not_audited("changes nothing")(create_gadget)
    check_refusal_auditing(app)
    with pytest.raises(ValueError):
        not_audited(" ")


def test_a_change_whose_record_cannot_be_written_does_not_happen(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = world.tenant()
    before = audit(world, t)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr("roomwarden.access.resolver.record", broken)
    body = {"name": "Ghost", "resource_account": f"ghost@{t.domain}", "country": "US"}
    with pytest.raises(RuntimeError, match="audit log is unavailable"):
        world.post(t, "/rooms", body)
    monkeypatch.undo()
    rooms = expect(world.client.get(f"/api/v1/tenants/{t.id}/rooms", headers=t.admin.headers), 200)["items"]
    assert rooms == []
    assert audit(world, t) == before


REFUSED: list[tuple[str, Callable[[Target, UserH, TenantH], Any], int]] = [
    (
        "403 no permission",
        lambda x, tech, o: x.call("POST", f"/rooms/{x.room['id']}/reset-key", who=tech),
        403,
    ),
    (
        "404 out of scope",
        lambda x, tech, o: x.call("PATCH", f"/rooms/{x.other_room['id']}", {"name": "x"}, who=tech),
        404,
    ),
    ("404 absent", lambda x, tech, o: x.call("DELETE", f"/room-groups/{uuid.uuid4()}"), 404),
    ("409 conflict", lambda x, tech, o: x.call("POST", f"/rooms/{x.other_room['id']}/unenroll"), 409),
    (
        "422 invalid body",
        lambda x, tech, o: x.call("PATCH", f"/rooms/{x.room['id']}", {"country": "XX"}),
        422,
    ),
    (
        "422 rule",
        lambda x, tech, o: x.call("POST", "/room-groups", {"name": "G", "room_ids": [str(uuid.uuid4())]}),
        422,
    ),
]


@pytest.mark.parametrize(("label", "attempt", "status"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_refused_attempt_writes_one_failed_record_and_no_successful_one(
    world: World, label: str, attempt: Callable[[Target, UserH, TenantH], Any], status: int
) -> None:
    x = Target(world)
    x.other_room = world.room(x.t)  # type: ignore[attr-defined]
    expect(x.call("POST", f"/rooms/{x.other_room['id']}/unenroll"), 200)  # type: ignore[attr-defined]
    tech = world.user(x.t)
    world.assign(x.t, x.t.roles["Site Tech"], users=[tech], scope={"rooms": [x.room["id"]]})
    other = world.tenant()
    before = audit(world, x.t)
    response = attempt(x, tech, other)
    assert response.status_code == status, (label, response.text)
    new = audit(world, x.t)[len(before) :]
    assert [r["result_status"] for r in new] == ["Failed"], (label, new)
    rec = new[0]
    actor = tech if "scope" in label or "permission" in label else x.t.admin
    assert (rec["user_id"], rec["user_tenant_id"], rec["tenant_id"]) == (actor.id, actor.tenant_id, x.t.id)
    assert rec["details"]["status"] == status and rec["details"]["method"] == response.request.method


def test_unauthenticated_attempts_write_nothing(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    before = audit(world, t)
    for headers in ({}, {"Authorization": "Bearer junk"}):
        response = world.client.patch(
            f"/api/v1/tenants/{t.id}/rooms/{room['id']}", json={"name": "x"}, headers=headers
        )
        assert response.status_code == 401
    assert audit(world, t) == before


def test_reads_write_nothing(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    before = audit(world, t)
    for path in (
        "/rooms",
        f"/rooms/{room['id']}",
        "/room-groups",
        "/update-rings",
        "/tickets",
        "/reports/health",
        "/settings",
        "/roles",
        "/users",
    ):
        expect(world.client.get(f"/api/v1/tenants/{t.id}{path}", headers=t.admin.headers), 200)
    assert audit(world, t) == before


def test_the_operator_is_the_actor_of_a_tenants_creation(world: World) -> None:
    t = world.tenant()
    first = audit(world, t)[:2]
    assert [(r["seq"], r["category"], r["operation"]) for r in first] == [
        (1, "Tenant", "Create"),
        (2, "User", "Create"),
    ]
    assert all(r["user_id"] == "operator" and r["user_tenant_id"] is None for r in first)
    assert first[1]["object_id"] == t.admin.id
