"""Attacks on the API's acceptance of the portal's session (identity/http.py), as another site,
a sibling subdomain or a signed-in victim's browser would make them, and the rules around
them that had no test of their own."""

from __future__ import annotations

from typing import Any

from tests.factories import TenantH, World, expect
from tests.portal.helpers import signed_in


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
