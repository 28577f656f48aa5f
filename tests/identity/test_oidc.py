"""Federated sign-in through real OpenID Connect providers (``oidc-provider-mock``
processes): a customer's IdP and a partner's IdP, each on its own loopback port. The browser
is followed with HTTP clients: ``/auth/oidc/start`` or ``/auth/oidc/token`` → the provider's
consent form → ``/auth/oidc/callback``."""

from __future__ import annotations

import ast
import dataclasses
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import KeySet
from sqlalchemy import select

import roomwarden
from roomwarden.app import create_app
from roomwarden.audit.models import AuditRecord
from roomwarden.identity.models import User
from roomwarden.identity.oidc import client as oidc_client
from roomwarden.settings import Settings
from tests.factories import TenantH, World, expect
from tests.identity.oidc_provider import Provider, running_providers, sent_on_to
from tests.partners.helpers import link

SECRET = "client-secret-of-roomwarden"


@pytest.fixture(scope="module")
def idps() -> Iterator[tuple[Provider, Provider]]:
    with running_providers(2) as (customer, partner):
        yield customer, partner


@pytest.fixture
def browser(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A browser of its own: its own cookie jar."""
    with TestClient(app) as c:
        yield c


def configure(world: World, t: TenantH, idp: Provider, **extra: Any) -> dict[str, Any]:
    body = {"type": "oidc", "issuer": idp.issuer, "client_id": f"roomwarden-{t.id}", "client_secret": SECRET}
    return expect(
        world.client.put(
            f"/api/v1/tenants/{t.id}/identity-provider", json={**body, **extra}, headers=t.admin.headers
        ),
        200,
    )


def authorize_url(response: Any) -> str:
    assert response.status_code == 303, response.text
    return response.headers["location"]


def begin(browser: TestClient, email: str, purpose: str = "token") -> str:
    return authorize_url(
        browser.get(f"/auth/oidc/{purpose}", params={"email": email}, follow_redirects=False)
    )


def callback(browser: TestClient, answer: dict[str, str]) -> Any:
    return browser.get("/auth/oidc/callback", params=answer, follow_redirects=False)


def token_from(page: Any) -> str:
    assert page.status_code == 200, page.text
    start = page.text.index("readonly>") + len("readonly>")
    return page.text[start : page.text.index("</textarea>")].strip()


def sign_in(browser: TestClient, idp: Provider, email: str, sub: str) -> str:
    """The whole round trip; answers the API token shown at the end."""
    return token_from(callback(browser, idp.consent(begin(browser, email), sub)))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def records(world: World, tenant_id: str, category: str) -> list[AuditRecord]:
    """The tenant's audit records of ``category``, in chain order."""
    with world.transaction(write=False) as s:
        return list(
            s.scalars(
                select(AuditRecord)
                .where(AuditRecord.tenant_id == uuid.UUID(tenant_id), AuditRecord.category == category)
                .order_by(AuditRecord.seq)
            )
        )


def sign_in_records(world: World, tenant_id: str) -> list[AuditRecord]:
    return records(world, tenant_id, "SignIn")


class TestIdentityProviderSettings:
    def test_anonymous_401_other_tenant_404_non_admin_403(self, world: World, idps: Any) -> None:
        t, other = world.tenant(), world.tenant()
        plain = world.user(t)
        url = f"/api/v1/tenants/{t.id}/identity-provider"
        body = {"type": "oidc", "issuer": idps[0].issuer, "client_id": "x", "client_secret": SECRET}
        assert world.client.get(url).status_code == 401
        assert world.client.get(url, headers=other.admin.headers).status_code == 404
        assert world.client.put(url, json=body, headers=other.admin.headers).status_code == 404
        assert world.client.get(url, headers=plain.headers).status_code == 403
        assert world.client.put(url, json=body, headers=plain.headers).status_code == 403
        assert expect(world.client.get(url, headers=t.admin.headers), 200)["type"] == "local"

    def test_the_secret_is_sealed_never_returned_and_kept_when_omitted(self, world: World, idps: Any) -> None:
        t = world.tenant()
        read = configure(world, t, idps[0], admin_claim="groups", admin_value="rw-admins")
        assert read["type"] == "oidc" and read["client_secret_set"] is True
        assert SECRET not in str(read) and "client_secret" not in read
        assert read["redirect_uri"] == f"{world.settings.public_url}/auth/oidc/callback"
        url = f"/api/v1/tenants/{t.id}/identity-provider"
        got = expect(world.client.get(url, headers=t.admin.headers), 200)
        assert SECRET not in str(got) and got["admin_claim"] == "groups"
        from roomwarden.identity.oidc.models import IdentityProvider

        with world.transaction(write=False) as s:
            sealed = s.get_one(IdentityProvider, uuid.UUID(t.id)).client_secret_sealed
        assert SECRET not in sealed
        # Same issuer and client: the stored secret is kept; a new client needs a new secret.
        same = {"type": "oidc", "issuer": idps[0].issuer, "client_id": read["client_id"]}
        expect(world.client.put(url, json=same, headers=t.admin.headers), 200)
        other_client = {**same, "client_id": "another-client"}
        assert world.client.put(url, json=other_client, headers=t.admin.headers).status_code == 422
        changes = records(world, t.id, "IdentityProvider")
        assert [r.result_status for r in changes] == ["Successful", "Successful", "Failed"]
        assert all(SECRET not in str(r.details) for r in changes)

    def test_an_issuer_typed_with_a_trailing_slash_is_kept_as_the_provider_spells_it(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        t = world.tenant()
        read = configure(world, t, idps[0], issuer=idps[0].issuer + "/")
        assert read["issuer"] == idps[0].issuer  # the discovery document's own spelling
        idps[0].user("slash-1", email=f"slash@{t.domain}")
        me = expect(
            world.client.get(
                "/api/v1/me", headers=bearer(sign_in(browser, idps[0], f"slash@{t.domain}", "slash-1"))
            ),
            200,
        )
        assert me["user"]["upn"] == f"slash@{t.domain}"

    @pytest.mark.parametrize(
        ("body", "says"),
        [
            ({"type": "oidc", "client_id": "c", "client_secret": "s"}, "issuer"),
            (
                {"type": "oidc", "issuer": "ftp://idp.example", "client_id": "c", "client_secret": "s"},
                "not acceptable",
            ),
            (
                {"type": "oidc", "issuer": "http://idp.example.com", "client_id": "c", "client_secret": "s"},
                "not acceptable",
            ),
            ({"type": "oidc", "issuer": "{unused}", "client_id": "c", "client_secret": "s"}, "discovery"),
            (
                {
                    "type": "oidc",
                    "issuer": "{idp}",
                    "client_id": "c",
                    "client_secret": "s",
                    "admin_claim": "g",
                },
                "admin",
            ),
            ({"type": "saml"}, "type"),
        ],
    )
    def test_unusable_settings_are_422_and_nothing_changes(
        self, world: World, idps: Any, body: dict[str, Any], says: str
    ) -> None:
        from tests.identity.oidc_provider import free_port

        t = world.tenant()
        body = {
            k: (v.replace("{idp}", idps[0].issuer).replace("{unused}", f"http://127.0.0.1:{free_port()}"))
            if isinstance(v, str)
            else v
            for k, v in body.items()
        }
        url = f"/api/v1/tenants/{t.id}/identity-provider"
        response = world.client.put(url, json=body, headers=t.admin.headers)
        assert response.status_code == 422, response.text
        assert says in response.json()["detail"]
        assert expect(world.client.get(url, headers=t.admin.headers), 200)["type"] == "local"


class TestSignIn:
    def test_first_sign_in_provisions_the_second_finds_the_same_user(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        t = world.tenant()
        customer_idp = idps[0]
        configure(world, t, customer_idp)
        upn = f"ada@{t.domain}"
        sub = customer_idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Ada Lovelace")
        first = sign_in(browser, customer_idp, upn, sub)
        me = expect(world.client.get("/api/v1/me", headers=bearer(first)), 200)["user"]
        assert (me["upn"], me["display_name"], me["federated"]) == (upn, "Ada Lovelace", True)
        assert me["is_global_admin"] is False
        # The name changes at the provider: the second sign-in finds the same user and follows.
        customer_idp.user(sub, email=upn, name="Ada King")
        second = sign_in(browser, customer_idp, upn, sub)
        again = expect(world.client.get("/api/v1/me", headers=bearer(second)), 200)["user"]
        assert again["id"] == me["id"] and again["display_name"] == "Ada King"
        with world.transaction(write=False) as s:
            users = s.scalars(select(User).where(User.tenant_id == uuid.UUID(t.id), User.upn == upn)).all()
        assert len(users) == 1 and users[0].password_hash is None and users[0].oidc_subject == sub
        # A federated user has no password to sign in with, and the tenant takes none.
        form = {"username": upn, "password": "anything at all"}
        assert world.client.post("/api/v1/auth/token", data=form).status_code == 401

    def test_same_email_other_subject_is_refused_not_merged(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        t = world.tenant()
        idp = idps[0]
        configure(world, t, idp)
        upn = f"grace@{t.domain}"
        sign_in(browser, idp, upn, idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Grace"))
        impostor = idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Not Grace")
        page = callback(browser, idp.consent(begin(browser, upn), impostor))
        assert page.status_code == 403 and "already uses" in page.text
        [refused] = sign_in_records(world, t.id)
        assert refused.result_status == "Failed" and refused.details["subject"] == impostor

    def test_an_email_outside_the_tenants_domains_grants_nothing(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        t, victim = world.tenant(), world.tenant()
        idp = idps[0]
        configure(world, t, idp)
        # The tenant's own provider vouches for an address of another tenant's domain.
        sub = idp.user(f"sub-{uuid.uuid4()}", email=victim.admin.upn, name="Mallory")
        page = callback(browser, idp.consent(begin(browser, f"m@{t.domain}"), sub))
        assert page.status_code == 403 and "domains" in page.text
        expect(world.client.get("/api/v1/me", headers=victim.admin.headers), 200)
        with world.transaction(write=False) as s:
            assert s.scalar(select(User).where(User.oidc_subject == sub)) is None

    def test_a_deactivated_user_is_refused(self, world: World, idps: Any, browser: TestClient) -> None:
        t = world.tenant()
        idp = idps[0]
        configure(world, t, idp)
        upn = f"leaver@{t.domain}"
        sub = idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Leaver")
        me = expect(world.client.get("/api/v1/me", headers=bearer(sign_in(browser, idp, upn, sub))), 200)
        user_url = f"/api/v1/tenants/{t.id}/users/{me['user']['id']}"
        expect(world.client.patch(user_url, json={"is_active": False}, headers=t.admin.headers), 200)
        page = callback(browser, idp.consent(begin(browser, upn), sub))
        assert page.status_code == 403 and "deactivated" in page.text
        assert sign_in_records(world, t.id)[-1].details["status"] == 403

    def test_a_user_added_without_a_password_is_linked_at_its_first_sign_in(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        """In a federated tenant a Global admin adds people (to give them roles) before they
        ever sign in; a local tenant still needs a password."""
        t, local = world.tenant(), world.tenant()
        idp = idps[0]
        configure(world, t, idp)
        upn = f"early@{t.domain}"
        body = {"upn": upn, "display_name": "Early Bird"}
        added = expect(
            world.client.post(f"/api/v1/tenants/{t.id}/users", json=body, headers=t.admin.headers), 201
        )
        refused = world.client.post(
            f"/api/v1/tenants/{local.id}/users",
            json={"upn": f"early@{local.domain}", "display_name": "Early Bird"},
            headers=local.admin.headers,
        )
        assert refused.status_code == 422 and "password is required" in refused.json()["detail"]
        sub = idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Early Bird")
        me = expect(world.client.get("/api/v1/me", headers=bearer(sign_in(browser, idp, upn, sub))), 200)
        assert me["user"]["id"] == added["id"]
        assert world.client.post(
            "/api/v1/auth/token", data={"username": upn, "password": ""}
        ).status_code in (
            401,
            422,
        )

    def test_the_global_admin_who_configured_it_is_linked_on_first_sign_in(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        t = world.tenant()
        idp = idps[0]
        configure(world, t, idp)
        sub = idp.user(f"sub-{uuid.uuid4()}", email=t.admin.upn, name="The Admin")
        me = expect(
            world.client.get("/api/v1/me", headers=bearer(sign_in(browser, idp, t.admin.upn, sub))), 200
        )
        assert me["user"]["id"] == t.admin.id and me["user"]["is_global_admin"] is True
        # Its old password no longer signs in: the tenant signs in at its provider now.
        form = {"username": t.admin.upn, "password": "correct horse battery"}
        response = world.client.post("/api/v1/auth/token", data=form)
        assert response.status_code == 401 and "/login" in response.json()["detail"]

    def test_a_new_issuer_does_not_inherit_the_old_ones_subjects(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        """A ``sub`` is unique only at its issuer: after a switch of provider the same ``sub``
        names nobody yet, and each person's account is linked again by its first sign-in."""
        t = world.tenant()
        old, new = idps
        configure(world, t, old)
        sub = f"sub-{uuid.uuid4()}"
        old.user(sub, email=f"alice@{t.domain}", name="Alice")
        alice = expect(
            world.client.get("/api/v1/me", headers=bearer(sign_in(browser, old, f"alice@{t.domain}", sub))),
            200,
        )
        configure(world, t, new)
        new.user(sub, email=f"mallory@{t.domain}", name="Mallory")  # the same sub, someone else
        mallory = expect(
            world.client.get("/api/v1/me", headers=bearer(sign_in(browser, new, f"mallory@{t.domain}", sub))),
            200,
        )
        assert (
            mallory["user"]["id"] != alice["user"]["id"] and mallory["user"]["upn"] == f"mallory@{t.domain}"
        )
        again = new.user(f"sub-{uuid.uuid4()}", email=f"alice@{t.domain}", name="Alice")
        relinked = expect(
            world.client.get("/api/v1/me", headers=bearer(sign_in(browser, new, f"alice@{t.domain}", again))),
            200,
        )
        assert relinked["user"]["id"] == alice["user"]["id"]
        changes = records(world, t.id, "IdentityProvider")
        assert changes[-1].details["accounts_unlinked"] == 1

    def test_switching_back_to_local_keeps_the_users(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        t = world.tenant()
        idp = idps[0]
        configure(world, t, idp)
        upn = f"kept@{t.domain}"
        sub = idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Kept")
        user_id = expect(
            world.client.get("/api/v1/me", headers=bearer(sign_in(browser, idp, upn, sub))), 200
        )["user"]["id"]
        url = f"/api/v1/tenants/{t.id}/identity-provider"
        assert (
            expect(world.client.put(url, json={"type": "local"}, headers=t.admin.headers), 200)["type"]
            == "local"
        )
        users = expect(world.client.get(f"/api/v1/tenants/{t.id}/users", headers=t.admin.headers), 200)
        assert user_id in {u["id"] for u in users["items"]}
        # A Global admin gives the kept user a password; the provider no longer signs anyone in.
        reset = f"/api/v1/tenants/{t.id}/users/{user_id}/reset-password"
        expect(
            world.client.post(
                reset, json={"new_password": "Copper-Meadow-Falcon-19"}, headers=t.admin.headers
            ),
            204,
        )
        form = {"username": upn, "password": "Copper-Meadow-Falcon-19"}
        expect(world.client.post("/api/v1/auth/token", data=form), 200)
        page = browser.get("/auth/oidc/token", params={"email": upn}, follow_redirects=False)
        assert page.status_code == 404
        # And back: the stored provider (with its secret) is used again, the same user found.
        expect(
            world.client.put(
                url,
                json={"type": "oidc", "issuer": idp.issuer, "client_id": f"roomwarden-{t.id}"},
                headers=t.admin.headers,
            ),
            200,
        )
        again = expect(world.client.get("/api/v1/me", headers=bearer(sign_in(browser, idp, upn, sub))), 200)
        assert again["user"]["id"] == user_id


class TestRefusals:
    def test_refusal_at_the_provider_is_a_readable_page_and_a_record(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        t = world.tenant()
        configure(world, t, idps[0])
        answer = idps[0].consent(begin(browser, f"someone@{t.domain}"), None)
        assert answer["error"] == "access_denied"
        page = callback(browser, answer)
        assert page.status_code == 403 and "cancelled at your identity provider" in page.text
        assert "text/html" in page.headers["content-type"]
        [record] = sign_in_records(world, t.id)
        assert record.result_status == "Failed" and record.user_id == "anonymous"
        assert record.details["email_entered"] == f"someone@{t.domain}"  # who tried, as typed

    def test_behind_https_the_flow_cookie_cannot_be_planted_by_a_sibling_subdomain(
        self, world: World, idps: Any, settings: Any, db: Any
    ) -> None:
        """``__Host-``: Secure, host-only, path /. The attacker's own flow cookie planted under
        the plain name with its own code in the callback signs nobody in."""
        from roomwarden.app import create_app

        https_app = create_app(settings.model_copy(update={"public_url": "https://rooms.example.com"}), db)
        t = world.tenant()
        idp = idps[0]
        configure(world, t, idp)
        upn = f"planted@{t.domain}"
        sub = idp.user(f"sub-{uuid.uuid4()}", email=upn)
        with TestClient(https_app, base_url="https://testserver") as attacker:
            started = attacker.get("/auth/oidc/token", params={"email": upn}, follow_redirects=False)
            cookie = started.headers["set-cookie"]
            assert cookie.startswith("__Host-roomwarden_oidc_flow=") and "Secure" in cookie
            assert "Path=/;" in cookie and "Domain" not in cookie and "HttpOnly" in cookie
            answer = idp.consent(started.headers["location"], sub)
            sealed = attacker.cookies["__Host-roomwarden_oidc_flow"]
        with TestClient(https_app, base_url="https://testserver") as victim:
            victim.cookies.set("roomwarden_oidc_flow", sealed, domain="testserver.local")
            page = victim.get("/auth/oidc/callback", params=answer, follow_redirects=False)
            assert page.status_code == 400 and "started in another browser" in page.text

    def test_a_state_that_is_not_this_browsers_is_refused(
        self, world: World, idps: Any, browser: TestClient, app: Any
    ) -> None:
        t = world.tenant()
        idp = idps[0]
        configure(world, t, idp)
        upn = f"victim@{t.domain}"
        sub = idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Victim")
        # The attacker's own code, delivered to a victim's browser (login CSRF): the victim's
        # browser holds no flow, or another one.
        attacker_answer = idp.consent(begin(browser, upn), sub)
        with TestClient(app) as victim:
            page = callback(victim, attacker_answer)
            assert page.status_code == 400 and "another browser" in page.text
            begin(victim, upn)
            page = callback(victim, attacker_answer)
            assert page.status_code == 400 and "state mismatch" in page.text
        tampered = {**attacker_answer, "state": attacker_answer["state"] + "x"}
        assert callback(browser, tampered).status_code == 400
        assert [r.details["status"] for r in sign_in_records(world, t.id)] == [400, 400]

    def test_a_code_from_another_sign_in_fails_the_nonce(
        self, world: World, idps: Any, browser: TestClient, app: Any
    ) -> None:
        t = world.tenant()
        idp = idps[0]
        configure(world, t, idp)
        upn = f"nonce@{t.domain}"
        sub = idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Nonce")
        # Two sign-ins are started; the first one's code is replayed with the second's state.
        first = idp.consent(begin(browser, upn), sub)
        second_url = begin(browser, upn)
        second_state = parse_qs(urlsplit(second_url).query)["state"][0]
        page = callback(browser, {"code": first["code"], "state": second_state})
        assert page.status_code == 403 and "nonce" in page.text

    def test_a_token_for_another_audience_or_from_the_other_tenants_provider_is_refused(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        customer_idp, partner_idp = idps
        t = world.tenant()
        configure(world, t, customer_idp)
        upn = f"aud@{t.domain}"
        sub = customer_idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Aud")
        partner_idp.user(sub, email=upn, name="Aud")
        settings = world.settings
        metadata = oidc_client.discover(settings, customer_idp.issuer)
        url = begin(browser, upn)
        nonce = parse_qs(urlsplit(url).query)["nonce"][0]
        # Real ID tokens minted for this nonce: one for another client, one by the partner's IdP.
        other_client = url.replace(f"client_id=roomwarden-{t.id}", "client_id=someone-else")
        code = customer_idp.consent(other_client, sub)["code"]
        foreign = oidc_client.exchange_code(
            settings, metadata, client_id="someone-else", client_secret="x",
            redirect_uri=f"{settings.public_url}/auth/oidc/callback", code=code, code_verifier="v" * 64,
        )  # fmt: skip
        with pytest.raises(oidc_client.TokenRejected, match="aud"):
            oidc_client.validate_id_token(
                settings, metadata, foreign, client_id=f"roomwarden-{t.id}", nonce=nonce
            )
        partner_meta = oidc_client.discover(settings, partner_idp.issuer)
        partner_url = url.replace(customer_idp.issuer, partner_idp.issuer)
        code = partner_idp.consent(partner_url, sub)["code"]
        from_partner = oidc_client.exchange_code(
            settings, partner_meta, client_id=f"roomwarden-{t.id}", client_secret="x",
            redirect_uri=f"{settings.public_url}/auth/oidc/callback", code=code, code_verifier="v" * 64,
        )  # fmt: skip
        with pytest.raises(oidc_client.TokenRejected):
            oidc_client.validate_id_token(
                settings, metadata, from_partner, client_id=f"roomwarden-{t.id}", nonce=nonce
            )
        # And through the browser: the partner IdP's code at the customer's callback.
        answer = partner_idp.consent(partner_url, sub)
        assert callback(browser, answer).status_code in (403, 502)


def test_unknown_key_ids_refetch_the_key_set_at_most_once_per_interval(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []
    document = KeySet.generate_key_set("RSA", 2048, count=1).as_dict(private=False)

    def key_set_document(settings: Settings, url: str, what: str) -> dict[str, Any]:
        fetched.append(url)
        return document

    monkeypatch.setattr(oidc_client, "_get_json", key_set_document)
    url = f"https://idp.example/{uuid.uuid4()}/jwks"
    settings = world.settings.model_copy(update={"oidc_jwks_refetch_seconds": 3600})
    oidc_client._key_set(settings, url, refresh=False)
    oidc_client._key_set(settings, url, refresh=False)  # cached
    for _ in range(5):  # a burst of unknown key ids within the interval
        oidc_client._key_set(settings, url, refresh=True)
    assert len(fetched) == 1
    oidc_client._key_set(settings.model_copy(update={"oidc_jwks_refetch_seconds": 0}), url, refresh=True)
    assert len(fetched) == 2


def test_a_rotated_key_is_picked_up_by_the_next_sign_in(world: World, browser: TestClient) -> None:
    """With the default settings: the sign-in right after the provider's restart (a new key
    id) succeeds; only a refetch within the same second as the last one would wait."""
    assert world.settings.oidc_jwks_refetch_seconds == Settings().oidc_jwks_refetch_seconds == 1
    with running_providers(1) as [idp]:
        t = world.tenant()
        configure(world, t, idp)
        upn = f"rotate@{t.domain}"
        claims = {"email": upn, "name": "Rotate"}
        expect(
            world.client.get(
                "/api/v1/me", headers=bearer(sign_in(browser, idp, upn, idp.user("r1", **claims)))
            ),
            200,
        )
        fetched = time.monotonic()
        idp.restart()  # a new signing key with a new key id, on the same issuer
        time.sleep(max(0.0, 1.05 - (time.monotonic() - fetched)))  # a restart takes longer anyway
        token = sign_in(browser, idp, upn, idp.user("r1", **claims))
        expect(world.client.get("/api/v1/me", headers=bearer(token)), 200)


class TestClaims:
    def test_the_admin_claim_makes_and_unmakes_a_global_admin(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        t = world.tenant()
        idp = idps[0]
        configure(world, t, idp, admin_claim="groups", admin_value="rw-admins")
        upn = f"boss@{t.domain}"
        sub = idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Boss", groups=["staff", "rw-admins"])
        token = sign_in(browser, idp, upn, sub)
        assert expect(world.client.get("/api/v1/me", headers=bearer(token)), 200)["user"]["is_global_admin"]
        expect(world.client.get(f"/api/v1/tenants/{t.id}/users", headers=bearer(token)), 200)
        idp.user(sub, email=upn, name="Boss", groups=["staff"])
        token = sign_in(browser, idp, upn, sub)
        assert not expect(world.client.get("/api/v1/me", headers=bearer(token)), 200)["user"][
            "is_global_admin"
        ]
        assert world.client.get(f"/api/v1/tenants/{t.id}/users", headers=bearer(token)).status_code == 403
        # Without an admin claim configured, the claim means nothing.
        plain = world.tenant()
        configure(world, plain, idp)
        upn = f"boss@{plain.domain}"
        sub = idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Boss", groups=["rw-admins"])
        token = sign_in(browser, idp, upn, sub)
        assert not expect(world.client.get("/api/v1/me", headers=bearer(token)), 200)["user"][
            "is_global_admin"
        ]

    def test_the_claim_never_removes_the_last_global_admin(
        self, world: World, idps: Any, browser: TestClient
    ) -> None:
        t = world.tenant()
        idp = idps[0]
        configure(world, t, idp, admin_claim="role", admin_value="admin")
        sub = idp.user(f"sub-{uuid.uuid4()}", email=t.admin.upn, name="Only Admin", role="user")
        me = expect(
            world.client.get("/api/v1/me", headers=bearer(sign_in(browser, idp, t.admin.upn, sub))), 200
        )
        assert me["user"]["id"] == t.admin.id and me["user"]["is_global_admin"] is True


@pytest.fixture
def delegation(world: World, idps: Any) -> dict[str, Any]:
    """Contoso-like customer on one IdP, Fabrikam-like partner on the other, linked with one
    room group; the partner's help desk holds a custom partner role with tickets only."""
    customer_idp, partner_idp = idps
    c, p = world.tenant("Customer"), world.tenant("Partner")
    inside, outside = world.room(c), world.room(c)
    group = world.room_group(c, [inside["id"]])
    lk = link(world, c, p, scope={"room_groups": [group["id"]]})
    configure(world, c, customer_idp)
    configure(world, p, partner_idp, admin_claim="groups", admin_value="admins")
    return {"c": c, "p": p, "inside": inside, "outside": outside, "group": group, "link": lk}


class TestPartnerThroughItsOwnProvider:
    def test_a_partner_idp_user_gets_exactly_the_partners_rights(
        self, world: World, idps: Any, browser: TestClient, delegation: dict[str, Any]
    ) -> None:
        customer_idp, partner_idp = idps
        c, p, inside, outside = delegation["c"], delegation["p"], delegation["inside"], delegation["outside"]
        tech_upn = f"tech@{p.domain}"
        tech_sub = partner_idp.user(f"sub-{uuid.uuid4()}", email=tech_upn, name="Tech", amr=["pwd"])
        tech = bearer(sign_in(browser, partner_idp, tech_upn, tech_sub))
        tech_id = expect(world.client.get("/api/v1/me", headers=tech), 200)["user"]["id"]
        # Provisioned in the partner tenant with nothing in the customer yet.
        assert world.client.get(f"/api/v1/tenants/{c.id}/tickets", headers=tech).status_code == 404
        assert world.client.get(f"/api/v1/tenants/{p.id}/users", headers=tech).status_code == 403
        # The partner's Global admin (by the partner IdP's admin claim) gives it a help-desk role.
        boss_upn = f"boss@{p.domain}"
        boss_sub = partner_idp.user(f"sub-{uuid.uuid4()}", email=boss_upn, name="Boss", groups=["admins"])
        boss = bearer(sign_in(browser, partner_idp, boss_upn, boss_sub))
        tenant_managers = "/api/v1/partner/tenant-managers"
        assert world.client.get(tenant_managers, headers=boss).status_code == 200
        role = expect(
            world.client.post(
                f"/api/v1/tenants/{c.id}/roles",
                json={"name": "Desk", "permissions": ["tickets.view", "tickets.update"]},
                headers=p.admin.headers,
            ),
            201,
        )
        body = {
            "name": "Desk",
            "members": [{"type": "user", "id": tech_id}],
            "scope": {"room_groups": [delegation["group"]["id"]]},
        }
        expect(
            world.client.post(
                f"/api/v1/tenants/{c.id}/roles/{role['id']}/assignments", json=body, headers=p.admin.headers
            ),
            201,
        )
        ticket_in = world.incident(c, inside["id"])
        world.incident(c, outside["id"])
        tickets = expect(world.client.get(f"/api/v1/tenants/{c.id}/tickets", headers=tech), 200)["items"]
        assert [t["id"] for t in tickets] == [ticket_in["id"]]
        assert (
            world.client.get(f"/api/v1/tenants/{c.id}/rooms/{inside['id']}", headers=tech).status_code == 404
        )
        assert (
            world.client.get(f"/api/v1/tenants/{c.id}/rooms/{outside['id']}", headers=tech).status_code == 404
        )
        assert world.client.get(f"/api/v1/tenants/{c.id}/users", headers=tech).status_code == 404
        # The customer's IdP cannot sign a partner user in: the domain is not the customer's.
        page = callback(browser, customer_idp.consent(begin(browser, f"x@{c.domain}"), tech_sub))
        assert page.status_code == 403

    @pytest.mark.parametrize(
        ("claims", "mfa"),
        [
            ({"amr": ["pwd"]}, False),
            ({}, False),
            ({"amr": ["pwd", "mfa"]}, True),
            ({"amr": ["hwk"]}, True),
            ({"amr": ["fido", "pwd"]}, True),
            ({"amr": ["pwd"], "acr": "urn:example:loa:2fa"}, True),
            ({"amr": ["pwd"], "acr": "urn:example:loa:1"}, False),
            ({"amr": "mfa"}, False),
        ],
    )
    def test_amr_and_acr_meet_or_fail_the_customers_mfa_requirement(
        self,
        world: World,
        idps: Any,
        browser: TestClient,
        delegation: dict[str, Any],
        claims: dict[str, Any],
        mfa: bool,
    ) -> None:
        _, partner_idp = idps
        c, p = delegation["c"], delegation["p"]
        configure(
            world,
            p,
            partner_idp,
            admin_claim="groups",
            admin_value="admins",
            mfa_acr_values=["urn:example:loa:2fa"],
        )
        expect(
            world.client.patch(
                f"/api/v1/tenants/{c.id}/settings",
                json={"require_mfa_for_partners": True},
                headers=c.admin.headers,
            ),
            200,
        )
        # The partner's Global admin (a Primary admin of the link) signs in at the partner IdP.
        sub = partner_idp.user(f"sub-{uuid.uuid4()}", email=p.admin.upn, name="Partner Admin", **claims)
        token = bearer(sign_in(browser, partner_idp, p.admin.upn, sub))
        rooms = world.client.get(f"/api/v1/tenants/{c.id}/rooms", headers=token)
        if mfa:
            assert [r["id"] for r in expect(rooms, 200)["items"]] == [delegation["inside"]["id"]]
            return
        assert rooms.status_code == 403
        assert "second factor" in rooms.json()["detail"]
        with world.transaction(write=False) as s:
            refused = s.scalars(
                select(AuditRecord).where(
                    AuditRecord.tenant_id == uuid.UUID(c.id),
                    AuditRecord.user_id == p.admin.id,
                    AuditRecord.result_status == "Failed",
                )
            ).all()
        assert len(refused) == 1 and "second factor" in refused[0].details["reason"]
        # Its own tenant is not the customer's business: no second factor needed there.
        expect(world.client.get(f"/api/v1/tenants/{p.id}/users", headers=token), 200)


class TestPortalSignIn:
    """``/login``'s first step sends an OpenID Connect tenant's people to their provider; the
    callback opens a portal session that carries the sign-in's MFA fact."""

    def test_login_redirects_to_the_provider_and_the_callback_opens_a_session(
        self, world: World, idps: Any, app: Any
    ) -> None:
        from roomwarden.identity import sessions
        from tests.portal.helpers import Browser

        idp = idps[0]
        t = world.tenant()
        configure(world, t, idp)
        upn = f"portal@{t.domain}"
        sub = idp.user(f"sub-{uuid.uuid4()}", email=upn, name="Portal Person", amr=["pwd", "mfa"])
        b = Browser(app)
        b.get("/login")
        home = f"/t/{t.id}"
        step1 = b.post("/login", {"step": "email", "email": upn, "next": home})
        authorize = sent_on_to(step1)
        assert authorize.startswith(f"{idp.issuer}/oauth2/authorize?")
        assert "code_challenge_method=S256" in authorize
        done = b.get("/auth/oidc/callback", params=idp.consent(authorize, sub))
        assert done.status_code == 303 and done.headers["location"] == home
        token = b.session_token
        assert token
        with world.transaction(write=False) as s:
            active = sessions.read_session(s, world.settings, token)
        assert active is not None and active.principal.upn == upn and active.principal.mfa
        assert active.method == "oidc"
        page = b.get(home)
        assert page.status_code in (200, 303) and "/login" not in page.headers.get("location", "")
        # Sign-out everywhere (with an API token of the same user) ends the portal session too.
        api = sign_in(TestClient(app), idp, upn, sub)
        assert world.client.post("/api/v1/me/sign-out-everywhere", headers=bearer(api)).status_code == 204
        with world.transaction(write=False) as s:
            assert sessions.read_session(s, world.settings, token) is None

    def test_a_local_tenant_still_asks_for_the_password(self, world: World, app: Any) -> None:
        from tests.portal.helpers import Browser

        t = world.tenant()
        b = Browser(app)
        b.get("/login")
        step1 = b.post("/login", {"step": "email", "email": t.admin.upn, "next": "/"})
        assert step1.status_code == 200 and 'name="password"' in step1.text


class TestTheProductionHttpPath:
    """The service talks to providers with ``httpx`` alone, whatever else is installed: the
    test environment also has ``httpx2`` (for Starlette's TestClient), which Authlib's client
    integration would pick instead, with other exceptions on a timeout."""

    def test_a_code_exchange_that_times_out_is_a_502_page_and_a_record(
        self, world: World, db: Any, idps: Any
    ) -> None:
        idp = idps[0]
        t = world.tenant()
        configure(world, t, idp)
        upn = f"slow@{t.domain}"
        sub = idp.user(f"slow-{t.id}", email=upn, email_verified=True, name="Slow")
        silent = socket.socket()  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings = world.settings.model_copy(update={"oidc_http_timeout_seconds": 1})
        try:
            with TestClient(create_app(settings, db)) as browser:
                answer = idp.consent(begin(browser, upn), sub)
                url = idp.issuer.rstrip("/") + "/.well-known/openid-configuration"
                cached = oidc_client._metadata_cache.get(url)
                assert cached is not None
                slow = f"http://127.0.0.1:{silent.getsockname()[1]}/token"
                oidc_client._metadata_cache.put(url, dataclasses.replace(cached[0], token_endpoint=slow))
                began = time.monotonic()
                page = callback(browser, answer)
                took = time.monotonic() - began
        finally:
            silent.close()
            oidc_client.clear_caches()
        assert page.status_code == 502, page.text
        assert "could not be reached" in page.text
        assert took < 5, took
        assert sign_in_records(world, t.id)[-1].details["status"] == 502

    def test_the_service_never_uses_authlibs_client_integration_or_httpx2(self) -> None:
        root = Path(roomwarden.__file__).parent
        offenders = []
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                offenders += [
                    f"{path.relative_to(root)}: {n}"
                    for n in names
                    if n.split(".")[0] == "httpx2" or n.startswith("authlib.integrations")
                ]
        assert offenders == []
