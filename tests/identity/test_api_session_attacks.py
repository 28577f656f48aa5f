"""Attacks on the API's acceptance of the portal's session (identity/http.py), as another site,
a sibling subdomain or a signed-in victim's browser would make them, and the rules around
them that had no test of their own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import TenantH, World, expect
from tests.identity.oidc_provider import Provider, running_providers, sent_on_to
from tests.portal.helpers import Browser, signed_in

#: A navigation another site starts (a link, ``window.open``, a redirect): the browser sends
#: the SameSite=Lax session cookie with it.
NAVIGATED_FROM = {
    "another site": {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    "a sibling subdomain": {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"},
}


def _rooms_named(world: World, t: TenantH, name: str) -> list[dict[str, Any]]:
    rooms = expect(world.client.get(f"/api/v1/tenants/{t.id}/rooms", headers=t.admin.headers), 200)
    return [r for r in rooms["items"] if r["name"] == name]


def _successful(world: World, t: TenantH, category: str) -> list[dict[str, Any]]:
    """The tenant's successful records of ``category`` (what a refused read must not add)."""
    params = {"category": category, "result_status": "Successful"}
    listed = world.client.get(f"/api/v1/tenants/{t.id}/audit-logs", params=params, headers=t.admin.headers)
    return expect(listed, 200)["items"]


class TestOpaqueOrigin:
    """A sandboxed frame (or a redirect across origins) sends ``Origin: null``; a browser
    without Fetch Metadata sends no ``Sec-Fetch-Site``. A sibling subdomain's sandboxed frame
    gets the SameSite=Lax cookie sent along: ``null`` is not this service's origin."""

    def test_an_api_change_with_origin_null_is_refused(self, world: World, app: Any) -> None:
        t = world.tenant()
        browser = signed_in(world, app, t.admin)
        body = {"name": "Sandboxed", "resource_account": f"sandboxed@{t.domain}", "country": "NO"}
        refused = browser.client.post(f"/api/v1/tenants/{t.id}/rooms", json=body, headers={"Origin": "null"})
        assert refused.status_code == 403
        assert "another site" in refused.json()["detail"]
        assert _rooms_named(world, t, "Sandboxed") == []

    def test_a_portal_form_with_origin_null_is_refused(self, world: World, app: Any) -> None:
        t = world.tenant()
        browser = signed_in(world, app, t.admin)
        assert browser.post("/logout", headers={"Origin": "null"}).status_code == 403
        assert browser.session_token is not None
        expect(browser.client.get("/api/v1/me"), 200)  # still signed in


class TestAuditedReadsFromAnotherSite:
    """The enrollment key is a secret whose every read is written to the audit log; the portal
    reads it only with a POST and its CSRF token "so no other site may make a browser do it".
    Through the API's GET, a link on another site must not make the victim's browser read it
    (and write that read into the log as the victim's)."""

    @pytest.mark.parametrize("site", NAVIGATED_FROM)
    def test_a_cross_site_navigation_does_not_read_the_key(self, world: World, app: Any, site: str) -> None:
        t = world.tenant()
        room = world.room(t)
        browser = signed_in(world, app, t.admin)
        path = f"/api/v1/tenants/{t.id}/rooms/{room['id']}/enrollment-key"
        refused = browser.client.get(path, headers=NAVIGATED_FROM[site])
        assert refused.status_code == 403
        assert "enrollment_key" not in refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert _successful(world, t, "EnrollmentKey") == []
        # The same browser reads it from this service's own pages, and a bearer token (never
        # sent by a browser on its own) reads it whatever the headers say.
        mine = browser.client.get(path, headers={"Sec-Fetch-Site": "same-origin"})
        assert expect(mine, 200)["enrollment_key"]
        assert expect(browser.client.get(path), 200)["enrollment_key"]  # not a browser
        assert expect(browser.client.get(path, headers={**NAVIGATED_FROM[site], **t.admin.headers}), 200)

    @pytest.mark.parametrize("site", NAVIGATED_FROM)
    def test_a_cross_site_navigation_does_not_export_the_audit_log(
        self, world: World, app: Any, site: str
    ) -> None:
        t = world.tenant()
        browser = signed_in(world, app, t.admin)
        path = f"/api/v1/tenants/{t.id}/audit-logs/export"
        today = datetime.now(UTC).date().isoformat()
        refused = browser.client.get(
            path, params={"start": today, "end": today}, headers=NAVIGATED_FROM[site]
        )
        assert refused.status_code == 403
        assert _successful(world, t, "AuditLog") == []
        mine = browser.client.get(path, params={"start": today, "end": today})
        assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")

    def test_a_cross_site_navigation_still_reads_what_writes_nothing(self, world: World, app: Any) -> None:
        t = world.tenant()
        room = world.room(t)
        browser = signed_in(world, app, t.admin)
        path = f"/api/v1/tenants/{t.id}/rooms/{room['id']}"
        got = expect(browser.client.get(path, headers=NAVIGATED_FROM["another site"]), 200)
        assert got["id"] == room["id"]


