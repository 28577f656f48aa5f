"""The browser's round trip through a tenant's provider.

``start`` picks the provider from the e-mail's domain (home realm discovery), prepares an
authorization request and binds its ``state``, ``nonce`` and PKCE verifier to this browser
in a short-lived, encrypted, HTTP-only cookie. ``complete`` checks the callback against
that cookie, exchanges the code, validates the ID token and finds or provisions the user.
Every way it can fail raises ``SignInFailed`` with a message for the person and, where the
tenant is known, the reason for the tenant's audit log.

The provider is never asked inside a database transaction nor on a request thread: the
steps that read or write the database (``provider_snapshot``, ``consume``, ``provision``)
are short transactions of their own, and every step that waits on the provider runs through
``ProviderCalls`` — a small thread pool of its own, a bounded number of calls in flight per
provider, a deadline, and the request's admission turn given up meanwhile. A flow is
completed once: its ``state`` is recorded before the provider is asked (``consume``), so a
replayed callback is refused without reaching the provider.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from roomwarden.identity.domains import tenant_by_domain
from roomwarden.identity.oidc import client, config
from roomwarden.identity.oidc.models import OidcUsedFlow
from roomwarden.identity.oidc.provisioning import FederatedSignIn, SignInRefused, sign_in
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import state_tenants
from roomwarden.kit.limits import stepped_aside
from roomwarden.kit.time import utcnow
from roomwarden.settings import Settings
from roomwarden.tenants.models import Tenant

PURPOSES = ("portal", "token")


class SignInFailed(Exception):
    """Shown to the person as ``message``; recorded in ``tenant_id``'s log when known."""

    def __init__(
        self,
        message: str,
        *,
        tenant_id: uuid.UUID | None = None,
        status: int = 400,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.tenant_id = tenant_id
        self.status = status
        self.details = details or {}


@dataclass(frozen=True, slots=True)
class Flow:
    """What the browser carries between ``start`` and ``complete`` (sealed in the cookie)."""

    tenant_id: str
    state: str
    nonce: str
    code_verifier: str
    purpose: str
    next: str
    #: the e-mail the person typed at /login (a hint, never trusted: it names who *tried*
    #: in the record of a failed sign-in, not who signed in)
    email: str | None = None


def _cookie_box(settings: Settings) -> Fernet:
    """A key of its own for flow cookies, derived from ``ROOMWARDEN_SECRET_KEY``."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"roomwarden oidc flow cookie").derive(
        settings.secret_key.get_secret_value().encode()
    )
    return Fernet(base64.urlsafe_b64encode(raw))


def seal_flow(settings: Settings, flow: Flow) -> str:
    return _cookie_box(settings).encrypt(json.dumps(asdict(flow)).encode()).decode()


def open_flow(settings: Settings, sealed: str | None) -> Flow | None:
    if not sealed:
        return None
    try:
        data = json.loads(_cookie_box(settings).decrypt(sealed.encode(), ttl=settings.oidc_flow_seconds))
        return Flow(**data)
    except (InvalidToken, ValueError, TypeError):
        return None


def safe_next(value: str | None) -> str:
    """Only a path of this service: never another origin (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value[:500]


# -- home realm discovery -----------------------------------------------------------------------


def realm(session: Session, email: str) -> Tenant | None:
    """The tenant whose domain the e-mail is in, if that tenant signs in with OpenID Connect."""
    domain = email.strip().rpartition("@")[2]
    tenant = tenant_by_domain(session, domain) if domain else None
    if tenant is None or tenant.identity_source != "oidc":
        return None
    return tenant


# -- start ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    cookie: str


@dataclass(frozen=True, slots=True)
class ProviderSnapshot:
    """What a sign-in needs of the tenant's provider settings, read in a short transaction
    so that the provider is asked with no transaction open."""

    tenant_id: uuid.UUID
    issuer: str
    client_id: str
    client_secret_sealed: str
    updated_at: datetime | None


def provider_snapshot(session: Session, tenant_id: uuid.UUID) -> ProviderSnapshot:
    state_tenants(session, [tenant_id])  # a federated sign-in acts in the provider's tenant
    tenant = session.get(Tenant, tenant_id)
    provider = config.provider_of(session, tenant_id)
    if tenant is None or tenant.identity_source != "oidc":
        raise SignInFailed(
            "this organisation no longer signs in with an identity provider", tenant_id=tenant_id
        )
    if provider is None:
        raise SignInFailed("this organisation's identity provider is not configured", tenant_id=tenant_id)
    return ProviderSnapshot(
        tenant_id=tenant_id,
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret_sealed=provider.client_secret_sealed,
        updated_at=provider.updated_at,
    )


def start(
    settings: Settings, provider: ProviderSnapshot, *, email: str | None, purpose: str, next_path: str
) -> Redirect:
    """Waits on the provider (discovery): run it through ``ProviderCalls``."""
    metadata = _discover(settings, provider)
    request = client.authorization_request(
        metadata, provider.client_id, config.redirect_uri(settings), login_hint=email
    )
    flow = Flow(
        tenant_id=str(provider.tenant_id),
        state=request.state,
        nonce=request.nonce,
        code_verifier=request.code_verifier,
        purpose=purpose if purpose in PURPOSES else "portal",
        next=safe_next(next_path),
        email=email.strip()[:320] if email else None,
    )
    return Redirect(url=request.url, cookie=seal_flow(settings, flow))


def _discover(settings: Settings, provider: ProviderSnapshot) -> client.ProviderMetadata:
    try:
        return client.discover(settings, provider.issuer)
    except client.ProviderError as exc:
        raise SignInFailed(
            f"your organisation's identity provider cannot be reached right now: {exc}",
            tenant_id=provider.tenant_id,
            status=502,
        ) from exc


# -- talking to providers ------------------------------------------------------------------------

T = TypeVar("T")


class ProviderCalls:
    """The worker's calls to identity providers: on ``threads`` threads of their own (never a
    request thread), at most ``per_provider`` in flight to one issuer (a slow provider holds
    that many threads at most; other tenants' providers keep the rest), each awaited for at
    most ``deadline`` seconds. The waiting request gives up its admission turn meanwhile and
    holds no database connection. A call that finds its provider's calls all in flight is
    refused at once (503); one past the deadline answers 502 while its thread runs out its
    own HTTP timeouts, still counted against the provider.

    The counts live on the worker's event loop: a measure of this process's load."""

    def __init__(self, threads: int, per_provider: int, deadline: float) -> None:
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="oidc-provider")
        self.per_provider = per_provider
        self.deadline = deadline
        self.in_flight: dict[str, int] = {}

    async def run(
        self, scope: MutableMapping[str, Any], provider: ProviderSnapshot, fn: Callable[..., T], *args: Any
    ) -> T:
        issuer = provider.issuer
        if self.in_flight.get(issuer, 0) >= self.per_provider:
            raise SignInFailed(
                "too many sign-ins are waiting for your organisation's identity provider; try again shortly",
                tenant_id=provider.tenant_id,
                status=503,
            )
        self.in_flight[issuer] = self.in_flight.get(issuer, 0) + 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, fn, *args)

        def finished(_: object) -> None:
            self.in_flight[issuer] -= 1
            if not self.in_flight[issuer]:
                del self.in_flight[issuer]

        future.add_done_callback(finished)
        async with stepped_aside(scope):
            try:
                return await asyncio.wait_for(asyncio.shield(future), self.deadline)
            except TimeoutError:
                raise SignInFailed(
                    f"your organisation's identity provider did not answer within {self.deadline:g} s",
                    tenant_id=provider.tenant_id,
                    status=502,
                ) from None


