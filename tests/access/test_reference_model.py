"""Differential test of the access decision against an independent reference model.

Hypothesis builds random worlds — rooms, room groups, users, security groups, custom roles
with random permissions, assignments with random members and scopes, Global admins — through
the API. The reference is casbin: scopes are expanded by the SPEC §3 definition (listed rooms
plus current members of listed groups, or every room) into (assignment, room, permission)
policies, and membership (user → security group → assignment) is casbin role inheritance.
Every decision the service makes is compared with ``enforcer.enforce``; then the world is
changed (group membership, security-group membership, revocation) and compared again, which
checks that changes apply on the very next request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import casbin
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import World, expect

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
    "tickets.view",
    "groups.view",
    "reports.view",
]


@dataclass
class Spec:
    rooms: int
    groups: list[set[int]]
    users: list[bool]  # is Global admin
    sec_groups: list[set[int]]
    roles: list[set[str]]
    assignments: list[dict[str, Any]] = field(default_factory=list)


@st.composite
def worlds(draw: st.DrawFn) -> Spec:
    n_rooms = draw(st.integers(1, 5))
    rooms = st.sets(st.integers(0, n_rooms - 1), max_size=n_rooms)
    groups = draw(st.lists(st.sets(st.integers(0, n_rooms - 1), min_size=1, max_size=n_rooms), max_size=3))
    n_users = draw(st.integers(1, 4))
    users = draw(
        st.lists(
            st.booleans().map(lambda b: b and draw(st.integers(0, 4)) == 0),
            min_size=n_users,
            max_size=n_users,
        )
    )
    sec_groups = draw(st.lists(st.sets(st.integers(0, n_users - 1), max_size=n_users), max_size=2))
    roles = draw(st.lists(st.sets(st.sampled_from(ROOM_PERMS), min_size=1), min_size=1, max_size=3))
    spec = Spec(n_rooms, groups, users, sec_groups, roles)
    for _ in range(draw(st.integers(1, 4))):
        scope_all = draw(st.booleans()) and draw(st.booleans())
        spec.assignments.append(
            {
                "role": draw(st.integers(0, len(roles) - 1)),
                "users": draw(
                    st.sets(st.integers(0, n_users - 1), min_size=0 if sec_groups else 1, max_size=2)
                ),
                "sec_groups": draw(st.sets(st.integers(0, len(sec_groups) - 1), max_size=2))
                if sec_groups
                else set(),
                "all": scope_all,
                "rooms": set() if scope_all else draw(rooms),
                "groups": set()
                if scope_all or not groups
                else draw(st.sets(st.integers(0, len(groups) - 1))),
            }
        )
    return spec


class Reference:
    """SPEC §2-3 without the service's code: scope expansion here, inheritance in casbin."""

    def __init__(self, spec: Spec, tmp: Path) -> None:
        path = tmp / f"model-{uuid.uuid4().hex}.conf"
        path.write_text(MODEL)
        self.spec = spec
        self.enforcer = casbin.Enforcer(str(path))
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
            effective = (
                set(rooms)
                if asg["all"]
                else set(asg["rooms"]).union(*(spec.groups[g] for g in asg["groups"]))
            )
            for r in effective:
                for perm in spec.roles[asg["role"]]:
                    self.enforcer.add_policy(f"a{a}", f"r{r}", perm)

    def may(self, user: int, room: int, perm: str) -> bool:
        return bool(self.enforcer.enforce(f"u{user}", f"r{room}", perm))

    def holds(self, user: int, perm: str) -> bool:
        """Holds the permission at all: through an assignment (whatever its scope) or as GA."""
        return self.spec.users[user] or any(
            perm in self.spec.roles[asg["role"]] and self._member(user, a)
            for a, asg in enumerate(self.spec.assignments)
        )

    def group_visible(self, user: int, g: int) -> bool:
        if not self.holds(user, "groups.view"):
            return False
        named = (
            any(
                g in asg["groups"] or asg["all"]
                for a, asg in enumerate(self.spec.assignments)
                if "groups.view" in self.spec.roles[asg["role"]] and self._member(user, a)
            )
            or self.spec.users[user]
        )
        return named or any(self.may(user, r, "groups.view") for r in self.spec.groups[g])

    def _member(self, user: int, a: int) -> bool:
        asg = self.spec.assignments[a]
        return user in asg["users"] or any(user in self.spec.sec_groups[s] for s in asg["sec_groups"])


