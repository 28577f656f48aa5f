"""Differential test of the access decision against an independent reference model.

Hypothesis draws random worlds — rooms with random health, tickets open or resolved, room
groups with random members, users (some Global admins), security groups, custom roles with
random permission subsets, assignments with random members (users and security groups) and
scopes (all, rooms, groups) — and builds them through the API. The reference is casbin: each
scope is expanded by the SPEC §3 definition (listed rooms plus the current members of listed
groups, or every room) into (assignment, room, permission) policies, and membership
(user → security group → assignment, user → Global admin) is casbin role inheritance. None of
the service's code is used to state what should happen.

Every decision the service makes — room, ticket and key endpoints, lists, group visibility and
member counts, ring counts, the health report — is compared with the model; then a random
sequence of changes (group membership, security-group membership, revocation, a new scope, new
role permissions, Global admin on or off) is applied, mirrored in the model, and the very next
requests must agree with it again.

Some users also manage roles (``roles.view`` and ``roles.modify`` over all rooms). They try to
grant random roles over random scopes and to change roles' permissions; the model decides by
the rule that no one hands out more than they hold (issue 9, M6): every permission their own,
over a scope inside their own for it — ``all`` only from an ``all`` assignment, a room only if
they may use the permission on it, a room group only if one of their scopes names it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import casbin
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.devices.helpers import set_health
from tests.factories import UserH, World, expect

MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
"""
ROOM_PERMS = [
    "rooms.view",
    "rooms.modify",
    "rooms.download_key",
    "rooms.reset_key",
    "incidents.create",
    "tickets.view",
    "tickets.update",
    "groups.view",
    "rings.view",
    "reports.view",
]
HEALTH = ["healthy", "degraded", "unhealthy", "unknown"]


@dataclass
class Ticket:
    room: int
    open: bool
    id: str = ""


@dataclass
class Spec:
    health: list[str]  # one per room
    groups: list[set[int]]
    users: list[bool]  # is Global admin
    sec_groups: list[set[int]]
    roles: list[set[str]]
    tickets: list[Ticket]
    assignments: list[dict[str, Any]] = field(default_factory=list)
    managers: set[int] = field(default_factory=set)  # hold roles.view + roles.modify over all rooms

    @property
    def rooms(self) -> int:
        return len(self.health)


@st.composite
def worlds(draw: st.DrawFn) -> Spec:
    n_rooms = draw(st.integers(1, 5))
    room = st.integers(0, n_rooms - 1)
    health = draw(st.lists(st.sampled_from(HEALTH), min_size=n_rooms, max_size=n_rooms))
    groups = draw(st.lists(st.sets(room, max_size=n_rooms), max_size=3))
    n_users = draw(st.integers(1, 4))
    users = draw(st.lists(st.sampled_from([False, False, False, True]), min_size=n_users, max_size=n_users))
    sec_groups = draw(st.lists(st.sets(st.integers(0, n_users - 1), max_size=n_users), max_size=2))
    roles = draw(st.lists(st.sets(st.sampled_from(ROOM_PERMS), min_size=1), min_size=1, max_size=3))
    tickets = [Ticket(r, draw(st.booleans())) for r in range(n_rooms)]
    spec = Spec(health, groups, users, sec_groups, roles, tickets)
    spec.managers = draw(st.sets(st.integers(0, n_users - 1), max_size=n_users))
    for _ in range(draw(st.integers(1, 4))):
        spec.assignments.append(
            {
                "role": draw(st.integers(0, len(roles) - 1)),
                "users": draw(
                    st.sets(st.integers(0, n_users - 1), min_size=0 if sec_groups else 1, max_size=2)
                ),
                "sec_groups": draw(st.sets(st.integers(0, len(sec_groups) - 1), max_size=2))
                if sec_groups
                else set(),
                **draw(scopes(n_rooms, len(groups))),
            }
        )
    return spec


def scopes(n_rooms: int, n_groups: int) -> st.SearchStrategy[dict[str, Any]]:
    listed = st.fixed_dictionaries(
        {
            "all": st.just(False),
            "rooms": st.sets(st.integers(0, n_rooms - 1), max_size=n_rooms),
            "groups": st.sets(st.integers(0, n_groups - 1), max_size=n_groups)
            if n_groups
            else st.just(set()),
        }
    )
    return st.one_of(listed, listed, listed, st.just({"all": True, "rooms": set(), "groups": set()}))


