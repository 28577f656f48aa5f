"""Attacks on the identity pages added to the portal and on the federated sign-in around
them: Sign-in settings (a partner, a stranger), the page that sends /login on to the
provider (a malicious discovery document), a pre-created account without a password (who
may claim it), and a provider whose endpoints point at the Roomwarden host itself."""

from __future__ import annotations

import html
import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roomwarden.app import create_app
from roomwarden.audit.models import AuditRecord
from roomwarden.identity.models import User
from roomwarden.identity.oidc import client as oidc_client
from roomwarden.identity.oidc import egress as oidc_egress
from roomwarden.identity.oidc.models import IdentityProvider
from roomwarden.kit.db import Database
from roomwarden.settings import Settings
from tests.factories import PASSWORD, TenantH, World, expect
from tests.identity.oidc_provider import ABSENT, Provider, running_providers
from tests.partners.helpers import link
from tests.portal.helpers import Browser, signed_in

SECRET = "attack-client-secret-1"


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with running_providers(1) as [provider]:
        yield provider


class Documents:
    """A provider that is nothing but JSON documents on a loopback port, each path's
    document replaceable at any time: a provider turning malicious after it was checked."""

    def __init__(self) -> None:
        self.docs: dict[str, Any] = {}
        self.requests: list[str] = []
        documents = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                documents.requests.append(self.path)
                doc = documents.docs.get(self.path.split("?", 1)[0])
                body = json.dumps(doc).encode()
                self.send_response(200 if doc is not None else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def discovery(self, **endpoints: str) -> None:
        self.docs["/.well-known/openid-configuration"] = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
            **endpoints,
        }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def documents() -> Iterator[Documents]:
    served = Documents()
    oidc_client.clear_caches()
    try:
        yield served
    finally:
        served.stop()
        oidc_client.clear_caches()


def _configure(world: World, t: TenantH, issuer: str, **extra: Any) -> Any:
    body = {"type": "oidc", "issuer": issuer, "client_id": f"rw-{t.id}", "client_secret": SECRET, **extra}
    return world.client.put(f"/api/v1/tenants/{t.id}/identity-provider", json=body, headers=t.admin.headers)


def _provider_row(world: World, t: TenantH) -> IdentityProvider | None:
    with world.transaction(write=False) as s:
        return s.get(IdentityProvider, uuid.UUID(t.id))


# -- Sign-in settings: partners and strangers ------------------------------------------------


def test_a_partner_never_changes_a_customers_sign_in_settings(world: World, app: Any, idp: Provider) -> None:
    """A partner's Global admin (a Primary admin of the link) acting in the customer: the
    page and its form answer 404, like the API's identity-provider route, and nothing changes."""
    c, p = world.tenant(), world.tenant()
    link(world, c, p)
    browser = signed_in(world, app, p.admin)
    assert browser.get(f"/t/{c.id}/rooms").status_code == 200  # it does act in the customer
    assert browser.get(f"/t/{c.id}/sign-in-settings").status_code == 404
    body = {"type": "oidc", "issuer": idp.issuer, "client_id": "partner-owned", "client_secret": SECRET}
    assert browser.post(f"/t/{c.id}/sign-in-settings", body).status_code == 404
    assert browser.post(f"/t/{c.id}/sign-in-settings", {"type": "local"}).status_code == 404
    api = f"/api/v1/tenants/{c.id}/identity-provider"
    assert world.client.get(api, headers=p.admin.headers).status_code == 404
    assert expect(world.client.get(api, headers=c.admin.headers), 200)["type"] == "local"
    assert _provider_row(world, c) is None
    # A stranger's Global admin: the same 404, nothing saved.
    stranger = signed_in(world, app, world.tenant().admin)
    assert stranger.post(f"/t/{c.id}/sign-in-settings", body).status_code == 404
    assert _provider_row(world, c) is None


# -- the page that moves /login on to the provider --------------------------------------------

REFRESH = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]*)">')


