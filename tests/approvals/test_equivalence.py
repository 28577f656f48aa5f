"""Property: a sequence of partner actions held and then approved one by one leaves the
customer in exactly the state the same actions leave under ``auto`` — and every action the
direct path refuses is refused identically when held."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.approvals.helpers import ALL_MANUAL, Linked, approve, as_user, linked, ring_ids
from tests.factories import World, expect

RINGS = ("General", "Validation")
op = st.one_of(
    st.tuples(
        st.just("room"),
        st.integers(0, 1),
        st.sampled_from(["name", "city", "building"]),
        st.sampled_from(["A", "B"]),
    ),
    st.tuples(st.just("move"), st.integers(0, 1), st.sampled_from(RINGS)),
    st.tuples(st.just("incident"), st.integers(0, 1), st.sampled_from(["Screen", "Camera"])),
    st.tuples(
        st.just("ticket"),
        st.integers(0, 3),
        st.sampled_from([None, "in_progress", "resolved", "closed", "open"]),
        st.sampled_from([None, "looked", "fixed"]),
    ),
    st.tuples(st.just("role"), st.sampled_from(["Desk", "Night"])),
    st.tuples(st.just("role_desc"), st.sampled_from(["Desk", "Night"]), st.sampled_from(["one", "two"])),
    st.tuples(st.just("ring"), st.sampled_from(RINGS), st.integers(0, 3)),
)


class Side:
    """One customer-partner pair and the ids its actions made."""

    def __init__(self, world: World, policy: dict[str, str]) -> None:
        self.world = world
        self.x: Linked = linked(world, policy)
        c = self.x.customer
        self.rooms = [world.room(c)["id"], world.room(c)["id"]]
        self.tickets = [world.incident(c, self.rooms[0])["id"]]
        self.rings = ring_ids(world, c)
        self.roles: dict[str, str] = {}

    def request(self, action: tuple[Any, ...]) -> tuple[str, str, Any] | None:
        kind = action[0]
        if kind == "room":
            return "PATCH", f"/rooms/{self.rooms[action[1]]}", {action[2]: f"{action[2]} {action[3]}"}
        if kind == "move":
            return "PATCH", f"/rooms/{self.rooms[action[1]]}", {"update_ring_id": self.rings[action[2]]}
        if kind == "incident":
            return (
                "POST",
                "/incidents",
                {"room_id": self.rooms[action[1]], "title": action[2], "severity": "warning"},
            )
        if kind == "ticket":
            body = {k: v for k, v in (("status", action[2]), ("comment", action[3])) if v is not None}
            if not body or action[1] >= len(self.tickets):
                return None
            return "PATCH", f"/tickets/{self.tickets[action[1]]}", body
        if kind == "role":
            return "POST", "/roles", {"name": action[1], "permissions": ["tickets.view"]}
        if kind == "role_desc":
            return (
                ("PATCH", f"/roles/{self.roles[action[1]]}", {"description": action[2]})
                if action[1] in self.roles
                else None
            )
        return "PATCH", f"/update-rings/{self.rings[action[1]]}", {"deferral_days": action[2]}

    def act(self, action: tuple[Any, ...]) -> tuple[int, Any]:
        """Do the action as the partner; a held one is approved at once. Returns the direct
        path's status (202 for held) and the object made, if any."""
        req = self.request(action)
        if req is None:
            return 0, None
        r = as_user(self.world, self.x.customer, self.x.primary, *req)
        made = r.json() if r.status_code in (200, 201) else None
        if r.status_code == 202:
            decided = expect(approve(self.world, self.x.customer, r.json()["id"]), 200)
            made = {"id": decided["result_id"]} if decided["result_id"] else None
        if made and action[0] == "incident":
            self.tickets.append(made["id"])
        if made and action[0] == "role":
            self.roles[action[1]] = made["id"]
        return r.status_code, made

    def state(self) -> dict[str, Any]:
        c, w = self.x.customer, self.world

        def get(path: str) -> Any:
            return expect(as_user(w, c, c.admin, "GET", path), 200)

        ring_names = {v: k for k, v in self.rings.items()}
        rooms = [get(f"/rooms/{r}") for r in self.rooms]
        tickets = [get(f"/tickets/{t}") for t in self.tickets]
        roles = get("/roles?kind=partner_custom")["items"]
        rings = get("/update-rings")["items"]
        return {
            "rooms": [
                (
                    r["name"].split(" ", 1)[-1] if r["name"].startswith("name ") else "orig",
                    r["city"],
                    r["building"],
                    ring_names[r["update_ring_id"]],
                )
                for r in rooms
            ],
            "tickets": [
                (
                    "orig" if t["title"].startswith("Incident ") else t["title"],
                    t["status"],
                    self.rooms.index(t["room_id"]),
                    [(u["status_from"], u["status_to"], u["comment"]) for u in t["updates"]],
                )
                for t in tickets
            ],
            "roles": sorted((r["name"], r["description"], tuple(r["permissions"])) for r in roles),
            "rings": sorted((r["name"], r["deferral_days"]) for r in rings),
        }


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=st.lists(op, min_size=1, max_size=6))
def test_held_then_approved_equals_auto(world: World, actions: list[tuple[Any, ...]]) -> None:
    auto, manual = Side(world, {}), Side(world, ALL_MANUAL)
    for action in actions:
        direct, _ = auto.act(action)
        held, _ = manual.act(action)
        if 200 <= direct < 300:
            assert held == 202, (action, direct, held)
        else:
            assert held == direct, (action, direct, held)
    assert manual.state() == auto.state()