@st.composite
def changes(draw: st.DrawFn, spec: Spec) -> list[tuple[Any, ...]]:
    """One to three changes a customer's admins make, drawn for ``spec``."""
    kinds = ["revoke", "rescope", "permissions", "global_admin"]
    kinds += ["group_member"] if spec.groups else []
    kinds += ["security_group_member"] if spec.sec_groups else []
    out: list[tuple[Any, ...]] = []
    for kind in draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=3)):
        if kind == "group_member":
            out.append(
                (kind, draw(st.integers(0, len(spec.groups) - 1)), draw(st.integers(0, spec.rooms - 1)))
            )
        elif kind == "security_group_member":
            sg = draw(st.integers(0, len(spec.sec_groups) - 1))
            out.append((kind, sg, draw(st.integers(0, len(spec.users) - 1))))
        elif kind in ("revoke", "rescope"):
            a = draw(st.integers(0, len(spec.assignments) - 1))
            out.append((kind, a, draw(scopes(spec.rooms, len(spec.groups)))))
        elif kind == "permissions":
            role = draw(st.integers(0, len(spec.roles) - 1))
            out.append((kind, role, draw(st.sets(st.sampled_from(ROOM_PERMS), min_size=1))))
        else:
            out.append((kind, draw(st.integers(0, len(spec.users) - 1))))
    return out


# -- the reference model ------------------------------------------------------------------------


class Reference:
    """SPEC §2-3 without the service's code: scope expansion here, inheritance in casbin."""

    def __init__(self, spec: Spec) -> None:
        model = casbin.Model()
        model.load_model_from_text(MODEL)
        self.spec = spec
        self.enforcer = casbin.Enforcer(model)
        rooms = range(spec.rooms)
        for u, is_ga in enumerate(spec.users):
            if is_ga:
                self.enforcer.add_grouping_policy(f"u{u}", "global-admin")
        for r in rooms:
            for perm in ROOM_PERMS:
                self.enforcer.add_policy("global-admin", f"r{r}", perm)
        for s, members in enumerate(spec.sec_groups):
            for u in members:
                self.enforcer.add_grouping_policy(f"u{u}", f"s{s}")
        for a, asg in enumerate(spec.assignments):
            for u in asg["users"]:
                self.enforcer.add_grouping_policy(f"u{u}", f"a{a}")
            for s in asg["sec_groups"]:
                self.enforcer.add_grouping_policy(f"s{s}", f"a{a}")
            for r in self.effective(asg):
                for perm in spec.roles[asg["role"]]:
                    self.enforcer.add_policy(f"a{a}", f"r{r}", perm)

    def effective(self, asg: dict[str, Any]) -> set[int]:
        if asg["all"]:
            return set(range(self.spec.rooms))
        return set(asg["rooms"]).union(*(self.spec.groups[g] for g in asg["groups"]))

    def may(self, user: int, room: int, perm: str) -> bool:
        return bool(self.enforcer.enforce(f"u{user}", f"r{room}", perm))

    def rooms(self, user: int, perm: str) -> set[int]:
        return {r for r in range(self.spec.rooms) if self.may(user, r, perm)}

    def _assignments(self, user: int, perm: str) -> list[dict[str, Any]]:
        return [
            asg
            for asg in self.spec.assignments
            if perm in self.spec.roles[asg["role"]]
            and (user in asg["users"] or any(user in self.spec.sec_groups[s] for s in asg["sec_groups"]))
        ]

    def holds(self, user: int, perm: str) -> bool:
        """Holds the permission at all (whatever the scope), or is a Global admin."""
        return self.spec.users[user] or bool(self._assignments(user, perm))

    def exists(self, asg: dict[str, Any]) -> bool:
        return bool(asg["users"] or asg["sec_groups"])

    def may_grant(self, user: int, perms: set[str], scopes: list[dict[str, Any]]) -> bool:
        """Issue 9, M6: a role manager hands out only its own permissions, inside its scope."""
        if self.spec.users[user]:
            return True
        if user not in self.spec.managers or not all(self.holds(user, p) for p in perms):
            return False
        for scope in scopes:
            for p in perms:
                mine = self._assignments(user, p)
                if scope["all"] and not any(a["all"] for a in mine):
                    return False
                if not scope["all"] and not set(scope["rooms"]) <= self.rooms(user, p):
                    return False
                if not scope["all"] and not all(
                    any(a["all"] or g in a["groups"] for a in mine) for g in scope["groups"]
                ):
                    return False
        return True

    def group_visible(self, user: int, g: int) -> bool:
        """Named by a groups.view scope (or everything), or holding a groups.view room."""
        named = self.spec.users[user] or any(
            asg["all"] or g in asg["groups"] for asg in self._assignments(user, "groups.view")
        )
        return named or bool(self.spec.groups[g] & self.rooms(user, "groups.view"))


