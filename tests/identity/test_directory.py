"""Users and security groups, managed by Global admins."""

from __future__ import annotations

from tests.factories import PASSWORD, World, expect


def test_global_admin_manages_users(world: World) -> None:
    t = world.tenant()
    base = f"/api/v1/tenants/{t.id}/users"
    created = expect(
        world.client.post(
            base,
            json={"upn": f"Ann@{t.domain}", "display_name": "Ann", "password": PASSWORD},
            headers=t.admin.headers,
        ),
        201,
    )
    assert created["upn"] == f"ann@{t.domain}" and not created["is_global_admin"]
    dup = world.client.post(
        base,
        json={"upn": f"ann@{t.domain}", "display_name": "Ann 2", "password": PASSWORD},
        headers=t.admin.headers,
    )
    assert dup.status_code == 409
    foreign = world.client.post(
        base,
        json={"upn": "ann@elsewhere.example", "display_name": "A", "password": PASSWORD},
        headers=t.admin.headers,
    )
    assert foreign.status_code == 422 and t.domain in foreign.json()["detail"]
    found = expect(world.client.get(f"{base}?q=ann", headers=t.admin.headers), 200)["items"]
    assert [u["id"] for u in found] == [created["id"]]
    patched = expect(
        world.client.patch(
            f"{base}/{created['id']}", json={"display_name": "Ann B"}, headers=t.admin.headers
        ),
        200,
    )
    assert patched["display_name"] == "Ann B"
    expect(world.client.delete(f"{base}/{created['id']}", headers=t.admin.headers), 204)
    assert world.client.get(f"{base}/{created['id']}", headers=t.admin.headers).status_code == 404


def test_directory_is_for_global_admins_only(world: World) -> None:
    t, other = world.tenant(), world.tenant()
    msa = world.user(t)
    world.assign(t, t.roles["Managed Service Administrator"], users=[msa])
    assert world.client.get(f"/api/v1/tenants/{t.id}/users", headers=msa.headers).status_code == 403
    assert world.client.get(f"/api/v1/tenants/{t.id}/users", headers=other.admin.headers).status_code == 404
    assert (
        world.client.get(
            f"/api/v1/tenants/{t.id}/users/{t.admin.id}", headers=other.admin.headers
        ).status_code
        == 404
    )


def test_the_last_active_global_admin_stays(world: World) -> None:
    t = world.tenant()
    base = f"/api/v1/tenants/{t.id}/users/{t.admin.id}"
    for body in ({"is_global_admin": False}, {"is_active": False}):
        assert world.client.patch(base, json=body, headers=t.admin.headers).status_code == 409
    assert world.client.delete(base, headers=t.admin.headers).status_code == 409
    second = world.user(t, ga=True)
    expect(world.client.patch(base, json={"is_global_admin": False}, headers=second.headers), 200)
    assert (
        world.client.delete(f"/api/v1/tenants/{t.id}/users/{second.id}", headers=second.headers).status_code
        == 409
    )


def test_security_groups_and_their_members(world: World) -> None:
    t, other = world.tenant(), world.tenant()
    a, b = world.user(t), world.user(t)
    outsider = world.user(other)
    base = f"/api/v1/tenants/{t.id}/security-groups"
    sg = expect(
        world.client.post(base, json={"name": "Ops", "member_ids": [a.id]}, headers=t.admin.headers), 201
    )
    assert sg["member_ids"] == [a.id]
    assert world.client.post(base, json={"name": "Ops"}, headers=t.admin.headers).status_code == 409
    bad = world.client.patch(
        f"{base}/{sg['id']}", json={"member_ids": [outsider.id]}, headers=t.admin.headers
    )
    assert bad.status_code == 422
    moved = expect(
        world.client.patch(f"{base}/{sg['id']}", json={"member_ids": [b.id]}, headers=t.admin.headers), 200
    )
    assert moved["member_ids"] == [b.id]
    listed = expect(world.client.get(base, headers=t.admin.headers), 200)["items"]
    assert [(g["name"], g["member_ids"]) for g in listed] == [("Ops", [b.id])]
    expect(world.client.delete(f"{base}/{sg['id']}", headers=t.admin.headers), 204)


def test_group_membership_grants_and_revokes_on_the_next_request(world: World) -> None:
    t = world.tenant()
    user = world.user(t)
    room = world.room(t)
    sg = world.security_group(t, [user])
    world.assign(t, t.roles["Site Tech"], groups=[sg], scope={"rooms": [room["id"]]})
    url = f"/api/v1/tenants/{t.id}/rooms/{room['id']}"
    assert world.client.get(url, headers=user.headers).status_code == 200
    expect(
        world.client.patch(
            f"/api/v1/tenants/{t.id}/security-groups/{sg}", json={"member_ids": []}, headers=t.admin.headers
        ),
        200,
    )
    assert world.client.get(url, headers=user.headers).status_code == 404