# -- complete ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Callback:
    """The provider's answer as the browser brought it back."""

    state: str | None
    code: str | None
    error: str | None
    error_description: str | None


def check_callback(settings: Settings, flow: Flow | None, answer: Callback) -> Flow:
    """The answer belongs to a sign-in this browser started, and says yes. An error answer
    is shown whatever its ``state`` (some providers leave it out): it signs nobody in."""
    if flow is None:
        raise SignInFailed("this sign-in has expired or was started in another browser; please sign in again")
    tenant_id = uuid.UUID(flow.tenant_id)
    if answer.error:
        refused = answer.error in (
            "access_denied",
            "consent_required",
            "interaction_required",
            "login_required",
        )
        raise SignInFailed(
            "sign-in was cancelled at your identity provider"
            if refused
            else f"your identity provider could not sign you in ({_printable(answer.error)})",
            tenant_id=tenant_id,
            status=403 if refused else 502,
        )
    if not answer.state or not hmac.compare_digest(answer.state.encode(), flow.state.encode()):
        raise SignInFailed(
            "this sign-in does not match the one this browser started (state mismatch); please sign in again",
            tenant_id=tenant_id,
        )
    if not answer.code:
        raise SignInFailed("your identity provider sent no authorization code", tenant_id=tenant_id)
    return flow