# -- building the world through the API ---------------------------------------------------------


@dataclass
class Built:
    world: World
    t: Any
    rooms: list[str]
    groups: list[str]
    users: list[UserH]
    sec_groups: list[str]
    roles: list[str]
    assignments: list[str | None]

    @property
    def base(self) -> str:
        return f"/api/v1/tenants/{self.t.id}"

    def admin(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.world.client.request(
            method, self.base + path, json=body, headers=self.t.admin.headers
        )
        return expect(response, status)

    def scope(self, asg: dict[str, Any]) -> dict[str, Any]:
        if asg["all"]:
            return {"all": True}
        return {
            "rooms": [self.rooms[i] for i in sorted(asg["rooms"])],
            "room_groups": [self.groups[g] for g in sorted(asg["groups"])],
        }


def build(w: World, spec: Spec) -> Built:
    t = w.tenant()
    rooms = [w.room(t)["id"] for _ in range(spec.rooms)]
    b = Built(w, t, rooms, [], [], [], [], [])
    for r, state in enumerate(spec.health):
        if state != "unknown":  # through the room's device: a failing signal opens a ticket
            set_health(w, t, rooms[r], state)
            for ticket in b.admin("GET", f"/tickets?room_id={rooms[r]}&source=monitoring")["items"]:
                spec.tickets.append(Ticket(r, True, ticket["id"]))
    for ticket in [x for x in spec.tickets if not x.id]:
        ticket.id = w.incident(t, rooms[ticket.room])["id"]
        if not ticket.open:
            b.admin("PATCH", f"/tickets/{ticket.id}", {"status": "resolved"})
    b.groups = [w.room_group(t, [rooms[i] for i in sorted(members)])["id"] for members in spec.groups]
    b.users = [w.user(t, ga=ga) for ga in spec.users]
    b.sec_groups = [w.security_group(t, [b.users[u] for u in sorted(m)]) for m in spec.sec_groups]
    b.roles = [w.role(t, sorted(perms)) for perms in spec.roles]
    if spec.managers:
        managing = w.role(t, ["roles.view", "roles.modify"])
        w.assign(t, managing, users=[b.users[u] for u in sorted(spec.managers)])
    for asg in spec.assignments:
        if not asg["users"] and not asg["sec_groups"]:
            b.assignments.append(None)
            continue
        users = [b.users[u] for u in sorted(asg["users"])]
        groups = [b.sec_groups[s] for s in sorted(asg["sec_groups"])]
        created = w.assign(t, b.roles[asg["role"]], users=users, groups=groups, scope=b.scope(asg))
        b.assignments.append(created["id"])
    return b


def apply(b: Built, spec: Spec, change: tuple[Any, ...]) -> None:
    """Make one change through the API and mirror it in ``spec``."""
    kind = change[0]
    if kind == "group_member":
        members = spec.groups[change[1]]
        members ^= {change[2]}
        b.admin(
            "PATCH",
            f"/room-groups/{b.groups[change[1]]}",
            {"room_ids": [b.rooms[i] for i in sorted(members)]},
        )
    elif kind == "security_group_member":
        members = spec.sec_groups[change[1]]
        members ^= {change[2]}
        body = {"member_ids": [b.users[u].id for u in sorted(members)]}
        b.admin("PATCH", f"/security-groups/{b.sec_groups[change[1]]}", body)
    elif kind == "revoke" and b.assignments[change[1]] is not None:
        b.admin("DELETE", f"/assignments/{b.assignments[change[1]]}", status=204)
        spec.assignments[change[1]].update(users=set(), sec_groups=set())
        b.assignments[change[1]] = None
    elif kind == "rescope" and b.assignments[change[1]] is not None:
        spec.assignments[change[1]].update(change[2])
        body = {"scope": b.scope(spec.assignments[change[1]])}
        b.admin("PATCH", f"/assignments/{b.assignments[change[1]]}", body)
    elif kind == "permissions":
        spec.roles[change[1]] = set(change[2])
        b.admin("PATCH", f"/roles/{b.roles[change[1]]}", {"permissions": sorted(change[2])})
    elif kind == "global_admin":
        spec.users[change[1]] = not spec.users[change[1]]
        body = {"is_global_admin": spec.users[change[1]]}
        b.admin("PATCH", f"/users/{b.users[change[1]].id}", body)


@st.composite
def grant_attempts(draw: st.DrawFn, spec: Spec) -> list[tuple[Any, ...]]:
    """Role managers (and others) try to grant a role, or to change a role's permissions."""
    out: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 4))):
        user = draw(st.integers(0, len(spec.users) - 1))
        role = draw(st.integers(0, len(spec.roles) - 1))
        if draw(st.booleans()):
            member = draw(st.integers(0, len(spec.users) - 1))
            out.append(("grant", user, role, member, draw(scopes(spec.rooms, len(spec.groups)))))
        else:
            out.append(("permissions", user, role, draw(st.sets(st.sampled_from(ROOM_PERMS), min_size=1))))
    return out


