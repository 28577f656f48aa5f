"""Own account and credential recovery: password change, sign-out everywhere, a Global
admin's or the operator's reset and unlock, recovery codes; every credential change ends the
earlier tokens on the next request, also on another worker; the TOTP endpoints are throttled,
audited when refused and need a proof of the account."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roomwarden.app import create_app
from roomwarden.audit.models import AuditRecord
from roomwarden.identity.models import RecoveryCode
from roomwarden.kit.db import Database
from tests.factories import PASSWORD, UserH, World, expect

NEW_PASSWORD = "Quartz-Nebula-Orchid-42"


def sign_in(world: World, upn: str, password: str = PASSWORD, otp: str | None = None) -> Any:
    data = {"username": upn, "password": password, **({"otp": otp} if otp else {})}
    return world.client.post("/api/v1/auth/token", data=data)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def records(world: World, tenant_id: str, object_id: str) -> list[AuditRecord]:
    with world.transaction(write=False) as s:
        return list(
            s.scalars(
                select(AuditRecord)
                .where(AuditRecord.tenant_id == uuid.UUID(tenant_id), AuditRecord.object_id == object_id)
                .order_by(AuditRecord.seq)
            )
        )


def enrol(world: World, user: UserH) -> tuple[pyotp.TOTP, list[str]]:
    body = {"current_password": PASSWORD}
    factor = pyotp.TOTP(
        expect(world.client.post("/api/v1/me/totp", json=body, headers=user.headers), 200)["secret"]
    )
    codes = expect(
        world.client.post("/api/v1/me/totp/confirm", json={"otp": factor.now()}, headers=user.headers), 200
    )["recovery_codes"]
    return factor, codes


class TestPasswordChange:
    def test_anonymous_is_401(self, world: World) -> None:
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert world.client.post("/api/v1/me/password", json=body).status_code == 401

    def test_change_ends_earlier_tokens_on_every_worker_and_answers_a_fresh_one(self, world: World) -> None:
        t = world.tenant()
        user = world.user(t)
        signed_in = bearer(expect(sign_in(world, user.upn), 200)["access_token"])
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        fresh = expect(world.client.post("/api/v1/me/password", json=body, headers=user.headers), 200)
        other = Database(world.settings.database_url)
        try:
            with TestClient(create_app(world.settings, other)) as second:
                for client in (world.client, second):
                    assert client.get("/api/v1/me", headers=user.headers).status_code == 401
                    assert client.get("/api/v1/me", headers=signed_in).status_code == 401
                    expect(client.get("/api/v1/me", headers=bearer(fresh["access_token"])), 200)
        finally:
            other.dispose()
        assert sign_in(world, user.upn).status_code == 401
        expect(sign_in(world, user.upn, NEW_PASSWORD), 200)
        [changed] = [r for r in records(world, t.id, user.id) if r.details.get("password") == "changed"]
        assert changed.result_status == "Successful" and changed.user_id == user.id

    def test_wrong_current_password_is_refused_recorded_and_throttled(self, world: World) -> None:
        t = world.tenant()
        user = world.user(t)
        body = {"current_password": "not the password", "new_password": NEW_PASSWORD}
        limit = world.settings.signin_max_failures_per_account
        for _ in range(limit):
            response = world.client.post("/api/v1/me/password", json=body, headers=user.headers)
            assert response.status_code == 422
            assert "current password" in response.json()["detail"]
        # Guessing through a stolen token counts like guessing at sign-in.
        right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert world.client.post("/api/v1/me/password", json=right, headers=user.headers).status_code == 429
        assert sign_in(world, user.upn).status_code == 429
        failed = [r for r in records(world, t.id, user.id) if r.result_status == "Failed"]
        assert len(failed) == limit + 1
        expect(world.client.get("/api/v1/me", headers=user.headers), 200)  # nothing changed

    @pytest.mark.parametrize(
        "body",
        [
            {"current_password": PASSWORD, "new_password": "short"},
            {"current_password": PASSWORD},
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "is_global_admin": True},
            {},
        ],
    )
    def test_invalid_bodies_are_422_and_recorded(self, world: World, body: dict[str, Any]) -> None:
        t = world.tenant()
        user = world.user(t)
        assert world.client.post("/api/v1/me/password", json=body, headers=user.headers).status_code == 422
        assert [r.result_status for r in records(world, t.id, user.id)][-1] == "Failed"
        expect(sign_in(world, user.upn), 200)


def test_sign_out_everywhere_ends_every_token_of_the_user_only(world: World) -> None:
    t = world.tenant()
    user, colleague = world.user(t), world.user(t)
    tokens = [bearer(expect(sign_in(world, user.upn), 200)["access_token"]) for _ in range(2)]
    assert world.client.post("/api/v1/me/sign-out-everywhere").status_code == 401
    assert world.client.post("/api/v1/me/sign-out-everywhere", headers=tokens[0]).status_code == 204
    for headers in (*tokens, user.headers):
        assert world.client.get("/api/v1/me", headers=headers).status_code == 401
    expect(world.client.get("/api/v1/me", headers=colleague.headers), 200)
    expect(
        world.client.get("/api/v1/me", headers=bearer(expect(sign_in(world, user.upn), 200)["access_token"])),
        200,
    )


class TestAdminReset:
    def test_anonymous_401_other_tenant_404_non_admin_403(self, world: World) -> None:
        t, other = world.tenant(), world.tenant()
        user, plain = world.user(t), world.user(t)
        url = f"/api/v1/tenants/{t.id}/users/{user.id}/reset-password"
        body = {"new_password": NEW_PASSWORD}
        assert world.client.post(url, json=body).status_code == 401
        assert world.client.post(url, json=body, headers=other.admin.headers).status_code == 404
        assert world.client.post(url, json=body, headers=plain.headers).status_code == 403
        foreign = f"/api/v1/tenants/{other.id}/users/{user.id}/reset-password"
        assert world.client.post(foreign, json=body, headers=other.admin.headers).status_code == 404
        expect(sign_in(world, user.upn), 200)

    @pytest.mark.parametrize("how", ["reset", "patch"])
    def test_reset_ends_earlier_tokens(self, world: World, how: str) -> None:
        t = world.tenant()
        user = world.user(t)
        before = bearer(expect(sign_in(world, user.upn), 200)["access_token"])
        base = f"/api/v1/tenants/{t.id}/users/{user.id}"
        if how == "reset":
            url, body = f"{base}/reset-password", {"new_password": NEW_PASSWORD}
            expect(world.client.post(url, json=body, headers=t.admin.headers), 204)
        else:
            expect(world.client.patch(base, json={"password": NEW_PASSWORD}, headers=t.admin.headers), 200)
        assert world.client.get("/api/v1/me", headers=before).status_code == 401
        assert sign_in(world, user.upn).status_code == 401
        expect(sign_in(world, user.upn, NEW_PASSWORD), 200)
        expect(world.client.get("/api/v1/me", headers=t.admin.headers), 200)

    def test_deactivation_ends_tokens_and_reactivation_does_not_revive_them(self, world: World) -> None:
        t = world.tenant()
        user = world.user(t)
        before = bearer(expect(sign_in(world, user.upn), 200)["access_token"])
        base = f"/api/v1/tenants/{t.id}/users/{user.id}"
        expect(world.client.patch(base, json={"is_active": False}, headers=t.admin.headers), 200)
        expect(world.client.patch(base, json={"is_active": True}, headers=t.admin.headers), 200)
        assert world.client.get("/api/v1/me", headers=before).status_code == 401
        expect(
            world.client.get(
                "/api/v1/me", headers=bearer(expect(sign_in(world, user.upn), 200)["access_token"])
            ),
            200,
        )

    def test_operator_resets_by_upn(self, world: World) -> None:
        t = world.tenant()
        before = bearer(expect(sign_in(world, t.admin.upn), 200)["access_token"])
        body = {"upn": t.admin.upn.upper(), "new_password": NEW_PASSWORD}
        url = "/api/v1/operator/users/reset-password"
        assert world.client.post(url, json=body).status_code == 401
        assert world.client.post(url, json=body, headers=t.admin.headers).status_code == 401
        expect(world.client.post(url, json=body, headers=world.operator), 204)
        assert world.client.get("/api/v1/me", headers=before).status_code == 401
        expect(sign_in(world, t.admin.upn, NEW_PASSWORD), 200)
        missing = {"upn": f"nobody@{t.domain}", "new_password": NEW_PASSWORD}
        assert world.client.post(url, json=missing, headers=world.operator).status_code == 404
        [reset] = [r for r in records(world, t.id, t.admin.id) if r.details.get("password") == "reset"]
        assert reset.user_id == "operator"


class TestUnlock:
    def lock_out(self, world: World, user: UserH) -> None:
        for _ in range(world.settings.signin_max_failures_per_account):
            assert sign_in(world, user.upn, "wrong password").status_code == 401
        assert sign_in(world, user.upn).status_code == 429

    def test_a_global_admin_unlocks_a_user_of_its_tenant(self, world: World) -> None:
        t, other = world.tenant(), world.tenant()
        user, plain = world.user(t), world.user(t)
        self.lock_out(world, user)
        url = f"/api/v1/tenants/{t.id}/users/{user.id}/unlock"
        assert world.client.post(url).status_code == 401
        assert world.client.post(url, headers=plain.headers).status_code == 403
        assert world.client.post(url, headers=other.admin.headers).status_code == 404
        assert sign_in(world, user.upn).status_code == 429
        result = expect(world.client.post(url, headers=t.admin.headers), 200)
        assert result == {
            "user_id": user.id,
            "upn": user.upn,
            "failures_cleared": world.settings.signin_max_failures_per_account,
        }
        expect(sign_in(world, user.upn), 200)
        [unlocked] = [r for r in records(world, t.id, user.id) if r.details.get("sign_in") == "unlocked"]
        assert unlocked.user_id == t.admin.id

    def test_the_operator_unlocks_a_tenants_only_admin(self, world: World) -> None:
        t = world.tenant()
        self.lock_out(world, t.admin)
        url = "/api/v1/operator/users/unlock"
        assert world.client.post(url, json={"upn": t.admin.upn}).status_code == 401
        assert (
            world.client.post(url, json={"upn": f"ghost@{t.domain}"}, headers=world.operator).status_code
            == 404
        )
        assert world.client.post(url, json={"upn": "not a upn"}, headers=world.operator).status_code == 422
        expect(world.client.post(url, json={"upn": t.admin.upn}, headers=world.operator), 200)
        expect(sign_in(world, t.admin.upn), 200)


class TestSecondFactorProofs:
    def test_enrolling_needs_the_current_password(self, world: World) -> None:
        t = world.tenant()
        user = world.user(t)
        for body in ({}, {"current_password": "wrong one"}):
            assert world.client.post("/api/v1/me/totp", json=body, headers=user.headers).status_code == 422
        failed = [r for r in records(world, t.id, user.id) if r.result_status == "Failed"]
        assert len(failed) == 2
        expect(sign_in(world, user.upn), 200)  # no factor was put on the account

    @pytest.mark.parametrize(
        ("path", "body"),
        [
            ("/me/totp/confirm", {"otp": "12"}),
            ("/me/totp/confirm", {}),
            ("/me/totp/disable", {"otp": "abc"}),
            ("/me/totp/disable", {"otp": "123456", "extra": 1}),
            ("/me/totp/recovery-codes", {}),
        ],
    )
    def test_invalid_bodies_are_recorded_as_failed(
        self, world: World, path: str, body: dict[str, Any]
    ) -> None:
        t = world.tenant()
        user = world.user(t)
        assert world.client.post(f"/api/v1{path}", json=body, headers=user.headers).status_code == 422
        [failed] = [r for r in records(world, t.id, user.id) if r.result_status == "Failed"]
        assert failed.details["status"] == 422

    def test_guesses_at_disable_are_throttled(self, world: World) -> None:
        t = world.tenant()
        user = world.user(t)
        factor, _ = enrol(world, user)
        now = factor.now()
        wrong = [c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c != now]
        limit = world.settings.signin_max_failures_per_account
        for code in wrong[:limit]:
            response = world.client.post("/api/v1/me/totp/disable", json={"otp": code}, headers=user.headers)
            assert response.status_code == 422
        response = world.client.post(
            "/api/v1/me/totp/disable", json={"otp": factor.at(time.time() + 30)}, headers=user.headers
        )
        assert response.status_code == 429
        me = expect(world.client.get("/api/v1/me", headers=user.headers), 200)
        assert me["user"]["totp_enabled"] is True


class TestRecoveryCodes:
    def test_each_code_signs_in_once_with_mfa(self, world: World) -> None:
        c, p = world.tenant(), world.tenant()
        from tests.partners.helpers import link

        link(world, c, p)
        settings = {"require_mfa_for_partners": True}
        expect(
            world.client.patch(f"/api/v1/tenants/{c.id}/settings", json=settings, headers=c.admin.headers),
            200,
        )
        _, codes = enrol(world, p.admin)
        assert len(codes) == 10 and len(set(codes)) == 10
        token = expect(sign_in(world, p.admin.upn, otp=codes[0].upper()), 200)["access_token"]
        expect(world.client.get(f"/api/v1/tenants/{c.id}/rooms", headers=bearer(token)), 200)
        assert sign_in(world, p.admin.upn, otp=codes[0]).status_code == 401
        assert sign_in(world, p.admin.upn, otp="abcd-efgh-jkmn").status_code == 401
        expect(sign_in(world, p.admin.upn, otp=codes[1].replace("-", "")), 200)
        with world.transaction(write=False) as s:
            stored = set(
                s.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == uuid.UUID(p.admin.id)))
            )
        assert stored and not stored & {code.replace("-", "") for code in codes}  # digests only

    def test_a_recovery_code_disables_a_lost_factor_and_the_codes_go_with_it(self, world: World) -> None:
        t = world.tenant()
        user = world.user(t)
        _, codes = enrol(world, user)
        expect(
            world.client.post("/api/v1/me/totp/disable", json={"otp": codes[3]}, headers=user.headers), 204
        )
        expect(sign_in(world, user.upn), 200)
        _, fresh = enrol(world, user)
        assert not set(fresh) & set(codes)
        assert sign_in(world, user.upn, otp=codes[4]).status_code == 401  # the old set is gone
        expect(sign_in(world, user.upn, otp=fresh[0]), 200)

    def test_replacing_the_codes_invalidates_the_old_set(self, world: World) -> None:
        t = world.tenant()
        user = world.user(t)
        _, codes = enrol(world, user)
        url = "/api/v1/me/totp/recovery-codes"
        assert world.client.post(url, json={"otp": "abcd-efgh-jkmn"}, headers=user.headers).status_code == 422
        replaced = expect(world.client.post(url, json={"otp": codes[0]}, headers=user.headers), 200)
        assert sign_in(world, user.upn, otp=codes[1]).status_code == 401
        expect(sign_in(world, user.upn, otp=replaced["recovery_codes"][0]), 200)