@pytest.mark.parametrize(
    "endpoint",
    [
        "javascript:alert(document.domain)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/authorize",
        "https://evil.example/authorize#x",
    ],
)
def test_a_malicious_authorization_endpoint_never_reaches_the_browser(
    world: World, app: Any, documents: Documents, endpoint: str
) -> None:
    """Refused when the provider is checked, and when a checked provider turns malicious
    later, /login sends the browser to Roomwarden's own start page (which says in words that
    the provider cannot be used), never to the document's address."""
    t = world.tenant()
    documents.discovery(authorization_endpoint=endpoint)
    refused = _configure(world, t, documents.issuer)
    assert refused.status_code == 422, refused.text
    documents.discovery()
    expect(_configure(world, t, documents.issuer), 200)
    documents.discovery(authorization_endpoint=endpoint)
    oidc_client.clear_caches()
    browser = Browser(app)
    browser.get("/login")
    page = browser.post("/login", {"step": "email", "email": f"victim@{t.domain}", "next": "/"})
    assert page.status_code == 200, page.text
    found = REFRESH.search(page.text)
    assert found, page.text
    url = html.unescape(found.group(1))
    assert url.startswith("/auth/oidc/start?"), url
    shown = html.unescape(page.text)
    assert endpoint.strip() not in shown and "evil.example" not in shown


@pytest.mark.parametrize(
    "suffix",
    ["/authorize;url=javascript:alert(1)", "/authorize'\"><script>alert(1)</script>", "/a?x=';url=data:,x"],
)
def test_quotes_and_url_tricks_in_an_http_endpoint_stay_inside_its_address(
    world: World, app: Any, documents: Documents, suffix: str
) -> None:
    """An endpoint that is an http(s) address but carries ``;url=`` or quotes: the meta
    refresh's URL still begins with the provider's address (a browser takes everything after
    the first ``url=``), and nothing breaks out of the attribute."""
    t = world.tenant()
    documents.discovery(authorization_endpoint=documents.issuer + suffix)
    expect(_configure(world, t, documents.issuer), 200)
    browser = Browser(app)
    browser.get("/login")
    page = browser.post("/login", {"step": "email", "email": f"victim@{t.domain}", "next": "/"})
    found = REFRESH.search(page.text)
    assert found, page.text
    assert html.unescape(found.group(1)).startswith(documents.issuer + "/a")
    assert "<script>alert" not in page.text


# -- a provider on the Roomwarden host itself, a metadata service or a private network ----------