def attempt(b: Built, spec: Spec, move: tuple[Any, ...]) -> None:
    """Try ``move`` as its user; the model says whether it must succeed. Mirror a success."""
    ref = Reference(spec)
    kind, user, role = move[:3]
    headers = b.users[user].headers
    if kind == "grant":
        member, scope = move[3], move[4]
        allowed = ref.may_grant(user, spec.roles[role], [scope])
        body = {
            "name": "Granted",
            "members": [{"type": "user", "id": b.users[member].id}],
            "scope": b.scope(scope),
        }
        response = b.world.client.post(
            f"{b.base}/roles/{b.roles[role]}/assignments", json=body, headers=headers
        )
        assert response.status_code == (201 if allowed else 403), (move, response.text)
        if allowed:
            spec.assignments.append({"role": role, "users": {member}, "sec_groups": set(), **scope})
            b.assignments.append(response.json()["id"])
        return
    new = move[3]
    reach = [a for a in spec.assignments if a["role"] == role and ref.exists(a)]
    allowed = ref.may_grant(user, spec.roles[role] | new, reach)
    body = {"permissions": sorted(new)}
    response = b.world.client.patch(f"{b.base}/roles/{b.roles[role]}", json=body, headers=headers)
    assert response.status_code == (200 if allowed else 403), (move, response.text)
    if allowed:
        spec.roles[role] = set(new)


# -- comparing ------------------------------------------------------------------------------------


def code(visible: bool, allowed: bool, ok: int = 200) -> int:
    return ok if visible and allowed else 403 if visible else 404


def compare_lists(b: Built, spec: Spec, ref: Reference, u: int) -> None:
    client, base, h = b.world.client, b.base, b.users[u].headers

    def items(path: str) -> list[dict[str, Any]]:
        return expect(client.get(f"{base}{path}?limit=200", headers=h), 200)["items"]

    assert {r["id"] for r in items("/rooms")} == {b.rooms[r] for r in ref.rooms(u, "rooms.view")}, (
        "rooms list"
    )
    tickets = {t.id for t in spec.tickets if t.room in ref.rooms(u, "tickets.view")}
    assert {x["id"] for x in items("/tickets")} == tickets, "tickets list"

    groups = {g["id"]: g for g in items("/room-groups")}
    for g, group_id in enumerate(b.groups):
        assert (group_id in groups) == ref.group_visible(u, g), f"group {g} visible"
        if group_id in groups:
            members = spec.groups[g] & ref.rooms(u, "groups.view")
            assert groups[group_id]["room_count"] == len(members), f"group {g} count"
            detail = expect(client.get(f"{base}/room-groups/{group_id}", headers=h), 200)
            assert set(detail["room_ids"]) == {b.rooms[r] for r in members}, f"group {g} members"

    rings = {r["name"]: r for r in items("/update-rings")}
    if ref.holds(u, "rings.view"):  # every room joined General
        assert rings["General"]["room_count"] == len(ref.rooms(u, "rings.view"))
    else:
        assert rings == {}

    report = client.get(f"{base}/reports/health", headers=h)
    if ref.holds(u, "reports.view"):
        seen = ref.rooms(u, "reports.view")
        body = expect(report, 200)
        assert body["total_rooms"] == len(seen)
        assert body["rooms_by_health"] == {s: sum(spec.health[r] == s for r in seen) for s in HEALTH}
        assert body["open_tickets"] == sum(t.open and t.room in seen for t in spec.tickets)
    else:
        assert report.status_code == 403


