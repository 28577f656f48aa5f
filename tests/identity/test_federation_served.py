"""Federated sign-in against the service started the way production starts it: every secret
from ``roomwarden keygen``, ``ROOMWARDEN_ENV=production``, a public URL on loopback over
plain HTTP, ``roomwarden migrate``, then ``roomwarden serve``; a fresh database of the run's
kind. Two real ``oidc-provider-mock`` processes (Contoso's and Fabrikam's) define their
users at start-up with ``--user-claims``. Each person signs in at ``/login`` the way a
browser does (an HTTP client following every redirect, the provider's consent form
answered over HTTP), then uses the portal and, from the same browser, the API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DB_KIND
from tests.identity.oidc_provider import Provider, running_providers, sent_on_to
from tests.live import free_port, roomwarden_serve
from tests.pg import postgres_database

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ROOMWARDEN = str(Path(sys.executable).with_name("roomwarden"))

CONTOSO_USERS = [
    {"sub": "c-alice", "email": "alice@contoso.test", "name": "Alice Admin", "groups": ["rw-admins"]},
    {"sub": "c-carol", "email": "carol@contoso.test", "name": "Carol Coordinator"},
]
FABRIKAM_USERS = [
    {"sub": "f-admin", "email": "admin@fabrikam.test", "name": "Fabrikam Admin", "amr": ["pwd", "mfa"]},
    {"sub": "f-tina", "email": "tina@fabrikam.test", "name": "Tina Tech", "amr": ["pwd", "mfa"]},
    {"sub": "f-tom", "email": "tom@fabrikam.test", "name": "Tom Tech", "amr": ["pwd"]},
]


@dataclass
class Service:
    url: str
    operator: dict[str, str]
    contoso: Provider
    fabrikam: Provider
    #: every browser opened by the tests, closed with the service
    browsers: list[httpx.Client]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with ExitStack() as stack:
        if DB_KIND == "postgresql":
            database_url = stack.enter_context(postgres_database())
        else:
            database_url = f"sqlite:///{tmp_path_factory.mktemp('production') / 'roomwarden.db'}"
        keygen = subprocess.run([ROOMWARDEN, "keygen"], capture_output=True, text=True, check=True)
        secrets = dict(line.split("=", 1) for line in keygen.stdout.split())
        port = free_port()
        env = {
            **secrets,
            "ROOMWARDEN_ENV": "production",
            "ROOMWARDEN_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "ROOMWARDEN_DATABASE_URL": database_url,
            # the providers run on this machine over http, which only this setting allows
            "ROOMWARDEN_OIDC_ALLOW_PRIVATE": "true",
        }
        subprocess.run(
            [ROOMWARDEN, "migrate"], env={**os.environ, **env}, capture_output=True, check=True, timeout=300
        )
        contoso, fabrikam = stack.enter_context(running_providers(2, [CONTOSO_USERS, FABRIKAM_USERS]))
        url = stack.enter_context(roomwarden_serve(database_url, 1, env, port=port))
        operator = {"Authorization": f"Bearer {secrets['ROOMWARDEN_OPERATOR_TOKEN']}"}
        service = Service(url, operator, contoso, fabrikam, [])
        yield service
        for browser in service.browsers:
            browser.close()


def _tenant(service: Service, name: str, domain: str, admin: str) -> tuple[str, dict[str, str]]:
    password = f"{name}-Local-Passw0rd-2026"
    created = httpx.post(
        f"{service.url}/api/v1/operator/tenants",
        headers=service.operator,
        json={
            "name": name,
            "domains": [domain],
            "admin": {"upn": admin, "display_name": name, "password": password},
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    token = httpx.post(
        f"{service.url}/api/v1/auth/token", data={"username": admin, "password": password}, timeout=30
    )
    assert token.status_code == 200, token.text
    return created.json()["id"], {"Authorization": f"Bearer {token.json()['access_token']}"}


def _use_provider(service: Service, tenant_id: str, headers: dict[str, str], body: dict[str, Any]) -> None:
    answer = httpx.put(
        f"{service.url}/api/v1/tenants/{tenant_id}/identity-provider",
        headers=headers,
        json={"type": "oidc", "client_id": "roomwarden", "client_secret": "a-client-secret", **body},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert "a-client-secret" not in answer.text
    assert answer.json()["redirect_uri"] == f"{service.url}/auth/oidc/callback"


@dataclass
class SignIn:
    browser: httpx.Client
    #: the last answer: Roomwarden's, after the provider sent the browser back
    last: httpx.Response


def _sign_in(service: Service, email: str, sub: str | None) -> SignIn:
    """``/`` → ``/login`` → Email, Next → the provider's page → (sign in as ``sub``, or Deny
    when ``None``) → the callback → where the portal sends the browser."""
    browser = httpx.Client(base_url=service.url, timeout=30, follow_redirects=False)
    service.browsers.append(browser)
    first = browser.get("/")
    assert first.status_code == 303 and first.headers["location"] == "/login"
    form = browser.get("/login")
    csrf = CSRF.search(form.text)
    assert csrf, form.text
    answer = browser.post("/login", data={"csrf_token": csrf.group(1), "step": "email", "email": email})
    authorize = sent_on_to(answer)
    provider = service.contoso if email.endswith("@contoso.test") else service.fabrikam
    assert authorize.startswith(f"{provider.issuer}/"), authorize
    assert httpx.get(authorize, timeout=10).status_code == 200  # the provider's page
    back = provider.consent(authorize, sub)
    last = browser.get("/auth/oidc/callback", params=back)
    while last.status_code in (302, 303) and last.headers["location"].startswith("/"):
        last = browser.get(last.headers["location"])
    return SignIn(browser, last)


def _page_text(response: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


def test_a_customer_and_a_partner_sign_in_through_their_own_providers(service: Service) -> None:
    contoso, contoso_local = _tenant(service, "Contoso", "contoso.test", "alice@contoso.test")
    fabrikam, fabrikam_local = _tenant(service, "Fabrikam", "fabrikam.test", "admin@fabrikam.test")
    _use_provider(
        service,
        contoso,
        contoso_local,
        {"issuer": service.contoso.issuer, "admin_claim": "groups", "admin_value": "rw-admins"},
    )
    _use_provider(service, fabrikam, fabrikam_local, {"issuer": service.fabrikam.issuer})

    # The customer's Global admin: the local account is linked on the first federated sign-in,
    # lands on its portal, and the same browser uses the API.
    alice = _sign_in(service, "alice@contoso.test", "c-alice")
    assert alice.last.status_code == 200 and "<title>Home" in alice.last.text
    assert 'method="post" action="/logout"' in alice.last.text or "Sign out" in alice.last.text
    me = alice.browser.get("/api/v1/me").json()
    assert (me["user"]["upn"], me["user"]["display_name"], me["user"]["is_global_admin"]) == (
        "alice@contoso.test",
        "Alice Admin",
        True,
    )
    rooms = []
    for n, country in enumerate(["US", "US", "DE"]):
        room = alice.browser.post(
            f"/api/v1/tenants/{contoso}/rooms",
            json={"name": f"Room {n}", "resource_account": f"room-{n}@contoso.test", "country": country},
        )
        assert room.status_code == 201, room.text
        rooms.append(room.json()["id"])
    invitation = alice.browser.post(
        f"/api/v1/tenants/{contoso}/partner-invitations",
        json={
            "partner_domain": "fabrikam.test",
            "expires_in_days": 7,
            "scope": {"rooms": rooms[:2]},
            "terms_accepted": True,
        },
    )
    assert invitation.status_code == 201, invitation.text

    # Carol has no admin claim: provisioned on first sign-in, not a Global admin.
    carol = _sign_in(service, "carol@contoso.test", "c-carol")
    carol_me = carol.browser.get("/api/v1/me").json()["user"]
    assert (carol_me["display_name"], carol_me["is_global_admin"]) == ("Carol Coordinator", False)
    assert carol.browser.get(f"/api/v1/tenants/{contoso}/settings").status_code == 403

    # The partner's admin signs in through Fabrikam's provider and accepts.
    partner_admin = _sign_in(service, "admin@fabrikam.test", "f-admin")
    admin_id = partner_admin.browser.get("/api/v1/me").json()["user"]["id"]
    accepted = partner_admin.browser.post(
        f"/api/v1/partner/invitations/{invitation.json()['id']}/accept",
        json={"primary_admins": [{"type": "user", "id": admin_id}]},
    )
    assert accepted.status_code == 201, accepted.text

    # Two technicians are provisioned by their first sign-in, then given a partner role.
    tina, tom = (
        _sign_in(service, "tina@fabrikam.test", "f-tina"),
        _sign_in(service, "tom@fabrikam.test", "f-tom"),
    )
    ids = [t.browser.get("/api/v1/me").json()["user"]["id"] for t in (tina, tom)]
    role = partner_admin.browser.post(
        f"/api/v1/tenants/{contoso}/roles",
        json={"name": "Fabrikam technicians", "description": "rooms", "permissions": ["rooms.view"]},
    )
    assert role.status_code == 201, role.text
    assignment = partner_admin.browser.post(
        f"/api/v1/tenants/{contoso}/roles/{role.json()['id']}/assignments",
        json={
            "name": "Technicians",
            "description": "field",
            "email_notifications": False,
            "members": [{"type": "user", "id": i} for i in ids],
            "scope": {"all": True},
        },
    )
    assert assignment.status_code == 201, assignment.text

    # Exactly the partner's rights in the customer tenant: the delegated rooms, nothing else.
    for technician in (tina, tom):
        listed = technician.browser.get(f"/api/v1/tenants/{contoso}/rooms").json()["items"]
        assert sorted(r["id"] for r in listed) == sorted(rooms[:2])
        assert technician.browser.get(f"/api/v1/tenants/{contoso}/rooms/{rooms[2]}").status_code == 404
        assert technician.browser.get(f"/api/v1/tenants/{contoso}/settings").status_code == 404
        assert technician.browser.get(f"/t/{contoso}/rooms").status_code == 200

    # Contoso requires MFA for partners: Tina's provider said mfa, Tom's did not.
    required = alice.browser.patch(
        f"/api/v1/tenants/{contoso}/settings", json={"require_mfa_for_partners": True}
    )
    assert required.status_code == 200, required.text
    assert tina.browser.get(f"/api/v1/tenants/{contoso}/rooms").status_code == 200
    refused = tom.browser.get(f"/api/v1/tenants/{contoso}/rooms")
    assert refused.status_code == 403
    assert "second factor" in refused.json()["detail"]
    page = tom.browser.get(f"/t/{contoso}/rooms")
    assert page.status_code == 403 and "second factor" in _page_text(page)
    # ...recorded in the customer's log; Tom's own tenant is not affected.
    failed = alice.browser.get(
        f"/api/v1/tenants/{contoso}/audit-logs",
        params={"result_status": "Failed", "user_upn": "tom@fabrikam.test"},
    ).json()["items"]
    assert failed and {r["user_tenant_id"] for r in failed} == {fabrikam}
    assert tom.browser.get("/api/v1/me").status_code == 200

    # Signing out ends the session for the portal and the API alike.
    tom.browser.post("/logout", data={"csrf_token": CSRF.search(page.text).group(1)})  # type: ignore[union-attr]
    assert tom.browser.get("/api/v1/me").status_code == 401

    # A refusal at the provider: a readable page and a Failed record, never a server error.
    denied = _sign_in(service, "carol@contoso.test", None)
    assert denied.last.status_code == 403
    assert "Sign-in failed" in denied.last.text
    sign_ins = alice.browser.get(
        f"/api/v1/tenants/{contoso}/audit-logs", params={"category": "SignIn", "result_status": "Failed"}
    ).json()["items"]
    assert sign_ins
