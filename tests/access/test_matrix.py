"""The access matrix: every customer endpoint x every principal x {in scope, out of scope,
another tenant, another tenant's object under this tenant's path}, asserting the exact status.

The expected code is never asked of the implementation. ``Who`` states each principal as data
(its permissions, taken from the built-in role table, and what its assignment's scope names),
and each ``Case`` states the SPEC §2-3 rule of its endpoint in terms of ``Who.may`` (a
permission on a room in or out of scope), ``Who.names_group`` (a group its scope names) and
``Who.tenant_wide`` (a permission over all rooms). Partner principals are added the same way
by ``tests/partners/test_partner_matrix.py``, which reuses ``CASES`` and the ``matrix`` world.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from roomwarden.access.permissions import BUILTIN_ROLES, MSA, SITE_LEAD, SITE_TECH, TENANT_LEVEL, Permission
from roomwarden.audit.models import AuditRecord
from roomwarden.kit.time import utcnow
from roomwarden.rooms.models import Room
from tests.factories import PASSWORD, TenantH, UserH, World, expect

P = Permission
IN, OUT, OTHER = "in", "out", "other"
#: Another tenant's object addressed under the caller's own tenant path.
FOREIGN = "foreign"
TARGETS = (IN, OUT, OTHER)


@dataclass(frozen=True)
class Who:
    """A principal as the SPEC sees it. ``perms`` ``None``: anonymous. A principal that is
    not ``all_rooms`` holds its role over the "in" room (``scope`` ``room``), the "in" room
    group (``group``) or both (``room+group``); ``via_group``: through a security group."""

    name: str
    perms: frozenset[Permission] | None
    all_rooms: bool = False
    global_admin: bool = False
    role: str | None = None  # a built-in role; None: a custom role made of ``perms``
    scope: str = "group"
    via_group: bool = False
    #: Held besides ``perms``, through a second assignment over the "in" room group only.
    scoped: frozenset[Permission] = frozenset()

    def any(self, perm: Permission) -> bool:
        return self.perms is not None and (perm in self.perms or perm in self.scoped)

    def may(self, perm: Permission, target: str) -> bool:
        """``perm`` on the target's room: only the tenant's own rooms can ever be in scope."""
        if target not in (IN, OUT) or self.perms is None:
            return False
        return (perm in self.perms and (self.all_rooms or target == IN)) or (
            perm in self.scoped and target == IN
        )

    def names_group(self, perm: Permission, target: str) -> bool:
        if self.tenant_wide(perm):
            return self.may(perm, target)
        return self.may(perm, target) and ("group" in self.scope or perm in self.scoped)

    def tenant_wide(self, perm: Permission) -> bool:
        return self.perms is not None and perm in self.perms and self.all_rooms

    def grants(self, perms: frozenset[Permission], scope: str, target: str) -> bool:
        """May hand out ``perms`` over a scope naming the target's room (``room``), its room
        group (``group``) or everything (``all``): every permission its own, over a scope
        inside its own for each (issue 9, M6)."""
        if scope == "all":
            return all(self.tenant_wide(p) for p in perms)
        if scope == "group":
            return all(self.names_group(p, target) for p in perms)
        return all(self.may(p, target) for p in perms)


CUSTOM = frozenset(
    {P.ROOMS_VIEW, P.TICKETS_VIEW, P.TICKETS_UPDATE, P.GROUPS_VIEW, P.REPORTS_VIEW, P.RINGS_VIEW}
)
#: Rights on rooms and groups without their view permissions: rooms and groups must stay
#: invisible, while tickets, rings and the report (whose own views it holds) follow the scope.
NO_ROOM_VIEW = frozenset(
    {
        P.ROOMS_MODIFY,
        P.ROOMS_DOWNLOAD_KEY,
        P.ROOMS_UNENROLL,
        P.ROOMS_RESET_KEY,
        P.INCIDENTS_CREATE,
        P.TICKETS_VIEW,
        P.TICKETS_UPDATE,
        P.GROUPS_MODIFY,
        P.RINGS_VIEW,
        P.RINGS_MODIFY,
        P.REPORTS_VIEW,
    }
)
#: Views of tenant-level surfaces over all rooms, no right to change anything, and no
#: tickets.view: the rooms are visible, their tickets are not.
READONLY = frozenset(
    {
        P.ROOMS_VIEW,
        P.GROUPS_VIEW,
        P.RINGS_VIEW,
        P.REPORTS_VIEW,
        P.SETTINGS_VIEW,
        P.ROLES_VIEW,
        P.AUDIT_EXPORT,
    }
)
ALL = frozenset(Permission)

WHO = [
    Who("global_admin", ALL, all_rooms=True, global_admin=True),
    Who("msa", BUILTIN_ROLES[MSA][1], all_rooms=True, role=MSA),
    Who("msa_scoped", BUILTIN_ROLES[MSA][1], role=MSA, scope="group"),
    Who("site_lead", BUILTIN_ROLES[SITE_LEAD][1], role=SITE_LEAD, scope="group"),
    Who("site_tech", BUILTIN_ROLES[SITE_TECH][1], role=SITE_TECH, scope="room"),
    Who("custom", CUSTOM, scope="room+group", via_group=True),
    Who("custom_no_room_view", NO_ROOM_VIEW, scope="group"),
    Who("custom_all_readonly", READONLY, all_rooms=True),
    # Manages roles tenant-wide but holds room rights over the "in" group only: it may hand
    # out only what it holds, where it holds it (M6).
    Who(
        "role_manager",
        frozenset({P.ROLES_VIEW, P.ROLES_MODIFY}),
        all_rooms=True,
        scoped=frozenset({P.ROOMS_VIEW, P.TICKETS_VIEW}),
    ),
    Who("no_role", frozenset()),
    Who("anonymous", None),
]


def view_then(view: bool, act: bool, ok: int) -> int:
    """A single object: invisible → 404, visible but not permitted → 403."""
    return ok if view and act else (403 if view else 404)


def tenant_level(who: Who, perm: Permission, ok: int) -> int:
    return ok if who.tenant_wide(perm) else 403


def _sees_activations(who: Who) -> bool:
    return who.global_admin or any(
        who.tenant_wide(p) for p in (P.PARTNERS_MANAGE, P.APPROVALS_REVIEW, P.ROLES_VIEW)
    )


def gated(allowed: bool, target: str, ok: int) -> int:
    """A tenant-level surface (roles, directory): refused (403) before any object is looked
    up; past the gate, another tenant's object is as absent as a missing one."""
    return 403 if not allowed else (404 if target == FOREIGN else ok)


