"""The TOTP second factor: enrolment in two steps, sign-in with a code, single use, removal
by the user or a Global admin, and the partner MFA requirement it satisfies."""

from __future__ import annotations

import time

import pyotp

from roomwarden.identity.totp import matching_step
from tests.factories import PASSWORD, World, expect

BEGIN = {"current_password": PASSWORD}


def sign_in(world: World, upn: str, otp: str | None = None):  # type: ignore[no-untyped-def]
    data = {"username": upn, "password": PASSWORD, **({"otp": otp} if otp else {})}
    return world.client.post("/api/v1/auth/token", data=data)


def test_enrol_then_sign_in_with_a_single_use_code(world: World) -> None:
    t = world.tenant()
    user = world.user(t)
    factor = pyotp.TOTP(
        expect(world.client.post("/api/v1/me/totp", json=BEGIN, headers=user.headers), 200)["secret"]
    )
    wrong = "000000" if factor.now() != "000000" else "111111"
    assert (
        world.client.post("/api/v1/me/totp/confirm", json={"otp": wrong}, headers=user.headers).status_code
        == 422
    )
    confirm_code = factor.now()
    expect(
        world.client.post("/api/v1/me/totp/confirm", json={"otp": confirm_code}, headers=user.headers), 200
    )
    assert sign_in(world, user.upn).status_code == 401  # the password alone is no longer enough
    assert sign_in(world, user.upn, wrong).status_code == 401
    assert sign_in(world, user.upn, confirm_code).status_code == 401  # already used
    next_code = factor.at(time.time() + 30)
    token = expect(sign_in(world, user.upn, next_code), 200)["access_token"]
    assert sign_in(world, user.upn, next_code).status_code == 401  # single use
    me = expect(world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 200)
    assert me["user"]["totp_enabled"] is True


def test_a_global_admin_removes_a_lost_factor(world: World) -> None:
    t = world.tenant()
    user = world.user(t)
    factor = pyotp.TOTP(
        expect(world.client.post("/api/v1/me/totp", json=BEGIN, headers=user.headers), 200)["secret"]
    )
    expect(
        world.client.post("/api/v1/me/totp/confirm", json={"otp": factor.now()}, headers=user.headers), 200
    )
    assert sign_in(world, user.upn).status_code == 401
    url = f"/api/v1/tenants/{t.id}/users/{user.id}"
    assert world.client.patch(url, json={"totp_enabled": True}, headers=t.admin.headers).status_code == 422
    assert (
        expect(world.client.patch(url, json={"totp_enabled": False}, headers=t.admin.headers), 200)[
            "totp_enabled"
        ]
        is False
    )
    expect(sign_in(world, user.upn), 200)


def test_the_user_disables_its_factor_with_a_fresh_code(world: World) -> None:
    t = world.tenant()
    user = world.user(t)
    factor = pyotp.TOTP(
        expect(world.client.post("/api/v1/me/totp", json=BEGIN, headers=user.headers), 200)["secret"]
    )
    code = factor.now()
    expect(world.client.post("/api/v1/me/totp/confirm", json={"otp": code}, headers=user.headers), 200)
    assert world.client.post("/api/v1/me/totp", json=BEGIN, headers=user.headers).status_code == 409
    assert (
        world.client.post("/api/v1/me/totp/disable", json={"otp": code}, headers=user.headers).status_code
        == 422
    )
    expect(
        world.client.post(
            "/api/v1/me/totp/disable", json={"otp": factor.at(time.time() + 30)}, headers=user.headers
        ),
        204,
    )
    expect(sign_in(world, user.upn), 200)


def test_a_second_factor_satisfies_the_customer_partner_mfa_rule(world: World) -> None:
    from tests.partners.helpers import link

    c, p = world.tenant(), world.tenant()
    link(world, c, p)
    expect(
        world.client.patch(
            f"/api/v1/tenants/{c.id}/settings",
            json={"require_mfa_for_partners": True},
            headers=c.admin.headers,
        ),
        200,
    )
    factor = pyotp.TOTP(
        expect(world.client.post("/api/v1/me/totp", json=BEGIN, headers=p.admin.headers), 200)["secret"]
    )
    expect(
        world.client.post("/api/v1/me/totp/confirm", json={"otp": factor.now()}, headers=p.admin.headers), 200
    )
    token = expect(sign_in(world, p.admin.upn, factor.at(time.time() + 30)), 200)["access_token"]
    rooms = world.client.get(f"/api/v1/tenants/{c.id}/rooms", headers={"Authorization": f"Bearer {token}"})
    assert rooms.status_code == 200


def test_matching_step_accepts_one_step_of_drift_and_never_an_old_step() -> None:
    secret = pyotp.random_base32()
    totp, now = pyotp.TOTP(secret), 1_800_000_000.0
    step = matching_step(secret, totp.at(now), None, now=now)
    assert step is not None
    assert matching_step(secret, totp.at(now - 30), None, now=now) == step - 1
    assert matching_step(secret, totp.at(now - 90), None, now=now) is None
    assert matching_step(secret, totp.at(now), step, now=now) is None
