"""Security headers on every portal response, and the portal's own error pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import roomwarden.identity.oidc as oidc_package
from roomwarden.portal.headers import CSP
from roomwarden.portal.web import NOT_FOUND_TEXT
from tests.portal.helpers import Browser, signed_in


def _assert_portal_headers(response, cache: str = "no-store") -> None:
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == cache


class TestHeaders:
    def test_sign_in_page(self, app):
        _assert_portal_headers(Browser(app).get("/login"))

    def test_pages_of_a_signed_in_user(self, world, app):
        t = world.tenant()
        b = signed_in(world, app, t.admin)
        _assert_portal_headers(b.get(f"/t/{t.id}/rooms"))
        _assert_portal_headers(b.get("/no-such-page"))
        _assert_portal_headers(b.post("/logout", csrf="forged"))

    def test_redirects_and_static_files(self, app):
        _assert_portal_headers(Browser(app).get("/"))
        css = Browser(app).get("/static/portal.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        _assert_portal_headers(css, cache="no-cache")

    def test_the_api_keeps_its_own(self, world):
        response = world.client.get("/api/v1/me", headers=world.tenant().admin.headers)
        assert "content-security-policy" not in response.headers

    def test_no_inline_script_or_style_in_any_template(self):
        """The portal's templates and the federated sign-in's own pages alike: the policy
        would block anything inline."""
        from roomwarden.portal.web import TEMPLATES

        oidc_pages = Path(oidc_package.__file__).parent / "templates"
        for path in [*TEMPLATES.rglob("*.html"), *oidc_pages.rglob("*.html")]:
            text = path.read_text()
            assert "<script" not in text, path
            assert "<style" not in text, path
            assert " style=" not in text, path
            assert not re.search(r"\son[a-z]+\s*=", text), path

    def test_the_federated_sign_in_pages_are_styled_within_the_policy(self, app):
        page = Browser(app).get("/auth/oidc/start", params={"email": "someone@nowhere.example"})
        assert page.status_code == 404
        assert page.headers["content-security-policy"] == CSP
        assert "<style" not in page.text
        sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)">', page.text)
        assert sheets
        for href in sheets:
            css = Browser(app).get(href)
            assert css.status_code == 200 and css.headers["content-type"].startswith("text/css"), href

    def test_policy_string(self):
        assert "frame-ancestors 'none'" in CSP


class TestErrorPages:
    def test_unknown_path_is_an_html_404(self, app):
        response = Browser(app).get("/no-such-page")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert NOT_FOUND_TEXT in response.text

    def test_unknown_api_path_stays_problem_json(self, world):
        response = world.client.get("/api/v1/no-such-thing")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize(
        "path", ["/t/not-a-uuid/rooms", "/t/{t}/rooms/not-a-uuid", "/t/{t}/rooms/{other_room}"]
    )
    def test_malformed_or_foreign_ids_are_the_same_404(self, world, app, path):
        t, other = world.tenant(), world.tenant()
        other_room = world.room(other)
        b = signed_in(world, app, t.admin)
        response = b.get(path.format(t=t.id, other_room=other_room["id"]))
        assert response.status_code == 404
        assert NOT_FOUND_TEXT in response.text

    def test_another_tenant_is_the_same_404_as_a_missing_one(self, world, app):
        import uuid

        t, other = world.tenant(), world.tenant()
        b = signed_in(world, app, t.admin)
        foreign = b.get(f"/t/{other.id}/rooms")
        missing = b.get(f"/t/{uuid.uuid4()}/rooms")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.text == missing.text


def test_pages_ignore_query_parameters_they_do_not_read(world, app):
    """A bookmarked or tagged link still opens the page (the API, unlike a page, refuses)."""
    t = world.tenant()
    b = signed_in(world, app, t.admin)
    assert b.get(f"/t/{t.id}/rooms?utm_source=mail").status_code == 200
    api = world.client.get(f"/api/v1/tenants/{t.id}/rooms?utm_source=mail", headers=t.admin.headers)
    assert api.status_code == 422