def group_visible(who: Who, target: str) -> bool:
    """Every "in" group names or holds the "in" room, so any groups.view scope shows it."""
    return who.may(P.GROUPS_VIEW, target)


def roles_manager(who: Who) -> bool:
    return who.tenant_wide(P.ROLES_VIEW) and who.tenant_wide(P.ROLES_MODIFY)


#: The matrix's assignable role, and the rooms its assignments reach (the fixture gives it
#: one over each room, so a change to the role is bounded by both, whatever ran before).
ASSIGNABLE = frozenset({P.ROOMS_VIEW, P.TICKETS_VIEW})


def manages(
    who: Who, target: str, perms: frozenset[Permission], scope: str, ok: int, reach: str | None = None
) -> int:
    """Granting ``perms`` over the target's ``scope`` (or, for an existing assignment, over
    the room it ``reach``es): gated by roles.view, then roles.modify and the M6 rule."""
    allowed = roles_manager(who) and who.grants(perms, scope, reach or target)
    return gated(who.tenant_wide(P.ROLES_VIEW), target, ok if allowed else 403)


def reaches_both(who: Who) -> bool:
    return who.grants(ASSIGNABLE, "room", IN) and who.grants(ASSIGNABLE, "room", OUT)


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
    bystander: dict[str, str]  # a user that is no principal of the matrix
    security_group: dict[str, str]
    assignment: dict[str, str]

    def tenant_for(self, target: str) -> TenantH:
        """The tenant whose path the request uses."""
        return self.other if target == OTHER else self.tenant

    def owner(self, target: str) -> TenantH:
        """The tenant that owns the target's objects."""
        return self.other if target in (OTHER, FOREIGN) else self.tenant

    def fresh_room(self, target: str) -> str:
        return self.world.room(self.owner(target), room_group_ids=[self.groups[target]])["id"]

    def fresh_group(self, target: str) -> str:
        return self.world.room_group(self.owner(target), [self.rooms[target]])["id"]

    def fresh_user(self, target: str) -> str:
        return self.world.user(self.owner(target)).id

    def fresh_security_group(self, target: str) -> str:
        return self.world.security_group(self.owner(target), [])

    def fresh_role(self, target: str) -> str:
        return self.world.role(self.owner(target), ["rooms.view"])

    def fresh_assignment(self, target: str) -> str:
        return self.assign_bystander(target)["id"]

    def assign_bystander(self, target: str) -> dict[str, Any]:
        t = self.owner(target)
        by = UserH(id=self.bystander[target], upn="", tenant_id=t.id, headers={})
        return self.world.assign(t, self.role_ids[target], users=[by], scope={"rooms": [self.rooms[target]]})

    def fresh_ring(self, target: str) -> str:
        body = {"name": f"Ring {uuid.uuid4().hex[:8]}", "deferral_days": 1}
        return expect(self.world.post(self.owner(target), "/update-rings", body), 201)["id"]

    def unenrolled(self, target: str) -> str:
        """The target's room, unenrolled so that re-enrolling it can succeed each time."""
        room_id = self.rooms[target]
        with self.world.transaction() as session:
            session.execute(
                update(Room).where(Room.id == uuid.UUID(room_id)).values(enrollment_state="unenrolled")
            )
        return room_id

    def enrolled(self, target: str) -> str:
        """The target's room, enrolled again so that unenrolling it can succeed each time."""
        room_id = self.rooms[target]
        with self.world.transaction() as session:
            session.execute(
                update(Room).where(Room.id == uuid.UUID(room_id)).values(enrollment_state="enrolled")
            )
        return room_id


def _principal(w: World, t: TenantH, who: Who, rooms: dict[str, str], groups: dict[str, str]) -> UserH:
    user = w.user(t, ga=who.global_admin)
    if who.global_admin or not who.perms:
        return user
    role_id = t.roles[who.role] if who.role else w.role(t, sorted(who.perms), name=f"Matrix {who.name}")
    if who.all_rooms:
        scope: dict[str, Any] = {"all": True}
    else:
        scope = {
            "rooms": [rooms[IN]] if "room" in who.scope else [],
            "room_groups": [groups[IN]] if "group" in who.scope else [],
        }
    if who.via_group:
        w.assign(t, role_id, groups=[w.security_group(t, [user])], scope=scope)
    else:
        w.assign(t, role_id, users=[user], scope=scope)
    if who.scoped:
        extra = w.role(t, sorted(who.scoped), name=f"Matrix {who.name} scoped")
        w.assign(t, extra, users=[user], scope={"room_groups": [groups[IN]]})
    return user


def _general_and_validation(w: World, t: TenantH) -> tuple[str, str]:
    rings = expect(w.client.get(f"/api/v1/tenants/{t.id}/update-rings", headers=t.admin.headers), 200)
    by_name = {r["name"]: r["id"] for r in rings["items"]}
    return by_name["General"], by_name["Validation"]


