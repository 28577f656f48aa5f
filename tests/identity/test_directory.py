"""Users and security groups, managed by Global admins."""

from __future__ import annotations

import uuid

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


def _users(t) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/tenants/{t.id}/users"


def test_upn_must_use_one_of_the_tenants_own_domains(world: World) -> None:
    t, other = world.tenant(), world.tenant()
    body = {"upn": f"mallory@{other.domain}", "display_name": "M", "password": PASSWORD}
    response = world.client.post(_users(t), json=body, headers=t.admin.headers)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    sub = {**body, "upn": f"mallory@sub.{t.domain}"}
    assert world.client.post(_users(t), json=sub, headers=t.admin.headers).status_code == 422
    listed = expect(world.client.get(_users(other), headers=other.admin.headers), 200)["items"]
    assert [u["upn"] for u in listed] == [other.admin.upn]


def test_non_global_admins_are_refused_every_directory_change(world: World) -> None:
    t = world.tenant()
    plain, msa = world.user(t), world.user(t)
    world.assign(t, t.roles["Managed Service Administrator"], users=[msa])
    target = world.user(t)
    sg = world.security_group(t, [target])
    for who in (plain, msa):
        calls = [
            world.client.post(
                _users(t),
                json={"upn": f"x{who.id[:4]}@{t.domain}", "display_name": "X", "password": PASSWORD},
                headers=who.headers,
            ),
            world.client.patch(f"{_users(t)}/{target.id}", json={"display_name": "Y"}, headers=who.headers),
            world.client.patch(f"{_users(t)}/{who.id}", json={"is_global_admin": True}, headers=who.headers),
            world.client.delete(f"{_users(t)}/{target.id}", headers=who.headers),
            world.client.post(
                f"/api/v1/tenants/{t.id}/security-groups", json={"name": "Mine"}, headers=who.headers
            ),
            world.client.patch(
                f"/api/v1/tenants/{t.id}/security-groups/{sg}", json={"member_ids": []}, headers=who.headers
            ),
            world.client.delete(f"/api/v1/tenants/{t.id}/security-groups/{sg}", headers=who.headers),
        ]
        assert [r.status_code for r in calls] == [403] * len(calls)
    me = expect(world.client.get("/api/v1/me", headers=plain.headers), 200)
    assert not me["user"]["is_global_admin"]
    group = expect(
        world.client.get(f"/api/v1/tenants/{t.id}/security-groups/{sg}", headers=t.admin.headers), 200
    )
    assert group["member_ids"] == [target.id]


def test_another_tenants_admin_sees_nothing_of_the_directory(world: World) -> None:
    t, other = world.tenant(), world.tenant()
    user = world.user(t)
    sg = world.security_group(t, [user])
    h = other.admin.headers
    base = f"/api/v1/tenants/{t.id}"
    calls = [
        world.client.get(f"{base}/users", headers=h),
        world.client.get(f"{base}/users/{user.id}", headers=h),
        world.client.patch(f"{base}/users/{user.id}", json={"display_name": "pwned"}, headers=h),
        world.client.delete(f"{base}/users/{user.id}", headers=h),
        world.client.post(
            f"{base}/users",
            json={"upn": f"z@{t.domain}", "display_name": "Z", "password": PASSWORD},
            headers=h,
        ),
        world.client.get(f"{base}/security-groups/{sg}", headers=h),
        world.client.patch(f"{base}/security-groups/{sg}", json={"name": "x"}, headers=h),
        world.client.delete(f"{base}/security-groups/{sg}", headers=h),
        # The other tenant's admin addressing this tenant's user under its own tenant path.
        world.client.get(f"/api/v1/tenants/{other.id}/users/{user.id}", headers=h),
        world.client.patch(
            f"/api/v1/tenants/{other.id}/users/{user.id}", json={"is_active": False}, headers=h
        ),
        world.client.delete(f"/api/v1/tenants/{other.id}/security-groups/{sg}", headers=h),
    ]
    assert [r.status_code for r in calls] == [404] * len(calls)
    assert expect(world.client.get(f"{base}/users/{user.id}", headers=t.admin.headers), 200)["is_active"]
    assert world.client.get("/api/v1/me", headers=user.headers).status_code == 200


