"""Attacks on the API's acceptance of the portal's session (identity/http.py), as another site,
a sibling subdomain or a signed-in victim's browser would make them, and the rules around
them that had no test of their own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.factories import TenantH, World, expect
from tests.portal.helpers import signed_in

#: A navigation another site starts (a link, ``window.open``, a redirect): the browser sends
#: the SameSite=Lax session cookie with it.
NAVIGATED_FROM = {
    "another site": {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    "a sibling subdomain": {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"},
}


def _rooms_named(world: World, t: TenantH, name: str) -> list[dict[str, Any]]:
    rooms = expect(world.client.get(f"/api/v1/tenants/{t.id}/rooms", headers=t.admin.headers), 200)
    return [r for r in rooms["items"] if r["name"] == name]


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
        reads = expect(
            world.client.get(
                f"/api/v1/tenants/{t.id}/audit-logs",
                params={"category": "EnrollmentKey", "result_status": "Successful"},
                headers=t.admin.headers,
            ),
            200,
        )["items"]
        assert reads == []
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
        exports = expect(
            world.client.get(
                f"/api/v1/tenants/{t.id}/audit-logs",
                params={"category": "AuditLog", "result_status": "Successful"},
                headers=t.admin.headers,
            ),
            200,
        )["items"]
        assert exports == []
        mine = browser.client.get(path, params={"start": today, "end": today})
        assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")

    def test_a_cross_site_navigation_still_reads_what_writes_nothing(self, world: World, app: Any) -> None:
        t = world.tenant()
        room = world.room(t)
        browser = signed_in(world, app, t.admin)
        path = f"/api/v1/tenants/{t.id}/rooms/{room['id']}"
        got = expect(browser.client.get(path, headers=NAVIGATED_FROM["another site"]), 200)
        assert got["id"] == room["id"]