def build(w: World, spec: Spec) -> dict[str, Any]:
    t = w.tenant()
    rooms = [w.room(t)["id"] for _ in range(spec.rooms)]
    tickets = [w.incident(t, r)["id"] for r in rooms]
    groups = [w.room_group(t, [rooms[i] for i in sorted(members)])["id"] for members in spec.groups]
    users = [w.user(t, ga=ga) for ga in spec.users]
    sec_groups = [w.security_group(t, [users[u] for u in sorted(m)]) for m in spec.sec_groups]
    roles = [w.role(t, sorted(perms)) for perms in spec.roles]
    assignments = []
    for asg in spec.assignments:
        if not asg["users"] and not asg["sec_groups"]:
            assignments.append(None)
            continue
        scope = (
            {"all": True}
            if asg["all"]
            else {
                "rooms": [rooms[i] for i in sorted(asg["rooms"])],
                "room_groups": [groups[g] for g in sorted(asg["groups"])],
            }
        )
        assignments.append(
            w.assign(
                t,
                roles[asg["role"]],
                users=[users[u] for u in sorted(asg["users"])],
                groups=[sec_groups[s] for s in sorted(asg["sec_groups"])],
                scope=scope,
            )["id"]
        )
    return {
        "t": t,
        "rooms": rooms,
        "tickets": tickets,
        "groups": groups,
        "users": users,
        "sec_groups": sec_groups,
        "assignments": assignments,
    }


def compare(w: World, spec: Spec, built: dict[str, Any], ref: Reference) -> None:
    t, client = built["t"], w.client
    base = f"/api/v1/tenants/{t.id}"
    for u, user in enumerate(built["users"]):
        h = user.headers
        listed = {r["id"] for r in expect(client.get(f"{base}/rooms?limit=200", headers=h), 200)["items"]}
        assert listed == {built["rooms"][r] for r in range(spec.rooms) if ref.may(u, r, "rooms.view")}
        tickets = {x["id"] for x in expect(client.get(f"{base}/tickets?limit=200", headers=h), 200)["items"]}
        assert tickets == {built["tickets"][r] for r in range(spec.rooms) if ref.may(u, r, "tickets.view")}
        for r, room_id in enumerate(built["rooms"]):
            view = ref.may(u, r, "rooms.view")
            assert client.get(f"{base}/rooms/{room_id}", headers=h).status_code == (200 if view else 404)
            patch = client.patch(f"{base}/rooms/{room_id}", json={"city": "Lyon"}, headers=h).status_code
            assert patch == (404 if not view else 200 if ref.may(u, r, "rooms.modify") else 403)
            key = client.get(f"{base}/rooms/{room_id}/enrollment-key", headers=h).status_code
            assert key == (404 if not view else 200 if ref.may(u, r, "rooms.download_key") else 403)
        report = client.get(f"{base}/reports/health", headers=h)
        if ref.holds(u, "reports.view"):
            assert report.json()["total_rooms"] == sum(
                ref.may(u, r, "reports.view") for r in range(spec.rooms)
            )
        else:
            assert report.status_code == 403
        groups = {
            g["id"]: g for g in expect(client.get(f"{base}/room-groups?limit=200", headers=h), 200)["items"]
        }
        for g, group_id in enumerate(built["groups"]):
            assert (group_id in groups) == ref.group_visible(u, g), f"group {g} for user {u}"
            if group_id in groups:
                expected = sum(ref.may(u, r, "groups.view") for r in spec.groups[g])
                assert groups[group_id]["room_count"] == expected


def mutate(w: World, spec: Spec, built: dict[str, Any], choice: int) -> None:
    """One change a customer makes, mirrored in the spec."""
    t = built["t"]
    base = f"/api/v1/tenants/{t.id}"
    if choice == 0 and spec.groups:
        members = spec.groups[0]
        if members:
            members.discard(min(members))
        else:
            members.add(0)
        body = {"room_ids": [built["rooms"][i] for i in sorted(members)]}
        expect(
            w.client.patch(f"{base}/room-groups/{built['groups'][0]}", json=body, headers=t.admin.headers),
            200,
        )
    elif choice == 1 and spec.sec_groups:
        spec.sec_groups[0] = set() if spec.sec_groups[0] else {0}
        body = {"member_ids": [built["users"][u].id for u in sorted(spec.sec_groups[0])]}
        expect(
            w.client.patch(
                f"{base}/security-groups/{built['sec_groups'][0]}", json=body, headers=t.admin.headers
            ),
            200,
        )
    else:
        for a, assignment_id in enumerate(built["assignments"]):
            if assignment_id is not None:
                expect(w.client.delete(f"{base}/assignments/{assignment_id}", headers=t.admin.headers), 204)
                spec.assignments[a]["users"], spec.assignments[a]["sec_groups"] = set(), set()
                built["assignments"][a] = None
                return


@given(spec=worlds(), change=st.integers(0, 2))
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_service_decisions_match_the_reference_model(
    world: World, tmp_path: Path, spec: Spec, change: int
) -> None:
    built = build(world, spec)
    compare(world, spec, built, Reference(spec, tmp_path))
    mutate(world, spec, built, change)
    compare(world, spec, built, Reference(spec, tmp_path))


@pytest.mark.parametrize("perm", ROOM_PERMS)
def test_reference_model_itself_grants_by_scope(tmp_path: Path, perm: str) -> None:
    spec = Spec(
        rooms=3,
        groups=[{1}],
        users=[False],
        sec_groups=[{0}],
        roles=[{perm}],
        assignments=[
            {"role": 0, "users": set(), "sec_groups": {0}, "all": False, "rooms": {0}, "groups": {0}}
        ],
    )
    ref = Reference(spec, tmp_path)
    assert [ref.may(0, r, perm) for r in range(3)] == [True, True, False]
