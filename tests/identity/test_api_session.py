"""The API signed in by the portal's session cookie (identity/http.py): the same person, the
same rights and the same multi-factor fact as the session, bearer tokens first, nothing
cached, and no state change from another site."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import World, expect
from tests.partners.helpers import link
from tests.portal.helpers import Browser, signed_in

SITES = {
    "cross-site fetch": {"Sec-Fetch-Site": "cross-site"},
    "same-site fetch (a sibling subdomain)": {"Sec-Fetch-Site": "same-site"},
    "foreign Origin": {"Origin": "https://evil.example"},
    "foreign Origin with a same-origin-looking path": {"Origin": "http://testserver.local.evil.example"},
}


def _api(browser: Browser, method: str, path: str, **kw: Any) -> Any:
    return browser.client.request(method, path, **kw)


class TestTheSessionSignsInTheAPI:
    def test_me_answers_as_the_session_and_is_never_cached(self, world: World, app: Any) -> None:
        t = world.tenant()
        browser = signed_in(world, app, t.admin)
        response = _api(browser, "GET", "/api/v1/me")
        me = expect(response, 200)
        assert me["user"]["id"] == t.admin.id
        assert response.headers["cache-control"] == "no-store"
        assert "Cookie" in response.headers["vary"]
        assert response.headers["cross-origin-resource-policy"] == "same-origin"

    def test_without_a_session_or_after_sign_out_it_is_401(self, world: World, app: Any) -> None:
        t = world.tenant()
        assert Browser(app).client.get("/api/v1/me").status_code == 401
        browser = signed_in(world, app, t.admin)
        token = browser.session_token
        assert token is not None
        browser.post("/logout")
        browser.client.cookies.set("roomwarden_session", token, domain="testserver.local")
        assert _api(browser, "GET", "/api/v1/me").status_code == 401

    def test_a_bearer_token_comes_before_the_cookie(self, world: World, app: Any) -> None:
        t = world.tenant()
        other = world.user(t)
        browser = signed_in(world, app, t.admin)
        me = expect(_api(browser, "GET", "/api/v1/me", headers=other.headers), 200)
        assert me["user"]["id"] == other.id
        forged = _api(browser, "GET", "/api/v1/me", headers={"Authorization": "Bearer nonsense"})
        assert forged.status_code == 401  # a bad token is not rescued by the cookie

    def test_the_sessions_rights_are_the_users_rights(self, world: World, app: Any) -> None:
        t, stranger = world.tenant(), world.tenant()
        room = world.room(t)
        plain = world.user(t)
        admin = signed_in(world, app, t.admin)
        expect(_api(admin, "GET", f"/api/v1/tenants/{t.id}/rooms/{room['id']}"), 200)
        nobody = signed_in(world, app, plain)
        assert _api(nobody, "GET", f"/api/v1/tenants/{t.id}/rooms/{room['id']}").status_code == 404
        assert _api(nobody, "GET", f"/api/v1/tenants/{t.id}/settings").status_code == 403
        assert _api(admin, "GET", f"/api/v1/tenants/{stranger.id}/rooms").status_code == 404

    def test_a_change_from_this_service_or_a_non_browser_client_goes_through(
        self, world: World, app: Any
    ) -> None:
        t = world.tenant()
        browser = signed_in(world, app, t.admin)
        path = f"/api/v1/tenants/{t.id}/rooms"
        body = {"name": "Oslo 1", "resource_account": f"oslo-1@{t.domain}", "country": "NO"}
        expect(_api(browser, "POST", path, json=body), 201)
        same = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver.local"}
        body2 = {**body, "name": "Oslo 2", "resource_account": f"oslo-2@{t.domain}"}
        expect(_api(browser, "POST", path, json=body2, headers=same), 201)

    @pytest.mark.parametrize("site", SITES)
    def test_a_change_started_by_another_site_is_refused_and_changes_nothing(
        self, world: World, app: Any, site: str
    ) -> None:
        t = world.tenant()
        browser = signed_in(world, app, t.admin)
        path = f"/api/v1/tenants/{t.id}/rooms"
        body = {"name": "Forged", "resource_account": f"forged@{t.domain}", "country": "NO"}
        refused = _api(browser, "POST", path, json=body, headers=SITES[site])
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert "another site" in refused.json()["detail"]
        rooms = expect(world.client.get(path, headers=t.admin.headers), 200)["items"]
        assert [r for r in rooms if r["name"] == "Forged"] == []
        # A read from the same browser is not a change: it still answers.
        expect(_api(browser, "GET", path, headers=SITES[site]), 200)
        # A bearer token is not sent by a browser on its own: the site does not matter.
        body["resource_account"] = f"bearer@{t.domain}"
        expect(_api(browser, "POST", path, json=body, headers={**SITES[site], **t.admin.headers}), 201)


class TestPartnerMfaThroughTheSession:
    def test_a_partner_session_without_a_second_factor_is_refused_and_recorded(
        self, world: World, app: Any
    ) -> None:
        customer, partner = world.tenant(), world.tenant()
        link(world, customer, partner)
        expect(
            world.client.patch(
                f"/api/v1/tenants/{customer.id}/settings",
                json={"require_mfa_for_partners": True},
                headers=customer.admin.headers,
            ),
            200,
        )
        without = signed_in(world, app, partner.admin, mfa=False)
        refused = _api(without, "GET", f"/api/v1/tenants/{customer.id}/rooms")
        assert refused.status_code == 403
        assert "multi-factor" in refused.json()["detail"] or "second factor" in refused.json()["detail"]
        failed = expect(
            world.client.get(
                f"/api/v1/tenants/{customer.id}/audit-logs",
                params={"result_status": "Failed"},
                headers=customer.admin.headers,
            ),
            200,
        )["items"]
        assert [r["user_tenant_id"] for r in failed if r["user_id"] == partner.admin.id] == [partner.id]
        with_factor = signed_in(world, app, partner.admin, mfa=True)
        expect(_api(with_factor, "GET", f"/api/v1/tenants/{customer.id}/rooms"), 200)
