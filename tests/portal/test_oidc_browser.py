"""Federated sign-in in a real browser: Chromium goes to Roomwarden, on to a real OpenID
Connect provider (an ``oidc-provider-mock`` process), through its consent form and back to
the callback, and ends with an API token that works; a refusal at the provider ends on a
readable, accessible page."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.factories import World, expect
from tests.identity.oidc_provider import Provider, start_providers
from tests.portal.browser import assert_accessible

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    [provider] = start_providers(1)
    try:
        yield provider
    finally:
        provider.stop()


def test_sign_in_at_the_provider_in_a_browser(
    world: World, idp: Provider, new_context: Callable[..., Any]
) -> None:
    t = world.tenant()
    body = {"type": "oidc", "issuer": idp.issuer, "client_id": "roomwarden", "client_secret": "s3cret"}
    expect(
        world.client.put(f"/api/v1/tenants/{t.id}/identity-provider", json=body, headers=t.admin.headers), 200
    )
    upn = f"browser@{t.domain}"
    sub = idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Browser User", amr=["pwd", "otp"])

    page = new_context().new_page()
    page.goto(f"/auth/oidc/token?email={upn}")
    assert page.url.startswith(idp.issuer)  # at the provider's own page
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.get_by_role("heading", name="API token").wait_for()
    assert "with a second factor" in page.content()
    assert_accessible(page)
    token = page.get_by_label("Access token").input_value().strip()
    me = expect(world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 200)
    assert me["user"]["upn"] == upn and me["user"]["display_name"] == "Browser User"

    # Saying no at the provider ends on a readable page, not an error.
    page.goto(f"/auth/oidc/token?email={upn}")
    page.get_by_role("button", name="Deny").click()
    page.get_by_role("heading", name="Sign-in failed").wait_for()
    assert page.get_by_role("alert").inner_text() == "sign-in was cancelled at your identity provider"
    assert_accessible(page)
