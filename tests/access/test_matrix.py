"""The access matrix: every endpoint x every principal x {in scope, out of scope, another
tenant}, asserting the exact status code.

The expected code is not asked of the implementation: ``Who`` states each principal's
permissions (from the built-in role table) and scope, and each ``Case`` states the SPEC §2-3
rule of its endpoint in terms of ``Who.may`` (permission on a room in or out of scope) and
``Who.tenant_wide`` (permission over all rooms)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from roomwarden.access.permissions import BUILTIN_ROLES, MSA, SITE_LEAD, SITE_TECH, Permission
from tests.factories import PASSWORD, TenantH, UserH, World, expect

P = Permission
IN, OUT, OTHER = "in", "out", "other"
TARGETS = (IN, OUT, OTHER)
CUSTOM = frozenset(
    {P.ROOMS_VIEW, P.TICKETS_VIEW, P.TICKETS_UPDATE, P.GROUPS_VIEW, P.REPORTS_VIEW, P.RINGS_VIEW}
)


@dataclass(frozen=True)
class Who:
    """A principal as the SPEC sees it: permissions, and whether its scope is all rooms (else
    the rooms of the "in" group). ``None`` permissions: anonymous."""

    name: str
    perms: frozenset[Permission] | None
    all_rooms: bool = False
    global_admin: bool = False

    def may(self, perm: Permission, target: str) -> bool:
        return self.perms is not None and perm in self.perms and (self.all_rooms or target == IN)

    def tenant_wide(self, perm: Permission) -> bool:
        return self.perms is not None and perm in self.perms and self.all_rooms

    def any(self, perm: Permission) -> bool:
        return self.perms is not None and perm in self.perms


WHO = [
    Who("global_admin", frozenset(Permission), all_rooms=True, global_admin=True),
    Who("msa", BUILTIN_ROLES[MSA][1], all_rooms=True),
    Who("site_lead", BUILTIN_ROLES[SITE_LEAD][1]),
    Who("site_tech", BUILTIN_ROLES[SITE_TECH][1]),
    Who("custom", CUSTOM),
    Who("no_role", frozenset()),
    Who("anonymous", None),
]


def view_then(view: bool, act: bool, ok: int) -> int:
    """A single object: invisible → 404, visible but not permitted → 403."""
    return ok if view and act else (403 if view else 404)


def tenant_level(who: Who, perm: Permission, ok: int) -> int:
    return ok if who.tenant_wide(perm) else 403


def group_visible(who: Who, target: str) -> bool:
    return who.any(P.GROUPS_VIEW) and (who.all_rooms or target == IN)


# -- the world -------------------------------------------------------------------------------


@dataclass
class Matrix:
    world: World
    tenant: TenantH
    other: TenantH
    users: dict[str, UserH]
    rooms: dict[str, str]
    groups: dict[str, str]
    tickets: dict[str, str]
    ring: dict[str, str]
    role_ids: dict[str, str]

    def tenant_for(self, target: str) -> TenantH:
        return self.other if target == OTHER else self.tenant

    def fresh_room(self, target: str) -> str:
        t = self.tenant_for(target)
        return self.world.room(t, room_group_ids=[self.groups[target]])["id"]

    def fresh_group(self, target: str) -> str:
        return self.world.room_group(self.tenant_for(target), [self.rooms[target]])["id"]


@pytest.fixture(scope="module")
def matrix(client, db, settings) -> Matrix:  # type: ignore[no-untyped-def]
    w = World(client=client, db=db, settings=settings, tag=uuid.uuid4().hex[:10])
    t, other = w.tenant(), w.tenant()
    rooms, groups, tickets = {}, {}, {}
    g_in = w.room_group(t, [], name="In scope")["id"]
    g_out = w.room_group(t, [], name="Out of scope")["id"]
    g_other = w.room_group(other, [], name="Other tenant")["id"]
    groups.update({IN: g_in, OUT: g_out, OTHER: g_other})
    rooms[IN] = w.room(t, room_group_ids=[g_in])["id"]
    rooms[OUT] = w.room(t, country="DE", room_group_ids=[g_out])["id"]
    rooms[OTHER] = w.room(other, room_group_ids=[g_other])["id"]
    for key, tenant in ((IN, t), (OUT, t), (OTHER, other)):
        tickets[key] = w.incident(tenant, rooms[key])["id"]
    rings = {}
    for key, tenant in ((IN, t), (OTHER, other)):
        items = expect(
            client.get(f"/api/v1/tenants/{tenant.id}/update-rings", headers=tenant.admin.headers), 200
        )
        rings[key] = next(r["id"] for r in items["items"] if r["name"] == "General")
    rings[OUT] = rings[IN]
    custom_role = w.role(t, sorted(p.value for p in CUSTOM), name="Custom matrix role")
    scoped = {"room_groups": [g_in]}
    users = {"global_admin": w.user(t, ga=True), "no_role": w.user(t)}
    for who, role_id, scope in (
        ("msa", t.roles[MSA], {"all": True}),
        ("site_lead", t.roles[SITE_LEAD], scoped),
        ("site_tech", t.roles[SITE_TECH], scoped),
        ("custom", custom_role, {"rooms": [rooms[IN]], "room_groups": [g_in]}),
    ):
        users[who] = w.user(t)
        w.assign(t, role_id, users=[users[who]], scope=scope)
    users["anonymous"] = UserH(id="", upn="", tenant_id=t.id, headers={})
    role_ids = {IN: custom_role, OUT: custom_role, OTHER: other.roles[SITE_TECH]}
    return Matrix(w, t, other, users, rooms, groups, tickets, rings, role_ids)


# -- the cases -------------------------------------------------------------------------------

Request = tuple[str, str, Any]  # method, path below /api/v1/tenants/{t}, json body


@dataclass(frozen=True)
class Case:
    name: str
    request: Callable[[Matrix, str], Request]
    expected: Callable[[Who, str], int]


def _n() -> str:
    return uuid.uuid4().hex[:8]


CASES = [
    # rooms
    Case(
        "GET room",
        lambda m, t: ("GET", f"/rooms/{m.rooms[t]}", None),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), True, 200),
    ),
    Case(
        "PATCH room name",
        lambda m, t: ("PATCH", f"/rooms/{m.rooms[t]}", {"name": f"Room {_n()}"}),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_MODIFY, t), 200),
    ),
    Case(
        "PATCH room ring",
        lambda m, t: ("PATCH", f"/rooms/{m.rooms[t]}", {"update_ring_id": m.ring[t]}),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.RINGS_MODIFY, t), 200),
    ),
    Case(
        "POST room unenroll",
        lambda m, t: ("POST", f"/rooms/{m.fresh_room(t)}/unenroll", None),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_UNENROLL, t), 200),
    ),
    Case(
        "POST room reset-key",
        lambda m, t: ("POST", f"/rooms/{m.rooms[t]}/reset-key", None),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_RESET_KEY, t), 200),
    ),
    Case(
        "GET room enrollment-key",
        lambda m, t: ("GET", f"/rooms/{m.rooms[t]}/enrollment-key", None),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_DOWNLOAD_KEY, t), 200),
    ),
    Case(
        "POST room outside groups",
        lambda m, t: (
            "POST",
            "/rooms",
            {"name": "New", "resource_account": f"n{_n()}@{m.tenant_for(t).domain}", "country": "US"},
        ),
        lambda w, t: tenant_level(w, P.ROOMS_CREATE, 201),
    ),
    Case(
        "POST room into group",
        lambda m, t: (
            "POST",
            "/rooms",
            {
                "name": "New",
                "resource_account": f"n{_n()}@{m.tenant_for(t).domain}",
                "country": "KR",
                "room_group_ids": [m.groups[t]],
            },
        ),
        lambda w, t: 201 if w.may(P.ROOMS_CREATE, t) else 403,
    ),
    # tickets
    Case(
        "POST incident",
        lambda m, t: ("POST", "/incidents", {"room_id": m.rooms[t], "title": "x", "severity": "warning"}),
        lambda w, t: view_then(
            w.may(P.ROOMS_VIEW, t) or w.may(P.INCIDENTS_CREATE, t), w.may(P.INCIDENTS_CREATE, t), 201
        ),
    ),
    Case(
        "GET ticket",
        lambda m, t: ("GET", f"/tickets/{m.tickets[t]}", None),
        lambda w, t: view_then(w.may(P.TICKETS_VIEW, t), True, 200),
    ),
    Case(
        "PATCH ticket",
        lambda m, t: ("PATCH", f"/tickets/{m.tickets[t]}", {"comment": "seen"}),
        lambda w, t: view_then(w.may(P.TICKETS_VIEW, t), w.may(P.TICKETS_UPDATE, t), 200),
    ),
    # room groups
    Case(
        "GET room group",
        lambda m, t: ("GET", f"/room-groups/{m.groups[t]}", None),
        lambda w, t: view_then(group_visible(w, t), True, 200),
    ),
    Case(
        "PATCH room group",
        lambda m, t: ("PATCH", f"/room-groups/{m.groups[t]}", {"name": f"G {_n()}"}),
        lambda w, t: view_then(group_visible(w, t), w.may(P.GROUPS_MODIFY, t), 200),
    ),
    Case(
        "DELETE room group",
        lambda m, t: ("DELETE", f"/room-groups/{m.fresh_group(t)}", None),
        lambda w, t: view_then(group_visible(w, t), w.tenant_wide(P.GROUPS_MODIFY), 204),
    ),
    Case(
        "POST room group",
        lambda m, t: ("POST", "/room-groups", {"name": f"G {_n()}", "room_ids": []}),
        lambda w, t: tenant_level(w, P.GROUPS_CREATE, 201),
    ),
    # update rings
    Case(
        "GET ring",
        lambda m, t: ("GET", f"/update-rings/{m.ring[t]}", None),
        lambda w, t: 200 if w.any(P.RINGS_VIEW) else 404,
    ),
    Case(
        "PATCH ring",
        lambda m, t: ("PATCH", f"/update-rings/{m.ring[t]}", {"deferral_days": 7}),
        lambda w, t: view_then(w.any(P.RINGS_VIEW), w.tenant_wide(P.RINGS_MODIFY), 200),
    ),
    Case(
        "POST ring",
        lambda m, t: ("POST", "/update-rings", {"name": f"Ring {_n()}", "deferral_days": 3}),
        lambda w, t: tenant_level(w, P.RINGS_CREATE, 201),
    ),
    # reports, settings, roles, audit
    Case(
        "GET health report",
        lambda m, t: ("GET", "/reports/health", None),
        lambda w, t: 200 if w.any(P.REPORTS_VIEW) else 403,
    ),
    Case(
        "GET settings",
        lambda m, t: ("GET", "/settings", None),
        lambda w, t: tenant_level(w, P.SETTINGS_VIEW, 200),
    ),
    Case(
        "PATCH settings",
        lambda m, t: ("PATCH", "/settings", {"enable_all_tickets_view": False}),
        lambda w, t: 200 if w.tenant_wide(P.SETTINGS_VIEW) and w.tenant_wide(P.SETTINGS_MODIFY) else 403,
    ),
    Case("GET roles", lambda m, t: ("GET", "/roles", None), lambda w, t: tenant_level(w, P.ROLES_VIEW, 200)),
    Case(
        "POST role",
        lambda m, t: ("POST", "/roles", {"name": f"R {_n()}", "permissions": ["rooms.view"]}),
        lambda w, t: 201 if w.tenant_wide(P.ROLES_VIEW) and w.tenant_wide(P.ROLES_MODIFY) else 403,
    ),
    Case(
        "GET role",
        lambda m, t: ("GET", f"/roles/{m.role_ids[t]}", None),
        lambda w, t: tenant_level(w, P.ROLES_VIEW, 200),
    ),
    Case(
        "GET role assignments",
        lambda m, t: ("GET", f"/roles/{m.role_ids[t]}/assignments", None),
        lambda w, t: tenant_level(w, P.ROLES_VIEW, 200),
    ),
    Case(
        "GET audit log",
        lambda m, t: ("GET", "/audit-logs", None),
        lambda w, t: tenant_level(w, P.AUDIT_EXPORT, 200),
    ),
    Case(
        "GET audit export",
        lambda m, t: ("GET", "/audit-logs/export", None),
        lambda w, t: tenant_level(w, P.AUDIT_EXPORT, 200),
    ),
    Case(
        "GET audit verify",
        lambda m, t: ("GET", "/audit-logs/verify", None),
        lambda w, t: tenant_level(w, P.AUDIT_EXPORT, 200),
    ),
    # directory: Global admins only
    Case("GET users", lambda m, t: ("GET", "/users", None), lambda w, t: 200 if w.global_admin else 403),
    Case(
        "POST user",
        lambda m, t: (
            "POST",
            "/users",
            {"upn": f"u{_n()}@{m.tenant_for(t).domain}", "display_name": "U", "password": PASSWORD},
        ),
        lambda w, t: 201 if w.global_admin else 403,
    ),
    Case(
        "GET security groups",
        lambda m, t: ("GET", "/security-groups", None),
        lambda w, t: 200 if w.global_admin else 403,
    ),
    Case(
        "POST security group",
        lambda m, t: ("POST", "/security-groups", {"name": f"S {_n()}"}),
        lambda w, t: 201 if w.global_admin else 403,
    ),
    # lists are never refused to the tenant's own users: they are filtered
    *(
        Case(f"GET {coll} list", (lambda c: lambda m, t: ("GET", f"/{c}", None))(coll), lambda w, t: 200)
        for coll in ("rooms", "tickets", "room-groups", "update-rings")
    ),
]


def expected_status(who: Who, case: Case, target: str) -> int:
    if who.perms is None:
        return 401
    if target == OTHER:  # another tenant's path: the tenant itself is invisible
        return 404
    return case.expected(who, target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("who", WHO, ids=lambda w: w.name)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_access_matrix(matrix: Matrix, case: Case, who: Who, target: str) -> None:
    method, path, body = case.request(matrix, target)
    tenant = matrix.tenant_for(target)
    headers = matrix.users[who.name].headers
    response = matrix.world.client.request(
        method, f"/api/v1/tenants/{tenant.id}{path}", json=body, headers=headers
    )
    want = expected_status(who, case, target)
    assert response.status_code == want, f"{case.name} as {who.name} on {target}: {response.text}"
    if want in (401, 403, 404):
        assert response.headers["content-type"] == "application/problem+json"


def test_out_of_scope_object_answers_exactly_like_a_missing_one(matrix: Matrix) -> None:
    tech = matrix.users["site_tech"].headers
    base = f"/api/v1/tenants/{matrix.tenant.id}"
    hidden = matrix.world.client.get(f"{base}/rooms/{matrix.rooms[OUT]}", headers=tech)
    missing = matrix.world.client.get(f"{base}/rooms/{uuid.uuid4()}", headers=tech)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


@pytest.mark.parametrize("who", [w for w in WHO if w.perms is not None], ids=lambda w: w.name)
def test_lists_counts_and_reports_show_only_the_scope(matrix: Matrix, who: Who) -> None:
    client, base = matrix.world.client, f"/api/v1/tenants/{matrix.tenant.id}"
    headers = matrix.users[who.name].headers

    def ids(path: str) -> set[str]:
        return {
            item["id"]
            for item in expect(client.get(f"{base}{path}?limit=200", headers=headers), 200)["items"]
        }

    rooms = ids("/rooms")
    for target in (IN, OUT):
        assert (matrix.rooms[target] in rooms) == who.may(P.ROOMS_VIEW, target)
        assert (matrix.tickets[target] in ids("/tickets")) == who.may(P.TICKETS_VIEW, target)
        assert (matrix.groups[target] in ids("/room-groups")) == group_visible(who, target)
    assert matrix.rooms[OTHER] not in rooms
    filtered = {
        r["id"] for r in expect(client.get(f"{base}/rooms?country=DE", headers=headers), 200)["items"]
    }
    assert (matrix.rooms[OUT] in filtered) == who.may(P.ROOMS_VIEW, OUT)
    if who.any(P.REPORTS_VIEW):
        report = expect(client.get(f"{base}/reports/health", headers=headers), 200)
        visible = expect(client.get(f"{base}/rooms?limit=200", headers=matrix.tenant.admin.headers), 200)[
            "items"
        ]
        in_scope = [
            r
            for r in visible
            if who.all_rooms
            or r["id"] == matrix.rooms[IN]
            or matrix.groups[IN] in _groups_of(matrix, r["id"])
        ]
        assert report["total_rooms"] == len(in_scope)
    rings = expect(client.get(f"{base}/update-rings", headers=headers), 200)["items"]
    if who.any(P.RINGS_VIEW):
        general = next(r for r in rings if r["id"] == matrix.ring[IN])
        admin_rings = expect(client.get(f"{base}/update-rings", headers=matrix.tenant.admin.headers), 200)[
            "items"
        ]
        total = next(r for r in admin_rings if r["id"] == matrix.ring[IN])["room_count"]
        assert (general["room_count"] == total) == who.all_rooms
    else:
        assert rings == []


def _groups_of(matrix: Matrix, room_id: str) -> set[str]:
    base = f"/api/v1/tenants/{matrix.tenant.id}"
    headers = matrix.tenant.admin.headers
    out = set()
    for key in (IN, OUT):
        group = expect(
            matrix.world.client.get(f"{base}/room-groups/{matrix.groups[key]}", headers=headers), 200
        )
        if room_id in group["room_ids"]:
            out.add(matrix.groups[key])
    return out
