"""The portal's Sign-in settings page (Global admins): the tenant's identity source, checked
against a real OpenID Connect provider (an ``oidc-provider-mock`` process) before it is
saved, the secret write-only, refusals next to their field with nothing lost or saved.
Who may open the page at all is in the page matrix (test_page_matrix.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from roomwarden.audit.models import AuditRecord
from roomwarden.identity.oidc.models import IdentityProvider
from tests.factories import World, expect
from tests.identity.oidc_provider import Provider, free_port, running_providers
from tests.portal.helpers import error_of, signed_in

SECRET = "portal-client-secret-1"


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with running_providers(1) as [provider]:
        yield provider


def _read(world: World, tenant_id: str, headers: dict[str, str]) -> dict[str, Any]:
    return expect(world.client.get(f"/api/v1/tenants/{tenant_id}/identity-provider", headers=headers), 200)


def test_a_global_admin_switches_to_its_provider_and_back(world: World, app: Any, idp: Provider) -> None:
    t = world.tenant()
    browser = signed_in(world, app, t.admin)
    settings = browser.get(f"/t/{t.id}/settings")
    assert f'href="/t/{t.id}/sign-in-settings"' in settings.text
    page = browser.get(f"/t/{t.id}/sign-in-settings")
    assert page.status_code == 200
    assert f"{world.settings.public_url}/auth/oidc/callback" in page.text
    for label in ("Issuer URL", "Client ID", "Client secret", "Admin claim", "Admin value"):
        assert f">{label}</label>" in page.text
    form = {
        "type": "oidc",
        "issuer": idp.issuer + "/",
        "client_id": "roomwarden-portal",
        "client_secret": SECRET,
        "admin_claim": "groups",
        "admin_value": "rw-admins",
        "mfa_acr_values": "urn:loa:mfa, urn:loa:high",
    }
    saved = browser.post(f"/t/{t.id}/sign-in-settings", form)
    assert saved.status_code == 303, saved.text
    read = _read(world, t.id, t.admin.headers)
    assert read["type"] == "oidc" and read["issuer"] == idp.issuer and read["client_secret_set"]
    assert read["mfa_acr_values"] == ["urn:loa:high", "urn:loa:mfa"]
    again = browser.get(saved.headers["location"])
    assert "Your changes were saved." in again.text and SECRET not in again.text
    assert "A secret is stored; leave this empty to keep it." in again.text
    # The secret may be left out while issuer and client stay the same.
    kept = browser.post(
        f"/t/{t.id}/sign-in-settings", {**form, "client_secret": "", "admin_claim": "", "admin_value": ""}
    )
    assert kept.status_code == 303, kept.text
    assert _read(world, t.id, t.admin.headers)["admin_claim"] is None
    with world.transaction(write=False) as s:
        assert SECRET not in s.get_one(IdentityProvider, uuid.UUID(t.id)).client_secret_sealed
        records = s.scalars(
            select(AuditRecord).where(
                AuditRecord.tenant_id == uuid.UUID(t.id), AuditRecord.category == "IdentityProvider"
            )
        ).all()
    assert len(records) == 2 and all(SECRET not in str(r.details) for r in records)
    # Back to local accounts: the provider's settings are kept for a later switch back.
    local = browser.post(f"/t/{t.id}/sign-in-settings", {"type": "local"})
    assert local.status_code == 303, local.text
    read = _read(world, t.id, t.admin.headers)
    assert read["type"] == "local" and read["issuer"] == idp.issuer


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        ({"issuer": "http://idp.example.com"}, "issuer", "not acceptable"),
        ({"issuer": "{unused}"}, "issuer", "discovery"),
        ({"type": ""}, "type", "Choose how the people of this tenant sign in"),
        ({"type": "saml"}, "type", "Choose one of the options offered."),
        ({"issuer": ""}, "issuer", "Enter the issuer URL"),
        ({"client_id": ""}, "client_id", "Enter the client ID"),
        ({"admin_value": ""}, "admin_value", "Give both the admin claim and its value"),
        ({"admin_claim": ""}, "admin_claim", "Give both the admin claim and its value"),
        ({"client_secret": ""}, "client_secret", "Enter the client secret"),
        ({"mfa_acr_values": "ok bad\u0007value"}, "mfa_acr_values", "control"),
    ],
)
def test_a_refused_form_says_why_keeps_the_values_and_saves_nothing(
    world: World, app: Any, idp: Provider, form: dict[str, str], field: str, says: str
) -> None:
    t = world.tenant()
    browser = signed_in(world, app, t.admin)
    browser.get(f"/t/{t.id}/sign-in-settings")
    body = {
        "type": "oidc",
        "issuer": idp.issuer,
        "client_id": "roomwarden-portal",
        "client_secret": SECRET,
        "admin_claim": "groups",
        "admin_value": "rw-admins",
        **form,
    }
    body["issuer"] = body["issuer"].replace("{unused}", f"http://127.0.0.1:{free_port()}")
    refused = browser.post(f"/t/{t.id}/sign-in-settings", body)
    assert refused.status_code == 422, refused.text
    assert says in error_of(refused, field)
    assert f'value="{body["issuer"]}"' in refused.text  # nothing typed is lost...
    assert SECRET not in refused.text  # ...except the secret, which is never sent back
    assert _read(world, t.id, t.admin.headers)["type"] == "local"


def test_only_a_global_admin_may_change_it(world: World, app: Any, idp: Provider) -> None:
    t = world.tenant()
    plain = world.user(t)
    browser = signed_in(world, app, plain)
    browser.get(f"/t/{t.id}/rooms")
    body = {"type": "oidc", "issuer": idp.issuer, "client_id": "x", "client_secret": SECRET}
    assert browser.post(f"/t/{t.id}/sign-in-settings", body).status_code == 403
    assert _read(world, t.id, t.admin.headers)["type"] == "local"


def test_a_federated_tenant_adds_people_without_a_password(world: World, app: Any, idp: Provider) -> None:
    t, local = world.tenant(), world.tenant()
    expect(
        world.client.put(
            f"/api/v1/tenants/{t.id}/identity-provider",
            json={"type": "oidc", "issuer": idp.issuer, "client_id": "rw", "client_secret": SECRET},
            headers=t.admin.headers,
        ),
        200,
    )
    browser = signed_in(world, app, t.admin)
    form = browser.get(f"/t/{t.id}/users/new")
    assert "Optional: people of this tenant sign in with your identity provider" in form.text
    added = browser.post(f"/t/{t.id}/users/new", {"upn": f"new@{t.domain}", "display_name": "New Person"})
    assert added.status_code == 303, added.text
    other = signed_in(world, app, local.admin)
    other.get(f"/t/{local.id}/users/new")
    refused = other.post(
        f"/t/{local.id}/users/new", {"upn": f"new@{local.domain}", "display_name": "New Person"}
    )
    assert refused.status_code == 422
    assert "Enter an initial password" in error_of(refused, "password")
    assert f'value="new@{local.domain}"' in refused.text


def test_trusting_the_providers_username_is_a_choice_off_by_default(
    world: World, app: Any, idp: Provider
) -> None:
    t = world.tenant()
    browser = signed_in(world, app, t.admin)
    page = browser.get(f"/t/{t.id}/sign-in-settings")
    assert 'name="trust_preferred_username"' in page.text and "preferred_username" in page.text
    form = {"type": "oidc", "issuer": idp.issuer, "client_id": "roomwarden-portal", "client_secret": SECRET}
    assert browser.post(f"/t/{t.id}/sign-in-settings", form).status_code == 303
    assert _read(world, t.id, t.admin.headers)["trust_preferred_username"] is False
    trusted = browser.post(f"/t/{t.id}/sign-in-settings", {**form, "trust_preferred_username": "yes"})
    assert trusted.status_code == 303, trusted.text
    assert _read(world, t.id, t.admin.headers)["trust_preferred_username"] is True
    shown = browser.get(f"/t/{t.id}/sign-in-settings")
    assert 'value="yes" checked' in shown.text
    assert browser.post(f"/t/{t.id}/sign-in-settings", form).status_code == 303  # unticked
    assert _read(world, t.id, t.admin.headers)["trust_preferred_username"] is False