def consume(session: Session, settings: Settings, flow: Flow) -> ProviderSnapshot:
    """Record the flow as used, before the provider is asked: a second callback of the same
    flow, on any worker, is refused here. Expired records are removed on the way."""
    tenant_id = uuid.UUID(flow.tenant_id)
    state_tenants(session, [tenant_id])
    now = utcnow()
    session.execute(delete(OidcUsedFlow).where(OidcUsedFlow.expires_at < now))
    digest = hashlib.sha256(flow.state.encode()).hexdigest()
    session.add(
        OidcUsedFlow(
            tenant_id=tenant_id,
            state_digest=digest,
            expires_at=now + timedelta(seconds=settings.oidc_flow_seconds),
        )
    )
    try:
        session.flush()
    except IntegrityError:
        raise SignInFailed(
            "this sign-in was completed already; please sign in again", tenant_id=tenant_id
        ) from None
    return provider_snapshot(session, tenant_id)


def claims(
    settings: Settings, box: SecretBox, provider: ProviderSnapshot, flow: Flow, code: str
) -> dict[str, Any]:
    """Waits on the provider (code exchange, key set): run it through ``ProviderCalls``."""
    metadata = _discover(settings, provider)
    return _claims(settings, box, provider, metadata, flow, code)


def provision(session: Session, provider: ProviderSnapshot, token_claims: dict[str, Any]) -> FederatedSignIn:
    """Find, link or provision the user, with the provider settings as they are now: a
    provider changed while the person was away signs nobody in with the old one's answer."""
    tenant_id = provider.tenant_id
    current = provider_snapshot(session, tenant_id)
    if (current.issuer, current.client_id) != (provider.issuer, provider.client_id):
        raise SignInFailed(
            "this organisation's identity provider changed during the sign-in; please sign in again",
            tenant_id=tenant_id,
        )
    row = config.provider_of(session, tenant_id)
    assert row is not None
    try:
        return sign_in(session, row, token_claims)
    except SignInRefused as exc:
        who = {"subject": token_claims["sub"], "email": token_claims.get("email")}
        raise SignInFailed(str(exc), tenant_id=tenant_id, status=403, details=who) from exc


def _claims(
    settings: Settings,
    box: SecretBox,
    provider: ProviderSnapshot,
    metadata: client.ProviderMetadata,
    flow: Flow,
    code: str,
) -> dict[str, Any]:
    try:
        id_token = client.exchange_code(
            settings,
            metadata,
            client_id=provider.client_id,
            client_secret=box.open(provider.client_secret_sealed),
            redirect_uri=config.redirect_uri(settings),
            code=code,
            code_verifier=flow.code_verifier,
        )
        return client.validate_id_token(
            settings, metadata, id_token, client_id=provider.client_id, nonce=flow.nonce
        )
    except client.ProviderError as exc:
        raise SignInFailed(str(exc), tenant_id=provider.tenant_id, status=502) from exc
    except client.TokenRejected as exc:
        raise SignInFailed(
            f"the sign-in was refused: {exc}", tenant_id=provider.tenant_id, status=403
        ) from exc
    except ValueError as exc:  # the sealed secret cannot be opened with the configured key
        raise SignInFailed(
            "this organisation's identity provider settings cannot be read; ask its Global admin to enter "
            "the client secret again",
            tenant_id=provider.tenant_id,
            status=502,
        ) from exc


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum() or ch in "_-.")[:60]