def compare_objects(b: Built, spec: Spec, ref: Reference, u: int) -> None:
    client, base, h = b.world.client, b.base, b.users[u].headers
    for r, room_id in enumerate(b.rooms):
        view = ref.may(u, r, "rooms.view")
        url = f"{base}/rooms/{room_id}"
        assert client.get(url, headers=h).status_code == code(view, True), f"GET room {r}"
        patch = client.patch(url, json={"city": "Lyon"}, headers=h).status_code
        assert patch == code(view, ref.may(u, r, "rooms.modify")), f"PATCH room {r}"
        key = client.get(f"{url}/enrollment-key", headers=h).status_code
        assert key == code(view, ref.may(u, r, "rooms.download_key")), f"key of room {r}"
        reset = client.post(f"{url}/reset-key", headers=h).status_code
        assert reset == code(view, ref.may(u, r, "rooms.reset_key")), f"reset key of room {r}"
    for ticket in spec.tickets:
        view = ref.may(u, ticket.room, "tickets.view")
        url = f"{base}/tickets/{ticket.id}"
        assert client.get(url, headers=h).status_code == code(view, True), "GET ticket"
        patch = client.patch(url, json={"comment": "looked"}, headers=h).status_code
        assert patch == code(view, ref.may(u, ticket.room, "tickets.update")), "PATCH ticket"


def raise_incidents(b: Built, spec: Spec, ref: Reference, u: int) -> None:
    """The incident's room is its target: reachable with rooms.view or incidents.create on it."""
    for r, room_id in enumerate(b.rooms):
        body = {"room_id": room_id, "title": "Random incident", "severity": "important"}
        response = b.world.client.post(f"{b.base}/incidents", json=body, headers=b.users[u].headers)
        reachable = ref.may(u, r, "rooms.view") or ref.may(u, r, "incidents.create")
        assert response.status_code == code(reachable, ref.may(u, r, "incidents.create"), 201), (
            f"incident {r}"
        )
        if response.status_code == 201:
            spec.tickets.append(Ticket(r, True, response.json()["id"]))


def compare(b: Built, spec: Spec) -> None:
    ref = Reference(spec)
    for u in range(len(b.users)):
        compare_lists(b, spec, ref, u)
        compare_objects(b, spec, ref, u)


@given(data=st.data())
@settings(
    max_examples=25,
    deadline=None,
    # ``world`` only carries the session's client and a unique tag: each example builds its
    # own tenant, so sharing it between examples is correct.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_service_decisions_match_the_reference_model(world: World, data: st.DataObject) -> None:
    spec = data.draw(worlds(), label="world")
    built = build(world, spec)
    compare(built, spec)
    for u in range(len(built.users)):
        raise_incidents(built, spec, Reference(spec), u)
    for move in data.draw(grant_attempts(spec), label="grants"):
        attempt(built, spec, move)
    for change in data.draw(changes(spec), label="changes"):
        apply(built, spec, change)
        ref = Reference(spec)
        for u in range(len(built.users)):  # the very next request sees the change
            compare_lists(built, spec, ref, u)
    compare(built, spec)


# -- the reference model, checked by hand ----------------------------------------------------------


def _one_assignment(perm: str, **scope: Any) -> Spec:
    return Spec(
        health=["unknown"] * 3,
        groups=[{1}],
        users=[False, False],
        sec_groups=[{0}],
        roles=[{perm}],
        tickets=[],
        assignments=[{"role": 0, "users": set(), "sec_groups": {0}, **scope}],
    )


@pytest.mark.parametrize("perm", ROOM_PERMS)
def test_reference_model_grants_by_scope_through_groups(perm: str) -> None:
    spec = _one_assignment(perm, all=False, rooms={0}, groups={0})
    ref = Reference(spec)
    assert [ref.may(0, r, perm) for r in range(3)] == [True, True, False]
    assert ref.rooms(1, perm) == set()  # not a member of the security group
    later = copy.deepcopy(spec)
    later.groups[0].add(2)  # a room joins the group: the scope follows
    assert Reference(later).rooms(0, perm) == {0, 1, 2}
    later.sec_groups[0].clear()  # the user leaves the security group
    assert Reference(later).rooms(0, perm) == set()


def test_reference_model_all_scope_global_admin_and_group_visibility() -> None:
    spec = _one_assignment("groups.view", all=True, rooms=set(), groups=set())
    spec.groups = [set(), {1}]
    spec.users[1] = True
    ref = Reference(spec)
    assert ref.rooms(0, "groups.view") == {0, 1, 2} and ref.rooms(0, "rooms.view") == set()
    assert ref.group_visible(0, 0) and ref.rooms(1, "rooms.reset_key") == {0, 1, 2}
    scoped = _one_assignment("groups.view", all=False, rooms={1}, groups=set())
    scoped.groups = [set(), {1}, {2}]
    ref = Reference(scoped)
    assert [ref.group_visible(0, g) for g in range(3)] == [False, True, False]
    assert not ref.holds(1, "groups.view")
