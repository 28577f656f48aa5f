"""Sign-in, tokens, throttling, and revocation on the next request."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey

from roomwarden.app import create_app
from roomwarden.identity.tokens import issue_token
from roomwarden.kit.db import Database
from tests.factories import PASSWORD, World, expect


def sign_in(client: TestClient, username: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/token", data={"username": username, "password": password, **extra})


def test_sign_in_issues_a_usable_token(world: World) -> None:
    t = world.tenant()
    body = expect(sign_in(world.client, t.admin.upn.upper()), 200)
    assert body["token_type"] == "bearer" and body["expires_in"] == world.settings.token_ttl_seconds
    me = expect(
        world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}), 200
    )
    assert me["user"]["upn"] == t.admin.upn and me["tenant"]["id"] == t.id
    assert [x["id"] for x in me["tenants"]] == [t.id]
    assert "password" not in str(me)


def test_wrong_password_and_unknown_user_look_the_same(world: World) -> None:
    t = world.tenant()
    wrong = sign_in(world.client, t.admin.upn, "wrong password")
    unknown = sign_in(world.client, f"nobody@{t.domain}", "wrong password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["content-type"] == "application/problem+json"


def test_deactivated_user_cannot_sign_in_and_its_token_stops_working(world: World) -> None:
    t = world.tenant()
    user = world.user(t)
    token = expect(sign_in(world.client, user.upn), 200)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    expect(world.client.get("/api/v1/me", headers=headers), 200)
    expect(
        world.client.patch(
            f"/api/v1/tenants/{t.id}/users/{user.id}", json={"is_active": False}, headers=t.admin.headers
        ),
        200,
    )
    assert world.client.get("/api/v1/me", headers=headers).status_code == 401
    assert sign_in(world.client, user.upn).status_code == 401


def test_deleted_user_token_stops_working(world: World) -> None:
    t = world.tenant()
    user = world.user(t)
    expect(world.client.get("/api/v1/me", headers=user.headers), 200)
    expect(world.client.delete(f"/api/v1/tenants/{t.id}/users/{user.id}", headers=t.admin.headers), 204)
    assert world.client.get("/api/v1/me", headers=user.headers).status_code == 401


def _forge(world: World, user_id: str, tenant_id: str, **overrides: object) -> str:
    now = int(time.time())
    claims = {
        "iss": world.settings.token_issuer,
        "aud": world.settings.token_audience,
        "sub": user_id,
        "tid": tenant_id,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    key = OctKey.import_key(overrides.pop("key", world.settings.secret_key))  # type: ignore[arg-type]
    claims.update(overrides)
    return jwt.encode({"alg": "HS256"}, {k: v for k, v in claims.items() if v is not None}, key)


@pytest.mark.parametrize(
    "variant",
    [
        "expired",
        "tampered",
        "wrong_audience",
        "foreign_issuer",
        "other_key",
        "no_subject",
        "no_tenant",
        "wrong_tenant",
        "garbage",
        "wrong_scheme",
        "none",
    ],
)
def test_bad_tokens_are_401(world: World, variant: str) -> None:
    t = world.tenant()
    uid, tid = t.admin.id, t.id
    good = _forge(world, uid, tid)
    tokens = {
        "expired": _forge(
            world, uid, tid, exp=int(time.time()) - 60, iat=int(time.time()) - 120, nbf=int(time.time()) - 120
        ),
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "wrong_audience": _forge(world, uid, tid, aud="someone-else"),
        "foreign_issuer": _forge(world, uid, tid, iss="https://idp.example.com"),
        "other_key": _forge(world, uid, tid, key="k" * 48),
        "no_subject": _forge(world, uid, tid, sub=None),
        "no_tenant": _forge(world, uid, tid, tid=None),
        "wrong_tenant": _forge(world, uid, str(uuid.uuid4())),
        "garbage": "not.a.jwt",
    }
    headers = (
        {"Authorization": f"Bearer {tokens[variant]}"}
        if variant in tokens
        else ({"Authorization": f"Basic {good}"} if variant == "wrong_scheme" else {})
    )
    assert world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    response = world.client.get(f"/api/v1/tenants/{t.id}/rooms", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_token_of_the_issuer_helper_round_trips(world: World) -> None:
    t = world.tenant()
    token = issue_token(
        world.settings, user_id=uuid.UUID(t.admin.id), tenant_id=uuid.UUID(t.id), ttl_seconds=60
    )
    expect(world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 200)


def test_sign_in_is_throttled_per_account_across_workers(world: World) -> None:
    t = world.tenant()
    user = world.user(t)
    limit = world.settings.signin_max_failures_per_account
    for _ in range(limit):
        assert sign_in(world.client, user.upn, "wrong password").status_code == 401
    # A second worker (own app, own engine) sees the same count: it lives in the database.
    other = Database(world.settings.database_url)
    try:
        with TestClient(create_app(world.settings, other)) as second:
            blocked = sign_in(second, user.upn)  # even the right password waits out the window
            assert blocked.status_code == 429
            assert int(blocked.headers["retry-after"]) == world.settings.signin_window_seconds
    finally:
        other.dispose()
    assert sign_in(world.client, t.admin.upn).status_code == 200  # other accounts are unaffected


def test_sign_in_is_throttled_per_client_address(world: World, db: Database) -> None:
    settings = world.settings.model_copy(update={"signin_max_failures_per_address": 3})
    t = world.tenant()
    with TestClient(create_app(settings, db), client=(f"203.0.113.{uuid.uuid4().int % 250}", 5000)) as c:
        for n in range(3):
            assert sign_in(c, f"guess{n}@{t.domain}", "nope").status_code == 401
        assert sign_in(c, t.admin.upn).status_code == 429
    assert sign_in(world.client, t.admin.upn).status_code == 200  # another address is not blocked
