"""The operator's tenant administration over HTTP: list, show, rename, domains, delete;
every change recorded in the tenant's log with the operator as actor."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import PASSWORD, World, expect
from tests.partners.helpers import in_customer, link

OP = "/api/v1/operator/tenants"


def audit(world: World, tenant: Any, category: str) -> list[dict[str, Any]]:
    page = expect(
        world.client.get(f"/api/v1/tenants/{tenant.id}/audit-logs?limit=200", headers=tenant.admin.headers),
        200,
    )
    # Oldest first, whatever order the listing defaults to.
    return sorted((r for r in page["items"] if r["category"] == category), key=lambda r: r["seq"])


def test_operator_routes_need_the_operator_token(world: World) -> None:
    t = world.tenant()
    for method, path in [
        ("GET", OP),
        ("GET", f"{OP}/{t.id}"),
        ("PATCH", f"{OP}/{t.id}"),
        ("DELETE", f"{OP}/{t.id}?confirm=true"),
        ("POST", f"{OP}/{t.id}/domains"),
        ("DELETE", f"{OP}/{t.id}/domains/{t.domain}"),
    ]:
        for headers in ({}, {"Authorization": "Bearer nope-nope-nope-nope"}, t.admin.headers):
            assert world.client.request(method, path, headers=headers, json={}).status_code == 401
    expect(world.client.get(f"{OP}/{t.id}", headers=world.operator), 200)


def test_list_pages_through_every_tenant_and_searches(world: World) -> None:
    mine = [world.tenant(f"Listed {world.tag} {i}") for i in range(3)]
    found = expect(world.client.get(f"{OP}?q=listed {world.tag}&limit=2", headers=world.operator), 200)
    assert [x["name"] for x in found["items"]] == [t.name for t in mine[:2]]
    rest = expect(
        world.client.get(
            f"{OP}?q=listed {world.tag}&limit=2&cursor={found['next_cursor']}", headers=world.operator
        ),
        200,
    )
    assert [x["name"] for x in rest["items"]] == [mine[2].name] and rest["next_cursor"] is None
    by_domain = expect(world.client.get(f"{OP}?q={mine[1].domain}", headers=world.operator), 200)
    assert [x["id"] for x in by_domain["items"]] == [mine[1].id]


def test_show_gives_domains_and_sizes(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    world.room(c)
    world.user(c)
    link(world, c, p)
    got = expect(world.client.get(f"{OP}/{c.id}", headers=world.operator), 200)
    assert got["domains"] == [c.domain]
    assert (got["users"], got["rooms"], got["partners"], got["customers"]) == (2, 1, 1, 0)
    assert expect(world.client.get(f"{OP}/{p.id}", headers=world.operator), 200)["customers"] == 1


def test_rename_and_domains_are_recorded_with_the_operator_as_actor(world: World) -> None:
    t = world.tenant()
    extra = f"more-{world.tag}.example.org"
    got = expect(
        world.client.patch(
            f"{OP}/{t.id}", json={"name": "Renamed", "add_domains": [extra]}, headers=world.operator
        ),
        200,
    )
    assert got["name"] == "Renamed" and got["domains"] == sorted([t.domain, extra])
    rec = audit(world, t, "Tenant")[-1]
    assert rec["operation"] == "Update" and rec["user_id"] == "operator"
    assert rec["details"]["name"] == {"from": t.name, "to": "Renamed"}
    assert rec["details"]["domains"] == {"added": [extra], "removed": []}
    # A no-op change writes nothing.
    expect(world.client.patch(f"{OP}/{t.id}", json={"name": "Renamed"}, headers=world.operator), 200)
    assert len(audit(world, t, "Tenant")) == 2
    # The domain can now sign users in, then not be removed while they use it.
    expect(
        world.post(
            t, "/users", {"upn": f"x@{extra}", "display_name": "X", "password": "correct horse battery"}
        ),
        201,
    )
    r = world.client.delete(f"{OP}/{t.id}/domains/{extra}", headers=world.operator)
    assert r.status_code == 409 and "sign in with" in r.json()["detail"]


def test_domain_rules(world: World) -> None:
    a, b = world.tenant(), world.tenant()
    taken = world.client.post(f"{OP}/{a.id}/domains", json={"domain": b.domain}, headers=world.operator)
    assert taken.status_code == 409
    bad = world.client.post(f"{OP}/{a.id}/domains", json={"domain": "not a domain"}, headers=world.operator)
    assert bad.status_code == 422
    # The last domain stays (and it is still used by the admin's UPN).
    last = world.client.patch(f"{OP}/{a.id}", json={"remove_domains": [a.domain]}, headers=world.operator)
    assert last.status_code == 422 and "at least one domain" in last.json()["detail"]
    absent = world.client.delete(f"{OP}/{a.id}/domains/nope-{world.tag}.example", headers=world.operator)
    assert absent.status_code == 404
    spare = f"spare-{world.tag}.example.net"
    expect(
        world.client.post(f"{OP}/{a.id}/domains", json={"domain": spare.upper()}, headers=world.operator), 201
    )
    expect(world.client.delete(f"{OP}/{a.id}/domains/{spare}", headers=world.operator), 204)
    assert expect(world.client.get(f"{OP}/{a.id}", headers=world.operator), 200)["domains"] == [a.domain]
    for body in ({"name": None}, {"name": ""}, {"domains": []}, {"colour": "red"}, {"name": "a\r\nb"}):
        assert world.client.patch(f"{OP}/{a.id}", json=body, headers=world.operator).status_code == 422


@pytest.mark.parametrize("bad", ["Evil\r\nBcc: all@example.com", "a\nb", "a\x07b", "a\x1bb", "a\u2028b"])
@pytest.mark.parametrize("field", ["name", "admin.display_name"])
def test_tenant_creation_refuses_control_characters_in_names(world: World, field: str, bad: str) -> None:
    """Issue 9, L4: a tenant's name (and its first admin's) ends up in mail headers; the
    original attack was a CR/LF in the name given at creation."""
    domain = f"cc-{world.tag}.example.com"
    admin = {"upn": f"admin@{domain}", "display_name": "Admin", "password": PASSWORD}
    body = {"name": f"Clean {world.tag}", "domains": [domain], "admin": admin}
    poisoned = {**body, "name": bad} if field == "name" else {**body, "admin": {**admin, "display_name": bad}}
    refused = world.client.post(OP, json=poisoned, headers=world.operator)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "one line" in detail and field.split(".")[-1] in detail, detail
    expect(world.client.post(OP, json=body, headers=world.operator), 201)  # the clean body is accepted


@pytest.mark.parametrize("ref", ["00000000-0000-7000-8000-000000000000", "not-a-uuid"])
def test_unknown_tenants_answer_404_or_422(world: World, ref: str) -> None:
    status = world.client.get(f"{OP}/{ref}", headers=world.operator).status_code
    assert status == (404 if "-7000-" in ref else 422)


def test_delete_needs_confirmation_and_ends_links_on_both_sides(world: World) -> None:
    customer, doomed, its_customer = world.tenant(), world.tenant(), world.tenant()
    room = world.room(customer)
    link(world, customer, doomed)
    link(world, doomed, its_customer)
    tech = doomed.admin
    assert in_customer(world, customer, tech, "GET", f"/rooms/{room['id']}").status_code == 200
    refused = world.client.delete(f"{OP}/{doomed.id}", headers=world.operator)
    assert refused.status_code == 422 and "confirm" in refused.json()["detail"]
    expect(world.client.delete(f"{OP}/{doomed.id}?confirm=true", headers=world.operator), 204)
    assert world.client.get(f"{OP}/{doomed.id}", headers=world.operator).status_code == 404
    assert world.client.delete(f"{OP}/{doomed.id}?confirm=true", headers=world.operator).status_code == 404
    # Its users are gone everywhere; the other tenants recorded the end of each link.
    assert in_customer(world, customer, tech, "GET", f"/rooms/{room['id']}").status_code == 401
    ended = [r for r in audit(world, customer, "Partner") if r["operation"] == "Delete"]
    assert ended and ended[-1]["user_id"] == "operator"
    told = [r for r in audit(world, its_customer, "Partner") if r["operation"] == "Delete"]
    assert told and told[-1]["details"]["reason"] == "customer tenant deleted"
    # The domain is free again.
    again = world.client.post(
        OP,
        json={
            "name": "Reborn",
            "domains": [doomed.domain],
            "admin": {
                "upn": f"admin@{doomed.domain}",
                "display_name": "A",
                "password": "correct horse battery",
            },
        },
        headers=world.operator,
    )
    assert again.status_code == 201
