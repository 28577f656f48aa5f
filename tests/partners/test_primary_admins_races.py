"""Issue 9, M1: every pair of paths that can take a link's last live Primary admin away, run at
the same instant through a real server. Each pair is harmless alone and fatal together; the
database must let exactly one through, on PostgreSQL and on SQLite, and never deadlock.

A live member is an active user of the partner, named directly or through a named security
group. The invariant is checked with SQL of its own, not with the service's code."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from sqlalchemy import Uuid, bindparam, text

from tests.concurrency.conftest import live_url  # noqa: F401
from tests.concurrency.test_races import race
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import accept, invite

ROUNDS = 3
LIVE = text(
    """
    SELECT count(*) FROM users u
    WHERE u.is_active AND (
        u.id IN (SELECT m.user_id FROM assignment_members m WHERE m.assignment_id = :a)
        OR u.id IN (
            SELECT g.user_id FROM security_group_members g
            JOIN assignment_members m ON m.group_id = g.group_id
            WHERE m.assignment_id = :a
        )
    )
    """
).bindparams(bindparam("a", type_=Uuid()))


@dataclass
class Link:
    world: World
    base: str
    customer: TenantH
    partner: TenantH
    users: dict[str, UserH]
    groups: dict[str, str]
    assignment: str  # "" while the invitation is pending
    invitation: str = ""

    def members(self, *names: str) -> list[dict[str, str]]:
        return [
            {"type": "group", "id": self.groups[n]}
            if n in self.groups
            else {"type": "user", "id": self.users[n].id}
            for n in names
        ]

    def established(self, lk: dict[str, Any]) -> None:
        """The link ``lk`` (an acceptance's answer) now exists: note its Primary admins."""
        url = f"/api/v1/tenants/{self.customer.id}/roles/{lk['primary_admins_role_id']}/assignments"
        found = expect(self.world.client.get(url, headers=self.customer.admin.headers), 200)["items"]
        self.assignment = found[0]["id"]

    def live(self) -> int:
        with self.world.transaction(write=False) as session:
            return session.scalar(LIVE, {"a": uuid.UUID(self.assignment)}) or 0


def _link(world: World, base: str, primary: list[str], groups: dict[str, list[str]]) -> Link:
    """Users a, b, c of the partner; ``groups`` name security groups of them; ``primary`` the
    Primary admins (user or group names). No ``primary``: the invitation stays pending."""
    c, p = world.tenant(), world.tenant()
    users = {n: world.user(p, name=n) for n in ("a", "b", "c")}
    sgs = {g: world.security_group(p, [users[u] for u in members]) for g, members in groups.items()}
    link = Link(world, base, c, p, users, sgs, "", invite(world, c, p)["id"])
    if primary:
        link.established(expect(accept(world, p.admin, link.invitation, link.members(*primary)), 201))
    return link


Call = Callable[[Link], Callable[[httpx2.Client], Any]]


def swap(actor: str, *to: str) -> Call:
    return lambda lk: (
        lambda client: client.patch(
            f"{lk.base}/api/v1/tenants/{lk.customer.id}/assignments/{lk.assignment}",
            json={"members": lk.members(*to)},
            headers=lk.users[actor].headers,
        )
    )


def accept_naming(*names: str) -> Call:
    """The partner's Global admin accepts the pending invitation with ``names`` as Primary admins."""
    return lambda lk: (
        lambda client: client.post(
            f"{lk.base}/api/v1/partner/invitations/{lk.invitation}/accept",
            json={"primary_admins": lk.members(*names)},
            headers=lk.partner.admin.headers,
        )
    )


def deactivate(user: str) -> Call:
    return lambda lk: (
        lambda client: client.patch(
            f"{lk.base}/api/v1/tenants/{lk.partner.id}/users/{lk.users[user].id}",
            json={"is_active": False},
            headers=lk.partner.admin.headers,
        )
    )


def delete_user(user: str) -> Call:
    return lambda lk: (
        lambda client: client.delete(
            f"{lk.base}/api/v1/tenants/{lk.partner.id}/users/{lk.users[user].id}",
            headers=lk.partner.admin.headers,
        )
    )


def empty_group(group: str) -> Call:
    return lambda lk: (
        lambda client: client.patch(
            f"{lk.base}/api/v1/tenants/{lk.partner.id}/security-groups/{lk.groups[group]}",
            json={"member_ids": []},
            headers=lk.partner.admin.headers,
        )
    )


def delete_group(group: str) -> Call:
    return lambda lk: (
        lambda client: client.delete(
            f"{lk.base}/api/v1/tenants/{lk.partner.id}/security-groups/{lk.groups[group]}",
            headers=lk.partner.admin.headers,
        )
    )


# (name, Primary admins, security groups, the two racing calls)
PAIRS: list[tuple[str, list[str], dict[str, list[str]], Call, Call]] = [
    ("swap vs deactivate", ["a"], {}, swap("a", "b"), deactivate("b")),
    ("swap vs delete user", ["a"], {}, swap("a", "b"), delete_user("b")),
    ("swap vs group members", ["a"], {"g": ["b"]}, swap("a", "g"), empty_group("g")),
    ("swap vs group deletion", ["a"], {"g": ["b"]}, swap("a", "g"), delete_group("g")),
    ("deactivate vs deactivate", ["a", "b"], {}, deactivate("a"), deactivate("b")),
    ("deactivate vs delete user", ["a", "b"], {}, deactivate("a"), delete_user("b")),
    ("deactivate vs group members", ["a", "g"], {"g": ["b"]}, deactivate("a"), empty_group("g")),
    ("delete user vs group deletion", ["a", "g"], {"g": ["b"]}, delete_user("a"), delete_group("g")),
    (
        "group members vs group deletion",
        ["g", "h"],
        {"g": ["a"], "h": ["b"]},
        empty_group("g"),
        delete_group("h"),
    ),
    ("deactivate member of the group vs swap", ["a", "g"], {"g": ["b"]}, deactivate("b"), swap("a", "g")),
    # acceptance: the invitation is pending (no Primary admins yet) and names b, or group g
    ("accept naming b vs deactivate b", [], {}, accept_naming("b"), deactivate("b")),
    ("accept naming g vs group members", [], {"g": ["b"]}, accept_naming("g"), empty_group("g")),
]


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("pair", PAIRS, ids=[p[0] for p in PAIRS])
def test_racing_removals_keep_a_live_primary_admin(
    world: World,
    live_url: str,  # noqa: F811
    pair: tuple[str, list[str], dict[str, list[str]], Call, Call],
    round_: int,
) -> None:
    _name, primary, groups, first, second = pair
    link = _link(world, live_url, primary, groups)
    assert not primary or link.live() >= 1
    answers = race([first(link), second(link)])
    statuses = sorted(r.status_code for r in answers)
    ok = [s for s in statuses if s < 300]
    refused = [s for s in statuses if s >= 300]
    assert len(ok) == 1 and refused[0] in (409, 422), statuses
    if not primary:  # an acceptance raced: a link exists only if it won, and then it has a live member
        accepted = [r.json() for r in answers if r.status_code == 201]
        partners = f"/api/v1/tenants/{link.customer.id}/partners"
        listed = expect(world.client.get(partners, headers=link.customer.admin.headers), 200)["items"]
        assert [x["id"] for x in listed] == [x["id"] for x in accepted], statuses
        if not accepted:
            return
        link.established(accepted[0])
    assert link.live() >= 1