class TestCredentialsAndHeaders:
    @pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token x"])
    def test_an_empty_or_malformed_authorization_is_not_rescued_by_the_cookie(
        self, world: World, app: Any, authorization: str
    ) -> None:
        t = world.tenant()
        browser = signed_in(world, app, t.admin)
        response = browser.client.get("/api/v1/me", headers={"Authorization": authorization})
        assert response.status_code == 401

    def test_bearer_responses_do_not_get_the_sessions_headers(self, world: World, app: Any) -> None:
        t = world.tenant()
        browser = signed_in(world, app, t.admin)
        for client in (browser.client, world.client):  # with and without a session cookie
            response = client.get("/api/v1/me", headers=t.admin.headers)
            expect(response, 200)
            assert "cache-control" not in response.headers
            assert "vary" not in response.headers

    @pytest.mark.parametrize(
        "how", ["sign-out everywhere", "password change", "password reset", "deactivation"]
    )
    def test_a_lost_credential_ends_the_sessions_hold_on_the_api(
        self, world: World, app: Any, how: str
    ) -> None:
        t = world.tenant()
        user = world.user(t)
        browser = signed_in(world, app, user)
        expect(browser.client.get("/api/v1/me"), 200)
        users = f"/api/v1/tenants/{t.id}/users/{user.id}"
        if how == "sign-out everywhere":
            expect(world.client.post("/api/v1/me/sign-out-everywhere", headers=user.headers), 204)
        elif how == "password change":
            body = {"current_password": "correct horse battery", "new_password": "a brand new passphrase 7"}
            expect(world.client.post("/api/v1/me/password", json=body, headers=user.headers), 200)
        elif how == "password reset":
            body = {"new_password": "a brand new passphrase 8"}
            expect(world.client.post(f"{users}/reset-password", json=body, headers=t.admin.headers), 204)
        else:
            expect(world.client.patch(users, json={"is_active": False}, headers=t.admin.headers), 200)
            expect(world.client.patch(users, json={"is_active": True}, headers=t.admin.headers), 200)
        assert browser.client.get("/api/v1/me").status_code == 401


# -- /auth/oidc/start's ``next`` ----------------------------------------------------------------


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with running_providers(1) as [provider]:
        yield provider


def _browser_location(location: str) -> str:
    """What a browser's URL parser makes of a Location: ASCII tab and newlines are removed
    and a backslash is a slash."""
    return location.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "/\n/evil.example/",
        "\\/evil.example/",
        "javascript:alert(1)",
    ],
)
def test_oidc_sign_in_never_sends_the_browser_to_another_site(
    world: World, app: Any, idp: Provider, target: str
) -> None:
    t = world.tenant()
    body = {"type": "oidc", "issuer": idp.issuer, "client_id": f"rw-{t.id}", "client_secret": "s3cret-of-rw"}
    expect(
        world.client.put(f"/api/v1/tenants/{t.id}/identity-provider", json=body, headers=t.admin.headers), 200
    )
    upn = f"next-{uuid.uuid4().hex[:6]}@{t.domain}"
    sub = idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Next Person")
    with TestClient(app, follow_redirects=False) as browser:
        started = browser.get("/auth/oidc/start", params={"email": upn, "next": target})
        assert started.status_code == 303, started.text
        done = browser.get("/auth/oidc/callback", params=idp.consent(started.headers["location"], sub))
    assert done.status_code == 303, done.text
    where = _browser_location(done.headers["location"])
    assert where.startswith("/") and not where.startswith("//"), done.headers["location"]
    # and the portal's own sign-in step keeps it on this service too
    b = Browser(app)
    b.get("/login")
    step1 = b.post("/login", {"step": "email", "email": upn, "next": target})
    done = b.get("/auth/oidc/callback", params=idp.consent(sent_on_to(step1), sub))
    assert done.status_code == 303, done.text
    where = _browser_location(done.headers["location"])
    assert where.startswith("/") and not where.startswith("//"), done.headers["location"]


@pytest.mark.parametrize("site", NAVIGATED_FROM)
def test_a_cross_site_navigation_does_not_export_the_audit_log_from_the_portal(
    world: World, app: Any, site: str
) -> None:
    """The portal's export is an audited read, as the API's: a link on another site shows a
    readable refusal, records no export; the Audit log page's own button exports."""
    t = world.tenant()
    browser = signed_in(world, app, t.admin)
    today = datetime.now(UTC).date().isoformat()
    path = f"/t/{t.id}/audit-log/export"
    refused = browser.get(path, params={"start": today, "end": today}, headers=NAVIGATED_FROM[site])
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert "another site" in refused.text
    assert _successful(world, t, "AuditLog") == []
    # a page another site links to still shows
    assert browser.get(f"/t/{t.id}/audit-log", headers=NAVIGATED_FROM[site]).status_code == 200
    mine = browser.get(path, params={"start": today, "end": today}, headers={"Sec-Fetch-Site": "same-origin"})
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
    assert len(_successful(world, t, "AuditLog")) == 1