def test_every_way_of_losing_the_last_global_admin_is_refused(world: World) -> None:
    t = world.tenant()
    second = world.user(t, ga=True)
    me = f"{_users(t)}/{t.admin.id}"
    # With two admins, one may step down; then the other is the last.
    expect(
        world.client.patch(f"{_users(t)}/{second.id}", json={"is_active": False}, headers=t.admin.headers),
        200,
    )
    for body in (
        {"is_global_admin": False},
        {"is_active": False},
        {"is_global_admin": False, "is_active": True},
    ):
        response = world.client.patch(me, json=body, headers=t.admin.headers)
        assert response.status_code == 409, body
        assert "last active Global admin" in response.json()["detail"]
    assert world.client.delete(me, headers=t.admin.headers).status_code == 409
    # A deactivated admin does not count; reactivating it makes a second active admin again.
    expect(
        world.client.patch(f"{_users(t)}/{second.id}", json={"is_active": True}, headers=t.admin.headers), 200
    )
    # Deactivation ended the second admin's earlier tokens, reactivation does not revive them.
    assert world.client.delete(me, headers=second.headers).status_code == 401
    second.headers = world.headers(second.id, t.id)
    expect(world.client.delete(me, headers=second.headers), 204)
    assert world.client.get("/api/v1/me", headers=t.admin.headers).status_code == 401
    assert world.client.delete(f"{_users(t)}/{second.id}", headers=second.headers).status_code == 409
    # Harmless changes to the last admin are fine.
    patched = world.client.patch(
        f"{_users(t)}/{second.id}",
        json={"display_name": "Still here", "is_active": True},
        headers=second.headers,
    )
    assert expect(patched, 200)["display_name"] == "Still here"


def test_a_promoted_user_manages_the_directory_and_a_demoted_one_no_longer(world: World) -> None:
    t = world.tenant()
    user = world.user(t)
    assert world.client.get(_users(t), headers=user.headers).status_code == 403
    expect(
        world.client.patch(f"{_users(t)}/{user.id}", json={"is_global_admin": True}, headers=t.admin.headers),
        200,
    )
    expect(world.client.get(_users(t), headers=user.headers), 200)  # the same token, the next request
    expect(
        world.client.patch(
            f"{_users(t)}/{user.id}", json={"is_global_admin": False}, headers=t.admin.headers
        ),
        200,
    )
    assert world.client.get(_users(t), headers=user.headers).status_code == 403


def test_users_are_paginated_and_searchable(world: World) -> None:
    t = world.tenant()
    made = [world.user(t, name="pager") for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = expect(world.client.get(_users(t), params=params, headers=t.admin.headers), 200)
        assert len(page["items"]) <= 2
        seen += [u["id"] for u in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [t.admin.id, *(u.id for u in made)]
    found = expect(world.client.get(_users(t), params={"q": "PAGER"}, headers=t.admin.headers), 200)["items"]
    assert len(found) == 5


def test_security_group_members_must_be_users_of_the_tenant(world: World) -> None:
    t, other = world.tenant(), world.tenant()
    mine, theirs = world.user(t), world.user(other)
    base = f"/api/v1/tenants/{t.id}/security-groups"
    h = t.admin.headers
    for members in ([theirs.id], [str(uuid.uuid4())], [mine.id, theirs.id]):
        response = world.client.post(base, json={"name": "G", "member_ids": members}, headers=h)
        assert response.status_code == 422, members
    assert expect(world.client.get(base, headers=h), 200)["items"] == []
    sg = expect(world.client.post(base, json={"name": "G", "member_ids": [mine.id, mine.id]}, headers=h), 201)
    assert sg["member_ids"] == [mine.id]  # duplicates collapse


def test_security_groups_rename_conflict_and_delete(world: World) -> None:
    t = world.tenant()
    a, b = world.user(t), world.user(t)
    base = f"/api/v1/tenants/{t.id}/security-groups"
    h = t.admin.headers
    one = expect(world.client.post(base, json={"name": "One", "member_ids": [a.id]}, headers=h), 201)
    two = expect(world.client.post(base, json={"name": "Two"}, headers=h), 201)
    assert world.client.patch(f"{base}/{two['id']}", json={"name": "One"}, headers=h).status_code == 409
    renamed = expect(world.client.patch(f"{base}/{two['id']}", json={"name": "  Deux  "}, headers=h), 200)
    assert renamed["name"] == "Deux" and renamed["member_ids"] == []
    both = expect(
        world.client.patch(f"{base}/{one['id']}", json={"member_ids": [a.id, b.id]}, headers=h), 200
    )
    assert both["member_ids"] == sorted([a.id, b.id])
    expect(world.client.delete(f"{base}/{one['id']}", headers=h), 204)
    assert world.client.get(f"{base}/{one['id']}", headers=h).status_code == 404
    assert world.client.delete(f"{base}/{one['id']}", headers=h).status_code == 404
    # Deleting a user removes it from its groups.
    expect(world.client.patch(f"{base}/{two['id']}", json={"member_ids": [b.id]}, headers=h), 200)
    expect(world.client.delete(f"/api/v1/tenants/{t.id}/users/{b.id}", headers=h), 204)
    assert expect(world.client.get(f"{base}/{two['id']}", headers=h), 200)["member_ids"] == []
