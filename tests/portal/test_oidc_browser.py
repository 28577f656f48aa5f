"""Federated sign-in in a real browser: Chromium goes to Roomwarden, on to a real OpenID
Connect provider (an ``oidc-provider-mock`` process), through its consent form and back to
the callback, and ends with an API token that works, or — through ``/login`` by the
accessible names of SPEC §9 — in the portal; a refusal at the provider ends on a readable,
accessible page."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.factories import TenantH, World, expect
from tests.identity.oidc_provider import Provider, running_providers
from tests.partners.helpers import link
from tests.portal.browser import assert_accessible

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def idps() -> Iterator[tuple[Provider, Provider]]:
    with running_providers(2) as (customer, partner):
        yield customer, partner


@pytest.fixture
def idp(idps: tuple[Provider, Provider]) -> Provider:
    return idps[0]


def _use(world: World, t: TenantH, issuer: str) -> None:
    body = {"type": "oidc", "issuer": issuer, "client_id": "roomwarden", "client_secret": "s3cret"}
    expect(
        world.client.put(f"/api/v1/tenants/{t.id}/identity-provider", json=body, headers=t.admin.headers), 200
    )


def _sign_in_at_login(page: Any, email: str, sub: str, provider_issuer: str) -> None:
    """``/`` → **Email** → **Next** → the provider's page → back in the portal."""
    page.goto("/")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(f"{provider_issuer}/**")
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.get_by_role("button", name="Sign out").wait_for()


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


def test_sign_in_at_login_through_each_organisations_provider(
    world: World, idps: tuple[Provider, Provider], new_context: Callable[..., Any]
) -> None:
    """The customer's provider answers as ``localhost``, another site than Roomwarden's
    ``127.0.0.1``: the flow cookie must survive the cross-site return (SameSite=Lax)."""
    contoso, fabrikam = world.tenant(), world.tenant()
    customer_idp, partner_idp = idps
    customer_issuer = f"http://localhost:{customer_idp.port}"
    _use(world, contoso, customer_issuer)
    _use(world, fabrikam, partner_idp.issuer)
    delegated, kept = world.room(contoso), world.room(contoso)
    link(world, contoso, fabrikam, scope={"rooms": [delegated["id"]]})

    # A customer's person: provisioned on the first sign-in, found again on the second.
    upn = f"casey@{contoso.domain}"
    sub = customer_idp.user(f"casey-{uuid.uuid4()}", email=upn, name="Casey Customer")
    page = new_context().new_page()
    _sign_in_at_login(page, upn, sub, customer_issuer)
    first = page.request.get("/api/v1/me")  # the API from the same browser: the portal's session
    assert first.ok and first.json()["user"]["upn"] == upn
    assert first.json()["user"]["display_name"] == "Casey Customer"
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").wait_for()
    assert page.request.get("/api/v1/me").status == 401
    _sign_in_at_login(page, upn, sub, customer_issuer)
    assert page.request.get("/api/v1/me").json()["user"]["id"] == first.json()["user"]["id"]

    # A partner technician through its own organisation's provider: exactly the delegated room.
    tech_upn = f"tech@{fabrikam.domain}"
    tech_sub = partner_idp.user(f"tech-{uuid.uuid4()}", email=tech_upn, name="Tess Tech", amr=["pwd"])
    tech = new_context().new_page()
    _sign_in_at_login(tech, tech_upn, tech_sub, partner_idp.issuer)
    tech_id = tech.request.get("/api/v1/me").json()["user"]["id"]
    role = expect(
        world.client.post(
            f"/api/v1/tenants/{contoso.id}/roles",
            json={"name": "Technicians", "permissions": ["rooms.view"]},
            headers=fabrikam.admin.headers,
        ),
        201,
    )
    expect(
        world.client.post(
            f"/api/v1/tenants/{contoso.id}/roles/{role['id']}/assignments",
            json={"name": "Field", "members": [{"type": "user", "id": tech_id}], "scope": {"all": True}},
            headers=fabrikam.admin.headers,
        ),
        201,
    )
    tech.reload()
    tech.get_by_label("Tenant").select_option(label=contoso.name)
    tech.get_by_role("button", name="Switch").click()
    tech.wait_for_url(f"**/t/{contoso.id}/**")
    tech.get_by_role("link", name="Rooms", exact=True).click()
    names = tech.get_by_role("table").locator("tbody tr th, tbody tr td:first-child").all_inner_texts()
    assert delegated["name"] in " ".join(names) and kept["name"] not in " ".join(names)

    # The customer requires MFA of partners; this provider did not report a second factor.
    expect(
        world.client.patch(
            f"/api/v1/tenants/{contoso.id}/settings",
            json={"require_mfa_for_partners": True},
            headers=contoso.admin.headers,
        ),
        200,
    )
    tech.reload()
    assert "second factor" in tech.get_by_role("main").inner_text()
    assert tech.request.get(f"/api/v1/tenants/{contoso.id}/rooms").status == 403
    assert_accessible(tech)
