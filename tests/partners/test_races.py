"""Races over partner state, through a real server: two accepts of one invitation, and two
removals of the last Primary admins at once."""

from __future__ import annotations

from tests.concurrency.conftest import live_url  # noqa: F401
from tests.concurrency.test_races import race
from tests.factories import World, expect
from tests.partners.helpers import invite


def test_concurrent_accepts_establish_exactly_one_link(world: World, live_url: str) -> None:  # noqa: F811
    c, p = world.tenant(), world.tenant()
    admins = [p.admin, *(world.user(p, ga=True) for _ in range(4))]
    inv = invite(world, c, p)
    url = f"{live_url}/api/v1/partner/invitations/{inv['id']}/accept"
    results = race([lambda client, u=u: client.post(url, headers=u.headers) for u in admins])
    assert sorted(r.status_code for r in results) == [201] + [409] * (len(admins) - 1)
    links = expect(world.client.get(f"/api/v1/tenants/{c.id}/partners", headers=c.admin.headers), 200)[
        "items"
    ]
    assert len(links) == 1 and links[0]["status"] == "active"


def test_racing_removal_of_the_last_primary_admins_keeps_one(world: World, live_url: str) -> None:  # noqa: F811
    c, p = world.tenant(), world.tenant()
    a, b = world.user(p), world.user(p)
    inv = invite(world, c, p)
    body = {"primary_admins": [{"type": "user", "id": a.id}, {"type": "user", "id": b.id}]}
    expect(
        world.client.post(
            f"/api/v1/partner/invitations/{inv['id']}/accept", json=body, headers=p.admin.headers
        ),
        201,
    )
    base = f"{live_url}/api/v1/tenants/{p.id}/users"
    results = race(
        [lambda client, u=u: client.delete(f"{base}/{u.id}", headers=p.admin.headers) for u in (a, b)]
    )
    assert sorted(r.status_code for r in results) == [204, 409]
    role = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/roles?kind=partner_builtin", headers=c.admin.headers), 200
    )["items"][0]
    assignments = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/roles/{role['id']}/assignments", headers=c.admin.headers),
        200,
    )["items"]
    assert len(assignments[0]["members"]) == 1
