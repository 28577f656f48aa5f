"""Every API response that carries a secret — an access token, a TOTP seed, recovery codes, a
room's enrollment key — says ``Cache-Control: no-store`` to every cache on the way, also to
a bearer-token client (kit.schemas.SecretBearing); an ordinary read does not."""

from __future__ import annotations

import pyotp

from tests.factories import PASSWORD, World, expect


def _no_store(response) -> None:  # type: ignore[no-untyped-def]
    assert response.headers.get("cache-control") == "no-store", (response.request.url, response.headers)
    assert response.headers.get("pragma") == "no-cache"


def test_secret_bearing_responses_are_not_stored(world: World) -> None:
    t = world.tenant()
    user = world.user(t)
    c = world.client
    signed_in = c.post("/api/v1/auth/token", data={"username": user.upn, "password": PASSWORD})
    expect(signed_in, 200)
    _no_store(signed_in)
    enrolment = c.post("/api/v1/me/totp", json={"current_password": PASSWORD}, headers=user.headers)
    expect(enrolment, 200)
    _no_store(enrolment)
    factor = pyotp.TOTP(enrolment.json()["secret"])
    confirmed = c.post("/api/v1/me/totp/confirm", json={"otp": factor.now()}, headers=user.headers)
    expect(confirmed, 200)
    _no_store(confirmed)
    changed = c.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a fresh and long passphrase 7"},
        headers=user.headers,
    )
    expect(changed, 200)
    _no_store(changed)
    room = world.room(t)
    key = c.get(f"/api/v1/tenants/{t.id}/rooms/{room['id']}/enrollment-key", headers=t.admin.headers)
    expect(key, 200)
    _no_store(key)
    # an ordinary bearer read is left to the client's own judgement
    me = c.get("/api/v1/me", headers=t.admin.headers)
    expect(me, 200)
    assert "cache-control" not in me.headers