@pytest.fixture(scope="module")
def matrix(client, db, settings) -> Matrix:  # type: ignore[no-untyped-def]
    w = World(client=client, db=db, settings=settings, tag=uuid.uuid4().hex[:10])
    t, other = w.tenant(), w.tenant()
    groups = {
        IN: w.room_group(t, [], name="In scope")["id"],
        OUT: w.room_group(t, [], name="Out of scope")["id"],
        OTHER: w.room_group(other, [], name="Other tenant")["id"],
    }
    rooms = {
        IN: w.room(t, room_group_ids=[groups[IN]])["id"],
        OUT: w.room(t, country="DE", room_group_ids=[groups[OUT]])["id"],
        OTHER: w.room(other, room_group_ids=[groups[OTHER]])["id"],
    }
    tickets = {key: w.incident(w_t, rooms[key])["id"] for key, w_t in ((IN, t), (OUT, t), (OTHER, other))}
    general, validation = _general_and_validation(w, t)
    ring = {IN: general, OUT: validation, OTHER: _general_and_validation(w, other)[0]}
    custom_role = w.role(t, ["rooms.view", "tickets.view"], name="Assignable role")
    role_ids = {IN: custom_role, OUT: custom_role, OTHER: w.role(other, ["rooms.view"])}
    bystander = {IN: w.user(t).id, OTHER: w.user(other).id}
    security_group = {IN: w.security_group(t, []), OTHER: w.security_group(other, [])}
    users = {who.name: _principal(w, t, who, rooms, groups) for who in WHO if who.perms is not None}
    users["anonymous"] = UserH(id="", upn="", tenant_id=t.id, headers={})
    m = Matrix(w, t, other, users, rooms, groups, tickets, ring, role_ids, bystander, security_group, {})
    for d in (rooms, groups, tickets, ring, role_ids, bystander, security_group):
        d.setdefault(OUT, d[IN])
        d[FOREIGN] = d[OTHER]
    m.assignment.update({IN: m.assign_bystander(IN)["id"], OTHER: m.assign_bystander(OTHER)["id"]})
    m.assign_bystander(OUT)  # the assignable role reaches both rooms from the start (see ASSIGNABLE)
    m.assignment[OUT], m.assignment[FOREIGN] = m.assignment[IN], m.assignment[OTHER]
    return m


# -- the cases -------------------------------------------------------------------------------

Request = tuple[str, str, Any]  # method, path below /api/v1/tenants/{t}, json body


@dataclass(frozen=True)
class Case:
    name: str
    request: Callable[[Matrix, str], Request]
    expected: Callable[[Who, str], int]
    #: Addresses an object by id: also tried with another tenant's id under this tenant's path.
    by_id: bool = False
    #: A POST that only reads (a preview): nothing is recorded when it succeeds.
    reads_only: bool = False


def _n() -> str:
    return uuid.uuid4().hex[:8]


def _room_body(m: Matrix, t: str, **extra: Any) -> dict[str, Any]:
    return {"name": "New", "resource_account": f"n{_n()}@{m.owner(t).domain}", "country": "US", **extra}


def _assign_over(scope: Callable[[Matrix, str], dict[str, Any]]) -> Callable[[Matrix, str], Any]:
    """A new assignment of the assignable role to the bystander over ``scope``."""
    return lambda m, t: (
        "POST",
        f"/roles/{m.role_ids[t]}/assignments",
        {"name": f"A {_n()}", "members": [{"type": "user", "id": m.bystander[t]}], "scope": scope(m, t)},
    )