@pytest.fixture
def strict(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A server with the default rules: ROOMWARDEN_OIDC_ALLOW_PRIVATE unset."""
    assert Settings().oidc_allow_private is False
    with TestClient(create_app(settings.model_copy(update={"oidc_allow_private": False}), db)) as c:
        yield c


def _configure_on(client: TestClient, t: TenantH, issuer: str) -> Any:
    body = {"type": "oidc", "issuer": issuer, "client_id": f"rw-{t.id}", "client_secret": SECRET}
    return client.put(f"/api/v1/tenants/{t.id}/identity-provider", json=body, headers=t.admin.headers)


@pytest.mark.parametrize(
    "issuer",
    [
        "{local}",  # http on loopback
        "https://127.0.0.1:{port}",
        "https://localhost:{port}",  # a name, refused for the address it resolves to
        "https://[::1]:{port}",
        "https://[::ffff:127.0.0.1]:{port}",
        "https://169.254.169.254/latest",
        "https://10.20.30.40/realms/x",
        "https://192.168.1.10/realms/x",
    ],
)
def test_a_default_server_refuses_a_provider_on_this_machine_or_a_private_network(
    world: World, strict: TestClient, documents: Documents, issuer: str
) -> None:
    """A tenant's Global admin cannot point the service at the host's own services, the
    cloud metadata service or a private network: refused when saved, before any request."""
    documents.discovery()
    port = documents.server.server_address[1]
    t = world.tenant()
    refused = _configure_on(strict, t, issuer.format(local=documents.issuer, port=port))
    assert refused.status_code == 422, refused.text
    assert "not acceptable" in refused.json()["detail"]
    assert _provider_row(world, t) is None
    assert documents.requests == []


@pytest.mark.parametrize("endpoint", ["token_endpoint", "jwks_uri", "authorization_endpoint"])
@pytest.mark.parametrize(
    "target", ["http://127.0.0.1:{port}/admin/steal", "https://localhost:{port}/x", "https://[::1]:{port}/x"]
)
def test_a_providers_endpoints_may_not_point_at_this_host(
    world: World,
    strict: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    documents: Documents,
    endpoint: str,
    target: str,
) -> None:
    """A provider elsewhere (``https://idp.example.test``) whose discovery document names an
    endpoint on loopback would make Roomwarden send the client secret and the code (token
    endpoint), or its own requests (key set), to whatever listens on the Roomwarden host.
    Refused when the provider is checked."""
    issuer = "https://idp.example.test/realms/attacker"
    local = target.format(port=documents.server.server_address[1])
    doc = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/certs",
        endpoint: local,
    }
    real = oidc_client._get_json

    def fake(settings: Any, url: str, what: str) -> dict[str, Any]:
        if url == f"{issuer}/.well-known/openid-configuration":
            return dict(doc)
        return real(settings, url, what)

    monkeypatch.setattr(oidc_client, "_get_json", fake)
    real_resolve = oidc_egress.resolve

    def resolve(settings: Settings, host: str, port: int) -> list[Any]:
        return [] if host == "idp.example.test" else real_resolve(settings, host, port)

    monkeypatch.setattr(oidc_egress, "resolve", resolve)
    oidc_client.clear_caches()
    t = world.tenant()
    refused = _configure_on(strict, t, issuer)
    assert refused.status_code == 422, refused.text
    assert "endpoint" in refused.json()["detail"]
    assert _provider_row(world, t) is None
    assert documents.requests == []


def test_a_provider_saved_elsewhere_is_checked_again_at_every_use(
    world: World, strict: TestClient, documents: Documents
) -> None:
    """The rule holds at use too, against the address connected to: a provider on loopback
    (saved on a development server sharing the database, or a name that resolves elsewhere
    now) is never asked by a default server; the person gets a readable 502 page."""
    documents.discovery()
    t = world.tenant()
    expect(_configure(world, t, documents.issuer), 200)  # the test server allows it
    oidc_client.clear_caches()
    documents.requests.clear()
    page = strict.get("/auth/oidc/start", params={"email": f"someone@{t.domain}"}, follow_redirects=False)
    assert page.status_code == 502, page.text
    assert "cannot be reached" in page.text
    assert documents.requests == []


# -- a pre-created account without a password: who may claim it -------------------------------


def _precreated(world: World, t: TenantH, idp: Provider, local: str = "boss") -> tuple[str, str]:
    expect(_configure(world, t, idp.issuer), 200)
    upn = f"{local}@{t.domain}"
    body = {"upn": upn, "display_name": "The Boss", "is_global_admin": True}
    users = f"/api/v1/tenants/{t.id}/users"
    added = expect(world.client.post(users, json=body, headers=t.admin.headers), 201)
    return upn, added["id"]


def _federated_sign_in(app: Any, idp: Provider, email: str, sub: str) -> Any:
    with TestClient(app) as browser:
        start = browser.get("/auth/oidc/token", params={"email": email}, follow_redirects=False)
        assert start.status_code == 303, start.text
        answer = idp.consent(start.headers["location"], sub)
        return browser.get("/auth/oidc/callback", params=answer, follow_redirects=False)


def _subject_of(world: World, user_id: str) -> str | None:
    with world.transaction(write=False) as s:
        return s.get_one(User, uuid.UUID(user_id)).oidc_subject


@pytest.mark.parametrize("verified", [False, "false", "False", "FALSE", 0, None, ABSENT])
def test_an_unverified_email_never_claims_a_precreated_account(
    world: World, app: Any, idp: Provider, verified: Any
) -> None:
    """The provider does not say the address is verified — JSON false, the string some
    providers send ("false"), null, or no email_verified at all — so anyone who typed that
    address at the provider could be its owner: the pre-created Global admin account is not
    linked to it, and nobody is provisioned from it."""
    t = world.tenant()
    upn, user_id = _precreated(world, t, idp)
    sub = idp.user(f"squatter-{uuid.uuid4()}", email=upn, email_verified=verified, name="Squatter")
    page = _federated_sign_in(app, idp, upn, sub)
    assert page.status_code == 403, page.text
    assert "did not vouch for a verified e-mail address" in page.text
    assert _subject_of(world, user_id) is None
    with world.transaction(write=False) as s:
        assert s.scalar(select(User).where(User.oidc_subject == sub)) is None


@pytest.mark.parametrize("verified", [False, "false", None, ABSENT])
def test_an_unverified_email_provisions_nobody(world: World, app: Any, idp: Provider, verified: Any) -> None:
    """An unverified address cannot squat a UPN before its owner arrives."""
    t = world.tenant()
    expect(_configure(world, t, idp.issuer), 200)
    upn = f"not-yet-here-{uuid.uuid4().hex[:8]}@{t.domain}"
    sub = idp.user(f"squatter-{uuid.uuid4()}", email=upn, email_verified=verified, name="Squatter")
    page = _federated_sign_in(app, idp, upn, sub)
    assert page.status_code == 403, page.text
    with world.transaction(write=False) as s:
        assert s.scalar(select(User).where(User.upn == upn)) is None


@pytest.mark.parametrize("verified", [True, "true"])
def test_a_verified_email_links_the_precreated_account_whatever_the_case(
    world: World, app: Any, idp: Provider, verified: Any
) -> None:
    """Linking itself still works: a verified address (JSON true or the string "true"),
    typed in another case at the provider."""
    t = world.tenant()
    upn, user_id = _precreated(world, t, idp)
    sub = idp.user(f"boss-{uuid.uuid4()}", email=upn.upper(), email_verified=verified, name="The Boss")
    page = _federated_sign_in(app, idp, upn, sub)
    assert page.status_code == 200, page.text
    assert _subject_of(world, user_id) == sub


@pytest.mark.parametrize("elsewhere", ["attacker@elsewhere.example", "attacker@{domain}"])
def test_a_preferred_username_beside_a_verified_email_claims_nobody(
    world: World, app: Any, idp: Provider, elsewhere: str
) -> None:
    """The takeover: a provider user whose verified e-mail is another address and whose
    preferred_username is the UPN of the Global admin who set up the provider. The token
    vouches only for the e-mail: the admin's account is never linked to that user."""
    t = world.tenant()
    expect(_configure(world, t, idp.issuer), 200)
    email = elsewhere.format(domain=t.domain)
    sub = idp.user(
        f"takeover-{uuid.uuid4()}", email=email, email_verified=True, preferred_username=t.admin.upn
    )
    page = _federated_sign_in(app, idp, t.admin.upn, sub)
    assert _subject_of(world, t.admin.id) is None
    with world.transaction(write=False) as s:
        taken = s.scalar(select(User).where(User.oidc_subject == sub))
    if email.endswith(t.domain):  # the verified address is the tenant's: that person, and only it
        assert page.status_code == 200, page.text
        assert taken is not None and taken.upn == email and not taken.is_global_admin
    else:
        assert page.status_code == 403, page.text
        assert taken is None


def test_a_tenant_may_trust_its_providers_preferred_username(world: World, app: Any, idp: Provider) -> None:
    """Entra ID sends preferred_username and no email_verified: a tenant that declares the
    claim trustworthy for its issuer links and provisions by it. Off by default, shown in
    the settings, and turned off by a change of issuer unless it is said again."""
    t = world.tenant()
    assert expect(_configure(world, t, idp.issuer), 200)["trust_preferred_username"] is False
    upn, user_id = _precreated(world, t, idp)
    claims = {"preferred_username": upn, "email": upn, "email_verified": ABSENT, "name": "The Boss"}
    sub = idp.user(f"entra-{uuid.uuid4()}", **claims)
    assert _federated_sign_in(app, idp, upn, sub).status_code == 403
    assert _subject_of(world, user_id) is None
    read = expect(_configure(world, t, idp.issuer, trust_preferred_username=True), 200)
    assert read["trust_preferred_username"] is True
    page = _federated_sign_in(app, idp, upn, sub)
    assert page.status_code == 200, page.text
    assert _subject_of(world, user_id) == sub
    # a new user, provisioned from the trusted claim alone
    newcomer = f"newcomer-{uuid.uuid4().hex[:8]}@{t.domain}"
    new_sub = idp.user(f"entra-{uuid.uuid4()}", preferred_username=newcomer, name="Newcomer")
    assert _federated_sign_in(app, idp, newcomer, new_sub).status_code == 200
    with world.transaction(write=False) as s:
        assert s.scalar(select(User.upn).where(User.oidc_subject == new_sub)) == newcomer
    # the trust belongs to the issuer: saving another issuer without it turns it off
    with running_providers(1) as [other]:
        assert expect(_configure(world, t, other.issuer), 200)["trust_preferred_username"] is False



def test_another_tenants_provider_never_claims_a_precreated_account(
    world: World, app: Any, idp: Provider
) -> None:
    """Another tenant on the same provider, its user with the pre-created account's address:
    the address is not in that tenant's domains, so nothing is granted or linked."""
    t, other = world.tenant(), world.tenant()
    upn, user_id = _precreated(world, t, idp)
    expect(_configure(world, other, idp.issuer), 200)
    sub = idp.user(f"other-{uuid.uuid4()}", email=upn, email_verified=True)
    page = _federated_sign_in(app, idp, f"someone@{other.domain}", sub)
    assert page.status_code == 403, page.text
    assert _subject_of(world, user_id) is None
    with world.transaction(write=False) as s:
        failed = s.scalars(
            select(AuditRecord).where(
                AuditRecord.tenant_id == uuid.UUID(other.id), AuditRecord.category == "SignIn"
            )
        ).all()
    assert failed and failed[-1].details["email_entered"] == f"someone@{other.domain}"


# -- Your account: a password guessed through a stolen session ---------------------------------


def test_password_guesses_on_the_account_page_are_counted_like_sign_ins(world: World, app: Any) -> None:
    """Someone holding a person's session guesses the current password on /account: each
    wrong guess counts, and past the limit even the right password is refused (429) and
    nothing changes; every refusal is in the person's own tenant's log."""
    t = world.tenant()
    user = world.user(t)
    browser = signed_in(world, app, user)
    browser.get("/account")
    limit = world.settings.signin_max_failures_per_account
    new = "quartz lantern orbit 42"
    for _ in range(limit):
        wrong = browser.post("/account/password", {"current_password": "guess guess", "new_password": new})
        assert wrong.status_code == 422
    right = browser.post("/account/password", {"current_password": PASSWORD, "new_password": new})
    assert right.status_code == 429, right.text
    expect(world.client.get("/api/v1/me", headers=user.headers), 200)  # its tokens still work
    with world.transaction(write=False) as s:
        failed = s.scalars(
            select(AuditRecord).where(
                AuditRecord.tenant_id == uuid.UUID(t.id),
                AuditRecord.object_id == str(user.id),
                AuditRecord.result_status == "Failed",
            )
        ).all()
    assert len(failed) == limit + 1


# -- login CSRF: another site starting a sign-in ------------------------------------------------

ANOTHER_SITE = {
    "Fetch Metadata": {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    "a sibling subdomain": {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"},
    "a browser without Fetch Metadata": {"Referer": "https://evil.example/page"},
}


@pytest.mark.parametrize("path", ["/auth/oidc/start", "/auth/oidc/token"])
@pytest.mark.parametrize("how", list(ANOTHER_SITE))
def test_another_site_cannot_start_a_sign_in_that_replaces_the_session(
    world: World, app: Any, idp: Provider, path: str, how: str
) -> None:
    """A link or redirect from another site gets a confirmation page that touches no cookie:
    the visitor's session stays, and no flow begins until the person sends the page's form
    from this service's own origin."""
    attacker = world.tenant()
    expect(_configure(world, attacker, idp.issuer), 200)
    victim = world.tenant()
    browser = signed_in(world, app, victim.admin)
    session = browser.session_token
    page = browser.get(path, params={"email": f"attacker@{attacker.domain}"}, headers=ANOTHER_SITE[how])
    assert page.status_code == 200, page.text
    assert f'<form method="post" action="{path}">' in page.text
    assert "set-cookie" not in page.headers
    assert browser.session_token == session
    assert browser.get(f"/t/{victim.id}/rooms").status_code == 200  # still signed in
    # the form sent from another site is refused too
    forged = browser.client.post(
        path, data={"email": f"attacker@{attacker.domain}"}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403, forged.text
    assert "set-cookie" not in forged.headers


def test_the_confirmed_sign_in_starts_a_fresh_flow(world: World, app: Any, idp: Provider) -> None:
    t = world.tenant()
    expect(_configure(world, t, idp.issuer), 200)
    browser = Browser(app)
    email = f"someone@{t.domain}"
    own = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
    confirmed = browser.client.post("/auth/oidc/start", data={"email": email, "next": "/x"}, headers=own)
    assert confirmed.status_code == 200, confirmed.text
    found = REFRESH.search(confirmed.text)
    assert found and html.unescape(found.group(1)).startswith(idp.issuer), confirmed.text
    assert browser.client.cookies.get("roomwarden_oidc_flow")
    # from Roomwarden's own pages, a typed address or a bookmark: no question asked
    for headers in ({"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {}):
        direct = browser.get("/auth/oidc/start", params={"email": email}, headers=headers)
        assert direct.status_code == 303 and direct.headers["location"].startswith(idp.issuer)
