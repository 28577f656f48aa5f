"""Portal sign-in, sessions and CSRF (SPEC §7, §9)."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from roomwarden.app import create_app
from roomwarden.identity import sessions
from roomwarden.identity.models import WebSession
from roomwarden.kit.time import utcnow
from roomwarden.portal import signin
from tests.factories import PASSWORD, expect
from tests.portal.helpers import Browser, signed_in


def _rows(world, user_id: str) -> list[WebSession]:
    with world.transaction(write=False) as s:
        return list(s.scalars(select(WebSession).where(WebSession.user_id == uuid.UUID(user_id))))


class TestSignedOut:
    def test_root_sends_to_login(self, app):
        response = Browser(app).get("/")
        assert response.status_code == 303
        assert response.headers["location"] == "/login"

    def test_a_page_sends_to_login_and_back(self, world, app):
        t = world.tenant()
        path = f"/t/{t.id}/rooms?country=DE"
        response = Browser(app).get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next=/t/{t.id}/rooms%3Fcountry%3DDE"

    def test_login_form_has_the_contract_names(self, app):
        page = Browser(app).get("/login")
        assert page.status_code == 200
        assert '<label for="f-email">Email</label>' in page.text
        assert ">Next</button>" in page.text
        assert "Sign out" not in page.text


class TestSignIn:
    def test_two_steps_then_a_session(self, world, app):
        t = world.tenant()
        b = Browser(app)
        b.get("/login")
        step2 = b.post("/login", {"step": "email", "email": t.admin.upn.upper(), "next": "/"})
        assert step2.status_code == 200
        assert '<label for="f-password">Password</label>' in step2.text
        assert '<label for="f-otp">Verification code</label>' in step2.text
        assert ">Sign in</button>" in step2.text
        done = b.post("/login", {"step": "password", "email": t.admin.upn, "password": PASSWORD})
        assert done.status_code == 303 and done.headers["location"] == "/"
        cookie = done.headers["set-cookie"]
        assert "roomwarden_session=" in cookie
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback
        page = b.follow("/")
        assert page.url.path == "/" and "<h1>Home</h1>" in page.text
        assert ">Sign out</button>" in page.text

    def test_only_the_tokens_hash_is_stored(self, world, app):
        t = world.tenant()
        b = Browser(app)
        b.sign_in(t.admin.upn)
        token = b.session_token
        (row,) = _rows(world, t.admin.id)
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in (row.token_hash, row.csrf_token)
        assert row.method == "password" and row.mfa is False
        assert row.expires_at - row.created_at == timedelta(seconds=world.settings.session_absolute_seconds)

    def test_next_returns_to_the_page_asked_for(self, world, app):
        t = world.tenant()
        done = Browser(app).sign_in(t.admin.upn, next_path=f"/t/{t.id}/rooms")
        assert done.headers["location"] == f"/t/{t.id}/rooms"

    @pytest.mark.parametrize(
        "target",
        ["//evil.example", "/\\evil.example", "https://evil.example/", "evil", "/x\r\nSet-Cookie: a=b"],
    )
    def test_next_never_leaves_the_service(self, world, app, target):
        t = world.tenant()
        done = Browser(app).sign_in(t.admin.upn, next_path=target)
        assert done.headers["location"] == "/"

    def test_secure_cookie_behind_https(self, world, settings, db):
        https_app = create_app(settings.model_copy(update={"public_url": "https://rooms.example.com"}), db)
        t = world.tenant()
        b = Browser(https_app)
        b.client = TestClient(https_app, base_url="https://testserver", follow_redirects=False)
        login = b.get("/login")
        form_cookie = login.headers["set-cookie"]
        assert form_cookie.startswith("__Host-roomwarden_login=") and "Secure" in form_cookie
        b.post("/login", {"step": "email", "email": t.admin.upn})
        done = b.post("/login", {"step": "password", "email": t.admin.upn, "password": PASSWORD})
        cookie = done.headers["set-cookie"]
        assert "__Host-roomwarden_session=" in cookie and "Secure" in cookie and "Path=/" in cookie
        assert "Domain" not in cookie
        assert b.follow("/").status_code == 200

    def test_a_new_sign_in_replaces_the_session(self, world, app):
        """Session fixation: a token present before sign-in is ended and a new one issued."""
        t = world.tenant()
        b = signed_in(world, app, t.admin)
        first = b.session_token
        data = {"step": "password", "email": t.admin.upn, "password": PASSWORD}
        assert b.post("/login", data).status_code == 303
        assert b.session_token != first
        assert len(_rows(world, t.admin.id)) == 1
        planted = Browser(app)
        planted.client.cookies.set("roomwarden_session", first, domain="testserver.local")
        assert planted.get(f"/t/{t.id}/rooms").status_code == 303


    def test_a_sign_in_posted_with_a_dead_session_cookie_keeps_the_new_session(self, world, app):
        """The dead cookie is replaced by the new session's, never cleared after it: one
        sign-in is enough."""
        t = world.tenant()
        b = Browser(app)
        b.get("/login")  # the form, in a tab opened while signed out
        # meanwhile another tab signed in, and that session has ended since
        dead = signed_in(world, app, t.admin).session_token
        with world.transaction() as s:
            sessions.end_session(s, dead)
        b.client.cookies.set("roomwarden_session", dead, domain="testserver.local")
        data = {"step": "password", "email": t.admin.upn, "password": PASSWORD}
        answer = b.post("/login", data)
        assert answer.status_code == 303, answer.text
        set_cookies = answer.headers.get_list("set-cookie")
        ours = [c for c in set_cookies if c.startswith("roomwarden_session=")]
        assert len(ours) == 1 and "Max-Age=0" not in ours[0] and 'roomwarden_session=""' not in ours[0], ours
        assert b.session_token not in (None, dead)
        assert b.get(f"/t/{t.id}/rooms").status_code == 200


class TestRefusals:
    """Every refusal is a sentence next to its field; none tells whether an account exists."""

    def _refusal(self, b: Browser, upn: str, password: str, otp: str | None = None):
        response = b.sign_in(upn, password, otp=otp)
        assert b.session_token is None
        return response

    def test_wrong_password_and_unknown_account_read_the_same(self, world, app):
        t = world.tenant()
        wrong = self._refusal(Browser(app), t.admin.upn, "not the password")
        unknown = self._refusal(Browser(app), f"nobody@{t.domain}", "not the password")
        stranger = self._refusal(Browser(app), "someone@no-such-tenant.example", "whatever1")
        for response in (wrong, unknown, stranger):
            assert response.status_code == 401
            assert signin.WRONG in response.text
            assert 'aria-describedby="e-password"' in response.text
            assert 'id="e-password"' in response.text

    def test_the_email_is_kept_and_the_password_is_not(self, world, app):
        t = world.tenant()
        response = self._refusal(Browser(app), t.admin.upn, "not the password")
        assert f'name="email" value="{t.admin.upn}"' in response.text
        assert "not the password" not in response.text

    def test_an_empty_or_malformed_email_is_refused_in_words(self, app):
        b = Browser(app)
        b.get("/login")
        for email in ("", "no-at-sign", "@example.com"):
            response = b.post("/login", {"step": "email", "email": email})
            assert response.status_code == 422
            assert "Enter your email address" in response.text
            assert 'aria-describedby="h-email e-email"' in response.text

    def test_empty_password(self, world, app):
        t = world.tenant()
        response = self._refusal(Browser(app), t.admin.upn, "")
        assert response.status_code == 422 and "Enter your password." in response.text

    def test_deactivated_account(self, world, app):
        t = world.tenant()
        u = world.user(t)
        expect(
            world.client.patch(
                f"/api/v1/tenants/{t.id}/users/{u.id}", json={"is_active": False}, headers=t.admin.headers
            ),
            200,
        )
        right = self._refusal(Browser(app), u.upn, PASSWORD)
        assert right.status_code == 403 and signin.INACTIVE in right.text
        # without the password nothing tells the account apart from a missing one
        wrong = self._refusal(Browser(app), u.upn, "not the password")
        assert wrong.status_code == 401 and signin.WRONG in wrong.text

    def test_throttled_with_when_to_retry(self, world, app):
        t = world.tenant()
        u = world.user(t)
        b = Browser(app)
        for _ in range(world.settings.signin_max_failures_per_account):
            assert self._refusal(b, u.upn, "not the password").status_code == 401
        response = self._refusal(b, u.upn, PASSWORD)
        assert response.status_code == 429
        assert re.search(
            r"Too many failed sign-in attempts. Try again in \d+ minutes? \(after \d\d:\d\d UTC\)",
            response.text,
        )
        # an unknown account is throttled alike: the refusal reveals nothing
        ghost = f"ghost@{t.domain}"
        for _ in range(world.settings.signin_max_failures_per_account):
            self._refusal(b, ghost, "not the password")
        assert self._refusal(b, ghost, "not the password").status_code == 429

    def test_throttle_is_shared_with_the_api(self, world, app):
        t = world.tenant()
        u = world.user(t)
        for _ in range(world.settings.signin_max_failures_per_account):
            r = world.client.post(
                "/api/v1/auth/token", data={"username": u.upn, "password": "wrong password"}
            )
            assert r.status_code == 401
        assert self._refusal(Browser(app), u.upn, PASSWORD).status_code == 429
        # and the portal's failures count for the API
        v = world.user(t)
        for _ in range(world.settings.signin_max_failures_per_account):
            self._refusal(Browser(app), v.upn, "wrong password")
        api = world.client.post("/api/v1/auth/token", data={"username": v.upn, "password": PASSWORD})
        assert api.status_code == 429

    def test_second_factor(self, world, app):
        t = world.tenant()
        u = world.user(t)
        secret = expect(
            world.client.post("/api/v1/me/totp", json={"current_password": PASSWORD}, headers=u.headers), 200
        )["secret"]
        totp = pyotp.TOTP(secret)
        now = utcnow().timestamp()
        expect(
            world.client.post("/api/v1/me/totp/confirm", json={"otp": totp.at(now - 30)}, headers=u.headers),
            200,
        )
        missing = self._refusal(Browser(app), u.upn, PASSWORD)
        assert missing.status_code == 401 and signin.CODE_NEEDED in missing.text
        assert 'aria-describedby="h-otp e-otp"' in missing.text
        wrong = self._refusal(
            Browser(app), u.upn, PASSWORD, otp="000000" if totp.at(now) != "000000" else "111111"
        )
        assert signin.CODE_WRONG in wrong.text
        # a wrong password with any code reads like any wrong password
        assert signin.WRONG in self._refusal(Browser(app), u.upn, "not the password", otp=totp.at(now)).text
        b = Browser(app)
        done = b.sign_in(u.upn, PASSWORD, otp=totp.at(now))
        assert done.status_code == 303 and b.session_token
        (row,) = _rows(world, u.id)
        assert row.mfa is True and row.method == "password+totp"
        # the code is good once
        assert signin.CODE_WRONG in self._refusal(Browser(app), u.upn, PASSWORD, otp=totp.at(now)).text


class TestCsrf:
    def test_sign_out_without_the_token_is_refused(self, world, app):
        t = world.tenant()
        b = signed_in(world, app, t.admin)
        for token in ("", "forged-token"):
            refused = b.post("/logout", csrf=token)
            assert refused.status_code == 403
            assert "The form has expired or did not come from this page." in refused.text
        assert b.get(f"/t/{t.id}/rooms").status_code == 200

    def test_the_token_of_another_session_is_refused(self, world, app):
        t = world.tenant()
        mine, theirs = signed_in(world, app, t.admin), signed_in(world, app, world.user(t))
        assert mine.post("/logout", csrf=theirs.last_csrf).status_code == 403

    def test_sign_in_form_needs_its_cookie(self, world, app):
        t = world.tenant()
        b = Browser(app)
        b.get("/login")
        b.client.cookies.clear()
        response = b.post("/login", {"step": "password", "email": t.admin.upn, "password": PASSWORD})
        assert response.status_code == 403 and b.session_token is None

    def test_a_form_from_another_site_is_refused(self, world, app):
        t = world.tenant()
        b = signed_in(world, app, t.admin)
        refused = b.post("/logout", headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403
        assert b.post("/logout", headers={"Origin": "http://testserver"}).status_code == 303

    def test_a_signed_out_form_goes_to_sign_in_and_changes_nothing(self, world, app):
        t = world.tenant()
        room = world.room(t)
        response = Browser(app).post(f"/t/{t.id}/rooms/{room['id']}/unenroll", csrf="x")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
        assert (
            expect(
                world.client.get(f"/api/v1/tenants/{t.id}/rooms/{room['id']}", headers=t.admin.headers), 200
            )["enrollment_state"]
            == "enrolled"
        )


class TestSessionEnds:
    def test_sign_out_ends_the_session_on_the_server(self, world, app):
        t = world.tenant()
        b = signed_in(world, app, t.admin)
        token = b.session_token
        out = b.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/signed-out"
        assert "You have signed out." in b.follow("/signed-out").text
        assert _rows(world, t.admin.id) == []
        replay = Browser(app)
        replay.client.cookies.set("roomwarden_session", token, domain="testserver.local")
        assert replay.get(f"/t/{t.id}/rooms").headers["location"].startswith("/login")

    def _age(self, world, user_id: str, **values):
        with world.transaction() as s:
            s.execute(update(WebSession).where(WebSession.user_id == uuid.UUID(user_id)).values(**values))

    def test_idle_lifetime(self, world, app):
        t = world.tenant()
        b = signed_in(world, app, t.admin)
        idle = timedelta(seconds=world.settings.session_idle_seconds)
        self._age(world, t.admin.id, last_seen_at=utcnow() - idle + timedelta(seconds=30))
        assert b.get(f"/t/{t.id}/rooms").status_code == 200  # still inside, and touched
        (row,) = _rows(world, t.admin.id)
        assert utcnow() - row.last_seen_at < timedelta(seconds=30)
        self._age(world, t.admin.id, last_seen_at=utcnow() - idle - timedelta(seconds=1))
        ended = b.get(f"/t/{t.id}/rooms")
        assert ended.status_code == 303 and "ended=1" in ended.headers["location"]
        assert 'roomwarden_session=""' in ended.headers["set-cookie"]
        assert "Your session has ended." in Browser(app).get(ended.headers["location"]).text
        assert _rows(world, t.admin.id) == []

    def test_absolute_lifetime_whatever_the_activity(self, world, app):
        t = world.tenant()
        b = signed_in(world, app, t.admin)
        self._age(world, t.admin.id, expires_at=utcnow() - timedelta(seconds=1), last_seen_at=utcnow())
        assert b.get(f"/t/{t.id}/rooms").status_code == 303
        assert _rows(world, t.admin.id) == []

    def test_recent_activity_is_not_written_on_every_request(self, world, app):
        t = world.tenant()
        b = signed_in(world, app, t.admin)
        (before,) = _rows(world, t.admin.id)
        b.get(f"/t/{t.id}/rooms")
        (after,) = _rows(world, t.admin.id)
        assert after.last_seen_at == before.last_seen_at

    def test_deactivation_ends_the_session(self, world, app):
        t = world.tenant()
        u = world.user(t)
        b = signed_in(world, app, u)
        expect(
            world.client.patch(
                f"/api/v1/tenants/{t.id}/users/{u.id}", json={"is_active": False}, headers=t.admin.headers
            ),
            200,
        )
        assert b.get(f"/t/{u.tenant_id}/rooms").status_code == 303
        assert _rows(world, u.id) == []
        # reactivating does not bring the old session back
        expect(
            world.client.patch(
                f"/api/v1/tenants/{t.id}/users/{u.id}", json={"is_active": True}, headers=t.admin.headers
            ),
            200,
        )
        assert b.get(f"/t/{u.tenant_id}/rooms").status_code == 303

    def test_deleting_the_user_ends_the_session(self, world, app):
        t = world.tenant()
        u = world.user(t)
        b = signed_in(world, app, u)
        expect(world.client.delete(f"/api/v1/tenants/{t.id}/users/{u.id}", headers=t.admin.headers), 204)
        assert b.get(f"/t/{u.tenant_id}/rooms").status_code == 303

    def test_end_user_sessions_ends_every_session_of_the_user(self, world, app):
        t = world.tenant()
        u = world.user(t)
        first, second, other = (
            signed_in(world, app, u),
            signed_in(world, app, u),
            signed_in(world, app, t.admin),
        )
        with world.transaction() as s:
            assert sessions.end_user_sessions(s, uuid.UUID(u.id)) == 2
        assert first.get(f"/t/{t.id}/rooms").status_code == 303
        assert second.get(f"/t/{t.id}/rooms").status_code == 303
        assert other.get(f"/t/{t.id}/rooms").status_code == 200

    def test_a_made_up_cookie_is_nobody(self, world, app):
        t = world.tenant()
        b = Browser(app)
        b.client.cookies.set("roomwarden_session", "made-up", domain="testserver.local")
        assert b.get(f"/t/{t.id}/rooms").status_code == 303

    def test_sign_in_clears_dead_sessions(self, world, app):
        t = world.tenant()
        signed_in(world, app, t.admin)
        self._age(world, t.admin.id, expires_at=utcnow() - timedelta(seconds=1))
        Browser(app).sign_in(t.admin.upn)
        with world.transaction(write=False) as s:
            dead = s.scalar(
                select(func.count()).select_from(WebSession).where(WebSession.expires_at <= utcnow())
            )
        assert dead == 0