CASES = [
    # rooms
    Case(
        "GET room",
        lambda m, t: ("GET", f"/rooms/{m.rooms[t]}", None),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), True, 200),
        by_id=True,
    ),
    Case(
        "PATCH room name",
        lambda m, t: ("PATCH", f"/rooms/{m.rooms[t]}", {"name": f"Room {_n()}"}),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_MODIFY, t), 200),
        by_id=True,
    ),
    Case(
        # Resource accounts are unique across the tenant: only who sees and changes every
        # room may change one, or "already in use" would reveal a hidden room (M2).
        "PATCH room resource account",
        lambda m, t: ("PATCH", f"/rooms/{m.rooms[t]}", {"resource_account": f"n{_n()}@{m.owner(t).domain}"}),
        lambda w, t: view_then(
            w.may(P.ROOMS_VIEW, t), w.tenant_wide(P.ROOMS_VIEW) and w.tenant_wide(P.ROOMS_MODIFY), 200
        ),
        by_id=True,
    ),
    Case(
        # An empty update is invalid input for everyone who reaches the tenant (L5).
        "PATCH room empty",
        lambda m, t: ("PATCH", f"/rooms/{m.rooms[t]}", {}),
        lambda w, t: 422,
        by_id=True,
    ),
    Case(
        "PATCH room ring",
        lambda m, t: ("PATCH", f"/rooms/{m.rooms[t]}", {"update_ring_id": m.ring[t]}),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.RINGS_MODIFY, t), 200),
        by_id=True,
    ),
    Case(
        "GET room suppressions",
        lambda m, t: ("GET", f"/rooms/{m.rooms[t]}/suppressions", None),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), True, 200),
        by_id=True,
    ),
    Case(
        "PUT room suppression",
        lambda m, t: (
            "PUT",
            f"/rooms/{m.rooms[t]}/suppressions/calendar",
            {"reason": "planned", "until": (utcnow() + timedelta(days=1)).isoformat()},
        ),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_MODIFY, t), 200),
        by_id=True,
    ),
    Case(
        "DELETE room suppression",
        lambda m, t: ("DELETE", f"/rooms/{m.rooms[t]}/suppressions/calendar", None),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_MODIFY, t), 204),
        by_id=True,
    ),
    Case(
        "POST room unenroll",
        lambda m, t: ("POST", f"/rooms/{m.enrolled(t)}/unenroll", None),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_UNENROLL, t), 200),
        by_id=True,
    ),
    Case(
        # Re-enrolling is the reverse of unenrolling, under the same permission.
        "POST room enroll",
        lambda m, t: ("POST", f"/rooms/{m.unenrolled(t)}/enroll", None),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_UNENROLL, t), 200),
        by_id=True,
    ),
    Case(
        # A fresh room in the target's room group: in scope where the group is; who may
        # create rooms there may delete them.
        "DELETE room",
        lambda m, t: ("DELETE", f"/rooms/{m.fresh_room(t)}", None),
        lambda w, t: view_then(w.names_group(P.ROOMS_VIEW, t), w.names_group(P.ROOMS_CREATE, t), 204),
        by_id=True,
    ),
    Case(
        "POST room reset-key",
        lambda m, t: ("POST", f"/rooms/{m.rooms[t]}/reset-key", None),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_RESET_KEY, t), 200),
        by_id=True,
    ),
    Case(
        "GET room enrollment-key",
        lambda m, t: ("GET", f"/rooms/{m.rooms[t]}/enrollment-key", None),
        lambda w, t: view_then(w.may(P.ROOMS_VIEW, t), w.may(P.ROOMS_DOWNLOAD_KEY, t), 200),
        by_id=True,
    ),
    Case(
        "POST room outside groups",
        lambda m, t: ("POST", "/rooms", _room_body(m, t)),
        lambda w, t: tenant_level(w, P.ROOMS_CREATE, 201),
    ),
    Case(
        # Into a group the creation scope names; a group the caller cannot see reads as
        # missing (422, as for any unknown id) once it may create rooms at all.
        "POST room into group",
        lambda m, t: ("POST", "/rooms", _room_body(m, t, country="KR", room_group_ids=[m.groups[t]])),
        lambda w, t: (
            201
            if w.names_group(P.ROOMS_CREATE, t)
            else 403
            if not w.any(P.ROOMS_CREATE) or group_visible(w, t)
            else 422
        ),
        by_id=True,
    ),
    # tickets
    Case(
        "POST incident",
        lambda m, t: ("POST", "/incidents", {"room_id": m.rooms[t], "title": "x", "severity": "warning"}),
        lambda w, t: view_then(
            w.may(P.ROOMS_VIEW, t) or w.may(P.INCIDENTS_CREATE, t), w.may(P.INCIDENTS_CREATE, t), 201
        ),
        by_id=True,
    ),
    Case(
        "GET ticket",
        lambda m, t: ("GET", f"/tickets/{m.tickets[t]}", None),
        lambda w, t: view_then(w.may(P.TICKETS_VIEW, t), True, 200),
        by_id=True,
    ),
    Case(
        "PATCH ticket",
        lambda m, t: ("PATCH", f"/tickets/{m.tickets[t]}", {"comment": "seen"}),
        lambda w, t: view_then(w.may(P.TICKETS_VIEW, t), w.may(P.TICKETS_UPDATE, t), 200),
        by_id=True,
    ),
    # room groups
    Case(
        "GET room group",
        lambda m, t: ("GET", f"/room-groups/{m.groups[t]}", None),
        lambda w, t: view_then(group_visible(w, t), True, 200),
        by_id=True,
    ),
    Case(
        # Group names are unique: renaming needs groups.view over all rooms as well (M2).
        "PATCH room group",
        lambda m, t: ("PATCH", f"/room-groups/{m.groups[t]}", {"name": f"G {_n()}"}),
        lambda w, t: view_then(
            group_visible(w, t), w.names_group(P.GROUPS_MODIFY, t) and w.tenant_wide(P.GROUPS_VIEW), 200
        ),
        by_id=True,
    ),
    Case(
        "DELETE room group",
        lambda m, t: ("DELETE", f"/room-groups/{m.fresh_group(t)}", None),
        lambda w, t: view_then(group_visible(w, t), w.tenant_wide(P.GROUPS_MODIFY), 204),
        by_id=True,
    ),
    Case(
        "POST room group",
        lambda m, t: ("POST", "/room-groups", {"name": f"G {_n()}", "room_ids": []}),
        lambda w, t: 201 if w.tenant_wide(P.GROUPS_CREATE) and w.tenant_wide(P.GROUPS_VIEW) else 403,
    ),
    Case(
        # A rule selects from every room: it is written only with groups.create over all rooms.
        "POST rule group",
        lambda m, t: ("POST", "/room-groups", {"name": f"G {_n()}", "rule": 'country == "US"'}),
        lambda w, t: 201 if w.tenant_wide(P.GROUPS_CREATE) and w.tenant_wide(P.GROUPS_VIEW) else 403,
    ),
    Case(
        "POST rule preview",
        lambda m, t: ("POST", "/room-groups/preview", {"rule": 'country == "US"'}),
        lambda w, t: 200 if w.tenant_wide(P.GROUPS_CREATE) or w.tenant_wide(P.GROUPS_MODIFY) else 403,
        reads_only=True,
    ),
    # update rings: tenant-wide objects, every one visible with rings.view
    Case(
        "GET ring",
        lambda m, t: ("GET", f"/update-rings/{m.ring[t]}", None),
        lambda w, t: 200 if w.any(P.RINGS_VIEW) and t != FOREIGN else 404,
        by_id=True,
    ),
    Case(
        "PATCH ring",
        lambda m, t: ("PATCH", f"/update-rings/{m.ring[t]}", {"deferral_days": 7}),
        lambda w, t: view_then(w.any(P.RINGS_VIEW) and t != FOREIGN, w.tenant_wide(P.RINGS_MODIFY), 200),
        by_id=True,
    ),
    Case(
        # Deleting an (empty) ring is the inverse of creating one: tenant-level rings.create.
        "DELETE ring",
        lambda m, t: ("DELETE", f"/update-rings/{m.fresh_ring(t)}", None),
        lambda w, t: view_then(w.any(P.RINGS_VIEW) and t != FOREIGN, w.tenant_wide(P.RINGS_CREATE), 204),
        by_id=True,
    ),
    Case(
        "POST ring",
        lambda m, t: ("POST", "/update-rings", {"name": f"Ring {_n()}", "deferral_days": 3}),
        lambda w, t: 201 if w.tenant_wide(P.RINGS_CREATE) and w.any(P.RINGS_VIEW) else 403,
    ),
    # reports, settings, roles, audit
    Case(
        "GET health report",
        lambda m, t: ("GET", "/reports/health", None),
        lambda w, t: 200 if w.any(P.REPORTS_VIEW) else 403,
    ),
    Case(
        "GET usage report",
        lambda m, t: ("GET", "/reports/usage?format=csv", None),
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
        lambda w, t: 201 if roles_manager(w) and w.any(P.ROOMS_VIEW) else 403,
    ),
    Case(
        "GET role",
        lambda m, t: ("GET", f"/roles/{m.role_ids[t]}", None),
        lambda w, t: gated(w.tenant_wide(P.ROLES_VIEW), t, 200),
        by_id=True,
    ),
    Case(
        "GET role assignments",
        lambda m, t: ("GET", f"/roles/{m.role_ids[t]}/assignments", None),
        lambda w, t: gated(w.tenant_wide(P.ROLES_VIEW), t, 200),
        by_id=True,
    ),
    Case(
        # Effective access of a user of the tenant on the target's room: roles.view over all
        # rooms to ask at all, then a room the asker cannot view is as absent as a missing one.
        "GET access explain",
        lambda m, t: ("GET", f"/access/explain?user_id={m.bystander[t]}&room_id={m.rooms[t]}", None),
        lambda w, t: gated(w.tenant_wide(P.ROLES_VIEW), t, 200 if w.may(P.ROOMS_VIEW, t) else 404),
        by_id=True,
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

#: Administration surfaces a partner never reaches (the directory's objects, role and
#: assignment management, partner administration). Kept apart from ``CASES`` because the
#: partner matrix states its own rule for them.
ADMIN_CASES = [
    Case(
        "GET user",
        lambda m, t: ("GET", f"/users/{m.bystander[t]}", None),
        lambda w, t: gated(w.global_admin, t, 200),
        by_id=True,
    ),
    Case(
        "PATCH user",
        lambda m, t: ("PATCH", f"/users/{m.bystander[t]}", {"display_name": "Bystander"}),
        lambda w, t: gated(w.global_admin, t, 200),
        by_id=True,
    ),
    Case(
        "DELETE user",
        lambda m, t: ("DELETE", f"/users/{m.fresh_user(t)}", None),
        lambda w, t: gated(w.global_admin, t, 204),
        by_id=True,
    ),
    Case(
        "unlock user",
        lambda m, t: ("POST", f"/users/{m.fresh_user(t)}/unlock", None),
        lambda w, t: gated(w.global_admin, t, 200),
        by_id=True,
    ),
    Case(
        "reset a user's password",
        lambda m, t: (
            "POST",
            f"/users/{m.fresh_user(t)}/reset-password",
            {"new_password": "Amber-Glacier-Thistle-58"},
        ),
        lambda w, t: gated(w.global_admin, t, 204),
        by_id=True,
    ),
    Case(
        "GET security group",
        lambda m, t: ("GET", f"/security-groups/{m.security_group[t]}", None),
        lambda w, t: gated(w.global_admin, t, 200),
        by_id=True,
    ),
    Case(
        "PATCH security group",
        lambda m, t: ("PATCH", f"/security-groups/{m.security_group[t]}", {"member_ids": []}),
        lambda w, t: gated(w.global_admin, t, 200),
        by_id=True,
    ),
    Case(
        "DELETE security group",
        lambda m, t: ("DELETE", f"/security-groups/{m.fresh_security_group(t)}", None),
        lambda w, t: gated(w.global_admin, t, 204),
        by_id=True,
    ),
    Case(
        "PATCH role",
        lambda m, t: ("PATCH", f"/roles/{m.role_ids[t]}", {"description": "Assignable in the matrix"}),
        lambda w, t: gated(
            w.tenant_wide(P.ROLES_VIEW), t, 200 if roles_manager(w) and reaches_both(w) else 403
        ),
        by_id=True,
    ),
    Case(
        "PATCH built-in role",
        lambda m, t: ("PATCH", f"/roles/{m.owner(t).roles[SITE_TECH]}", {"description": "Changed"}),
        lambda w, t: gated(w.tenant_wide(P.ROLES_VIEW), t, 403),
        by_id=True,
    ),
    Case(
        "DELETE role",
        lambda m, t: ("DELETE", f"/roles/{m.fresh_role(t)}", None),
        lambda w, t: gated(
            w.tenant_wide(P.ROLES_VIEW), t, 204 if roles_manager(w) and w.any(P.ROOMS_VIEW) else 403
        ),
        by_id=True,
    ),
    Case(
        "DELETE built-in role",
        lambda m, t: ("DELETE", f"/roles/{m.owner(t).roles[SITE_LEAD]}", None),
        lambda w, t: gated(w.tenant_wide(P.ROLES_VIEW), t, 403),
        by_id=True,
    ),
    Case(
        "POST assignment",
        lambda m, t: (
            "POST",
            f"/roles/{m.role_ids[t]}/assignments",
            {
                "name": f"A {_n()}",
                "members": [{"type": "user", "id": m.bystander[t]}],
                "scope": {"rooms": [m.rooms[t]]},
            },
        ),
        lambda w, t: manages(w, t, ASSIGNABLE, "room", 201),
        by_id=True,
    ),
    Case(
        "POST assignment over all",
        _assign_over(lambda m, t: {"all": True}),
        lambda w, t: manages(w, t, ASSIGNABLE, "all", 201),
        by_id=True,
    ),
    Case(
        "POST assignment over group",
        _assign_over(lambda m, t: {"room_groups": [m.groups[t]]}),
        lambda w, t: manages(w, t, ASSIGNABLE, "group", 201),
        by_id=True,
    ),
    Case(
        # The MSA role holds every permission: only who holds them all there may grant it.
        "POST assignment of MSA",
        lambda m, t: (
            "POST",
            f"/roles/{m.owner(t).roles[MSA]}/assignments",
            {
                "name": f"A {_n()}",
                "members": [{"type": "user", "id": m.bystander[t]}],
                "scope": {"rooms": [m.rooms[t]]},
            },
        ),
        lambda w, t: manages(w, t, BUILTIN_ROLES[MSA][1], "room", 201),
        by_id=True,
    ),
    Case(
        "POST role beyond own",
        lambda m, t: ("POST", "/roles", {"name": f"R {_n()}", "permissions": ["rooms.reset_key"]}),
        lambda w, t: 201 if roles_manager(w) and w.any(P.ROOMS_RESET_KEY) else 403,
    ),
    Case(
        "GET assignment",
        lambda m, t: ("GET", f"/assignments/{m.assignment[t]}", None),
        lambda w, t: gated(w.tenant_wide(P.ROLES_VIEW), t, 200),
        by_id=True,
    ),
    Case(
        "GET role assignment",
        lambda m, t: ("GET", f"/roles/{m.role_ids[t]}/assignments/{m.assignment[t]}", None),
        lambda w, t: gated(w.tenant_wide(P.ROLES_VIEW), t, 200),
        by_id=True,
    ),
    Case(
        "PATCH assignment",
        lambda m, t: ("PATCH", f"/assignments/{m.assignment[t]}", {"description": "Bystander"}),
        lambda w, t: manages(w, t, ASSIGNABLE, "room", 200, reach=IN),
        by_id=True,
    ),
    Case(
        "PATCH role assignment",
        lambda m, t: ("PATCH", f"/roles/{m.role_ids[t]}/assignments/{m.assignment[t]}", {"name": "Desk"}),
        lambda w, t: manages(w, t, ASSIGNABLE, "room", 200, reach=IN),
        by_id=True,
    ),
    Case(
        "DELETE assignment",
        lambda m, t: ("DELETE", f"/assignments/{m.fresh_assignment(t)}", None),
        lambda w, t: manages(w, t, ASSIGNABLE, "room", 204),
        by_id=True,
    ),
    Case(
        "DELETE role assignment",
        lambda m, t: ("DELETE", f"/roles/{m.role_ids[t]}/assignments/{m.fresh_assignment(t)}", None),
        lambda w, t: manages(w, t, ASSIGNABLE, "room", 204),
        by_id=True,
    ),
    Case(
        "GET partner invitations",
        lambda m, t: ("GET", "/partner-invitations", None),
        lambda w, t: tenant_level(w, P.PARTNERS_MANAGE, 200),
    ),
    Case(
        "GET partners",
        lambda m, t: ("GET", "/partners", None),
        lambda w, t: tenant_level(w, P.PARTNERS_MANAGE, 200),
    ),
    # Renewing (tests/partners/test_expiry.py for a real link): the gate comes first, then the
    # link, which this tenant does not have.
    Case(
        "renew partner",
        lambda m, t: ("POST", f"/partners/{uuid.uuid4()}/renew", {"expires_at": None}),
        lambda w, t: tenant_level(w, P.PARTNERS_MANAGE, 404),
    ),
    # Just-in-time elevation (tests/partners/test_elevation.py with real activations): only a
    # member of an eligible partner assignment activates one, so the tenant's own users find
    # none; activations are listed to those who administer partners, approve or read roles.
    Case(
        "activate assignment",
        lambda m, t: ("POST", f"/assignments/{uuid.uuid4()}/activate", {"minutes": 30, "justification": "x"}),
        lambda w, t: 404,
    ),
    Case(
        "GET activations",
        lambda m, t: ("GET", "/activations", None),
        lambda w, t: 200 if _sees_activations(w) else 403,
    ),
    Case(
        "GET activation",
        lambda m, t: ("GET", f"/activations/{uuid.uuid4()}", None),
        lambda w, t: 404 if _sees_activations(w) else 403,
    ),
    Case(
        "DELETE activation",
        lambda m, t: ("DELETE", f"/activations/{uuid.uuid4()}", None),
        lambda w, t: 404 if _sees_activations(w) else 403,
    ),
]
ALL_CASES = [*CASES, *ADMIN_CASES]


def expected_status(who: Who, case: Case, target: str) -> int:
    if who.perms is None:
        return 401
    if target == OTHER:  # another tenant's path: the tenant itself is invisible
        return 404
    return case.expected(who, target)


def _params() -> list[Any]:
    out = []
    for case in ALL_CASES:
        for who in WHO:
            for target in (*TARGETS, FOREIGN) if case.by_id else TARGETS:
                out.append(pytest.param(case, who, target, id=f"{case.name}-{who.name}-{target}"))
    return out


@pytest.mark.parametrize(("case", "who", "target"), _params())
def test_access_matrix(matrix: Matrix, case: Case, who: Who, target: str) -> None:
    method, path, body = case.request(matrix, target)
    tenant = matrix.tenant_for(target)
    headers = matrix.users[who.name].headers
    response = matrix.world.client.request(
        method, f"/api/v1/tenants/{tenant.id}{path}", json=body, headers=headers
    )
    want = expected_status(who, case, target)
    assert response.status_code == want, f"{case.name} as {who.name} on {target}: {response.text}"
    if want >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    elif method != "GET" and not case.reads_only:
        # every change names the role that allowed it (SPEC §6), whichever permission it needed
        with matrix.world.transaction() as session:
            allowed_by = session.scalar(
                select(AuditRecord.allowed_by)
                .where(
                    AuditRecord.tenant_id == uuid.UUID(tenant.id),
                    AuditRecord.user_id == matrix.users[who.name].id,
                )
                .order_by(AuditRecord.seq.desc())
                .limit(1)
            )
        assert allowed_by, f"{case.name} as {who.name}: the record names no role"


def test_the_matrix_covers_the_catalogue_and_every_tenant_path(app) -> None:  # type: ignore[no-untyped-def]
    """Every permission decides some case, and every customer path is driven by one."""
    paths = {p for p in app.openapi()["paths"] if p.startswith("/api/v1/tenants/{tenant_id}")}
    templates = {re.sub(r"\{[a-z_]+\}", "{}", p.removeprefix("/api/v1/tenants/{tenant_id}")) for p in paths}
    templates -= {"/partner-invitations/review", "/partner-invitations/{}", "/partners/{}"}  # partner suite
    templates -= {t for t in templates if t.startswith("/partners/{}/scope/")}  # test_link_scope.py
    templates -= {t for t in templates if t.startswith("/approval-requests")}  # approvals suite
    templates -= {"/identity-provider"}  # Global admins only: tests/identity (federation suite)
    templates -= {t for t in templates if t.startswith("/webhooks")}  # tests/webhooks/test_matrix.py
    m = _FakeMatrix()
    driven = {
        # ids, and a signal's name in a suppression's path, are path parameters
        re.sub(r"[0-9a-f-]{36}|(?<=/suppressions/)[a-z_]+", "{}", case.request(m, IN)[1]).partition("?")[0]  # type: ignore[arg-type]
        for case in ALL_CASES
    }
    assert templates <= driven, sorted(templates - driven)
    deciding = {p for p in Permission for who in WHO for case in ALL_CASES if _decides(case, who, p)}
    assert deciding | {P.APPROVALS_REVIEW} == set(Permission), set(Permission) - deciding
    assert TENANT_LEVEL - {P.APPROVALS_REVIEW} <= deciding


def _decides(case: Case, who: Who, perm: Permission) -> bool:
    """Dropping ``perm`` from an all-rooms principal changes some expected code."""
    if who.perms is None or perm not in who.perms or not who.all_rooms or who.global_admin:
        return False
    less = Who(who.name, who.perms - {perm}, all_rooms=True)
    return any(case.expected(who, t) != case.expected(less, t) for t in (IN, OUT))


class _FakeMatrix:
    """Stands in for ``Matrix`` to read the paths the cases request without a database."""

    def __getattr__(self, name: str) -> Any:
        if name in ("tenant_for", "owner"):
            return lambda t: TenantH(id="", name="", domain="x.example", admin=None, roles=_Ids())  # type: ignore[arg-type]
        if name.startswith(("fresh_", "enrolled", "unenrolled")):
            return lambda t: str(uuid.UUID(int=0))
        return _Ids()


class _Ids(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return str(uuid.UUID(int=0))


# -- lists, counts and reports --------------------------------------------------------------


def _in_scope(matrix: Matrix, who: Who) -> set[str]:
    """The effective rooms of ``who``'s scope, by the SPEC §3 definition, read as the admin."""
    client, base = matrix.world.client, f"/api/v1/tenants/{matrix.tenant.id}"
    admin = matrix.tenant.admin.headers
    every = {r["id"] for r in expect(client.get(f"{base}/rooms?limit=200", headers=admin), 200)["items"]}
    if who.all_rooms:
        return every
    scope = {matrix.rooms[IN]} if "room" in who.scope else set()
    if "group" in who.scope:
        group = expect(client.get(f"{base}/room-groups/{matrix.groups[IN]}", headers=admin), 200)
        scope |= set(group["room_ids"])
    return scope


def _group_rooms(matrix: Matrix) -> set[str]:
    url = f"/api/v1/tenants/{matrix.tenant.id}/room-groups/{matrix.groups[IN]}"
    return set(expect(matrix.world.client.get(url, headers=matrix.tenant.admin.headers), 200)["room_ids"])


def _admin_rooms(matrix: Matrix) -> list[dict[str, Any]]:
    url = f"/api/v1/tenants/{matrix.tenant.id}/rooms?limit=200"
    return expect(matrix.world.client.get(url, headers=matrix.tenant.admin.headers), 200)["items"]


def _admin_tickets(matrix: Matrix) -> list[dict[str, Any]]:
    url = f"/api/v1/tenants/{matrix.tenant.id}/tickets?limit=200"
    return expect(matrix.world.client.get(url, headers=matrix.tenant.admin.headers), 200)["items"]


@pytest.mark.parametrize("who", [w for w in WHO if w.perms is not None], ids=lambda w: w.name)
def test_lists_counts_and_reports_show_only_the_scope(matrix: Matrix, who: Who) -> None:
    client, base = matrix.world.client, f"/api/v1/tenants/{matrix.tenant.id}"
    headers = matrix.users[who.name].headers
    scope = _in_scope(matrix, who)
    every_room = _admin_rooms(matrix)

    def items(path: str) -> list[dict[str, Any]]:
        sep = "&" if "?" in path else "?"
        return expect(client.get(f"{base}{path}{sep}limit=200", headers=headers), 200)["items"]

    def within(perm: Permission) -> set[str]:
        if who.perms is not None and perm in who.perms:
            return scope
        return _group_rooms(matrix) if perm in who.scoped else set()

    assert {r["id"] for r in items("/rooms")} == within(P.ROOMS_VIEW)
    assert {r["id"] for r in items("/rooms?country=DE")} == {
        r["id"] for r in every_room if r["country"] == "DE"
    } & within(P.ROOMS_VIEW)
    out_group = expect(
        client.get(f"{base}/room-groups/{matrix.groups[OUT]}", headers=matrix.tenant.admin.headers), 200
    )
    # A group the caller cannot see filters to nothing, like a missing one (I2).
    assert {r["id"] for r in items(f"/rooms?group_id={matrix.groups[OUT]}")} == (
        set(out_group["room_ids"]) & within(P.ROOMS_VIEW) if group_visible(who, OUT) else set()
    )
    tickets = _admin_tickets(matrix)
    assert {x["id"] for x in items("/tickets")} == {
        x["id"] for x in tickets if x["room_id"] in within(P.TICKETS_VIEW)
    }
    assert {x["id"] for x in items(f"/tickets?room_id={matrix.rooms[OUT]}")} == {
        x["id"]
        for x in tickets
        if x["room_id"] == matrix.rooms[OUT] and x["room_id"] in within(P.TICKETS_VIEW)
    }

    groups = {g["id"]: g for g in items("/room-groups")}
    for target in (IN, OUT):
        assert (matrix.groups[target] in groups) == group_visible(who, target)
    for group_id, group in groups.items():
        admin_view = expect(
            client.get(f"{base}/room-groups/{group_id}", headers=matrix.tenant.admin.headers), 200
        )
        members = set(admin_view["room_ids"]) & within(P.GROUPS_VIEW)
        assert group["room_count"] == len(members), group["name"]
        detail = expect(client.get(f"{base}/room-groups/{group_id}", headers=headers), 200)
        assert set(detail["room_ids"]) == members

    rings = items("/update-rings")
    if who.any(P.RINGS_VIEW):
        for ring in rings:
            in_ring = {r["id"] for r in every_room if r["update_ring_id"] == ring["id"]}
            assert ring["room_count"] == len(in_ring & within(P.RINGS_VIEW)), ring["name"]
    else:
        assert rings == []

    report = client.get(f"{base}/reports/health", headers=headers)
    if who.any(P.REPORTS_VIEW):
        body = expect(report, 200)
        seen = [r for r in every_room if r["id"] in within(P.REPORTS_VIEW)]
        assert body["total_rooms"] == len(seen)
        for state in ("healthy", "degraded", "unhealthy", "unknown"):
            assert body["rooms_by_health"][state] == sum(r["health_state"] == state for r in seen)
        assert body["open_tickets"] == sum(
            x["room_id"] in within(P.REPORTS_VIEW) and x["status"] in ("open", "in_progress") for x in tickets
        )
        assert {r["room_id"] for r in body["rooms"]} == within(P.REPORTS_VIEW)
        usage = expect(client.get(f"{base}/reports/usage", headers=headers), 200)
        assert {r["room_id"] for r in usage["rooms"]} == within(P.REPORTS_VIEW)
        assert usage["total_rooms"] == len(seen)
    else:
        assert report.status_code == 403
        assert client.get(f"{base}/reports/usage", headers=headers).status_code == 403


def _problem(response: Any, *ids: str) -> tuple[int, str]:
    text = response.text
    for i in ids:
        text = text.replace(i, "<id>")
    return response.status_code, text


@pytest.mark.parametrize("who", ["site_lead", "site_tech", "custom", "custom_no_room_view", "msa_scoped"])
def test_out_of_scope_objects_answer_exactly_like_missing_ones(matrix: Matrix, who: str) -> None:
    """Status and body: nothing tells an out-of-scope object from one that does not exist."""
    client, base = matrix.world.client, f"/api/v1/tenants/{matrix.tenant.id}"
    headers = matrix.users[who].headers
    missing = str(uuid.uuid4())
    hidden = {"room": matrix.rooms[OUT], "ticket": matrix.tickets[OUT], "group": matrix.groups[OUT]}
    foreign = {"room": matrix.rooms[OTHER], "ticket": matrix.tickets[OTHER], "group": matrix.groups[OTHER]}
    requests: list[Callable[[dict[str, str]], Any]] = [
        lambda o: client.get(f"{base}/rooms/{o.get('room', missing)}", headers=headers),
        lambda o: client.patch(f"{base}/rooms/{o.get('room', missing)}", json={"city": "x"}, headers=headers),
        lambda o: client.get(f"{base}/rooms/{o.get('room', missing)}/enrollment-key", headers=headers),
        lambda o: client.get(f"{base}/tickets/{o.get('ticket', missing)}", headers=headers),
        lambda o: client.get(f"{base}/room-groups/{o.get('group', missing)}", headers=headers),
        lambda o: client.post(
            f"{base}/incidents",
            json={"room_id": o.get("room", missing), "title": "x", "severity": "warning"},
            headers=headers,
        ),
        lambda o: client.post(
            f"{base}/rooms",
            json=_room_body(matrix, IN, room_group_ids=[o.get("group", missing)]),
            headers=headers,
        ),
    ]
    for send in requests:
        absent = _problem(send({}), missing)
        assert _problem(send(hidden), *hidden.values()) == absent
        assert _problem(send(foreign), *foreign.values()) == absent
