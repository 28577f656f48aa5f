"""The browser's round trip through a tenant's provider.

``start`` picks the provider from the e-mail's domain (home realm discovery), prepares an
authorization request and binds its ``state``, ``nonce`` and PKCE verifier to this browser
in a short-lived, encrypted, HTTP-only cookie. ``complete`` checks the callback against
that cookie, exchanges the code, validates the ID token and finds or provisions the user.
Every way it can fail raises ``SignInFailed`` with a message for the person and, where the
tenant is known, the reason for the tenant's audit log.
"""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from roomwarden.identity.domains import tenant_by_domain
from roomwarden.identity.oidc import client, config
from roomwarden.identity.oidc.models import IdentityProvider
from roomwarden.identity.oidc.provisioning import FederatedSignIn, SignInRefused, sign_in
from roomwarden.kit.crypto import SecretBox
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


def start(
    session: Session, settings: Settings, tenant: Tenant, *, email: str | None, purpose: str, next_path: str
) -> Redirect:
    provider = config.provider_of(session, tenant.id)
    if provider is None:
        raise SignInFailed("this organisation's identity provider is not configured", tenant_id=tenant.id)
    metadata = _discover(settings, provider)
    request = client.authorization_request(
        metadata, provider.client_id, config.redirect_uri(settings), login_hint=email
    )
    flow = Flow(
        tenant_id=str(tenant.id),
        state=request.state,
        nonce=request.nonce,
        code_verifier=request.code_verifier,
        purpose=purpose if purpose in PURPOSES else "portal",
        next=safe_next(next_path),
        email=email.strip()[:320] if email else None,
    )
    return Redirect(url=request.url, cookie=seal_flow(settings, flow))


def _discover(settings: Settings, provider: IdentityProvider) -> client.ProviderMetadata:
    try:
        return client.discover(settings, provider.issuer)
    except client.ProviderError as exc:
        raise SignInFailed(
            f"your organisation's identity provider cannot be reached right now: {exc}",
            tenant_id=provider.tenant_id,
            status=502,
        ) from exc


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


def complete(session: Session, settings: Settings, box: SecretBox, flow: Flow, code: str) -> FederatedSignIn:
    tenant_id = uuid.UUID(flow.tenant_id)
    tenant = session.get(Tenant, tenant_id)
    provider = config.provider_of(session, tenant_id)
    if tenant is None or provider is None or tenant.identity_source != "oidc":
        raise SignInFailed(
            "this organisation no longer signs in with an identity provider", tenant_id=tenant_id
        )
    metadata = _discover(settings, provider)
    claims = _claims(settings, box, provider, metadata, flow, code)
    try:
        return sign_in(session, provider, claims)
    except SignInRefused as exc:
        who = {"subject": claims["sub"], "email": claims.get("email")}
        raise SignInFailed(str(exc), tenant_id=tenant_id, status=403, details=who) from exc


def _claims(
    settings: Settings,
    box: SecretBox,
    provider: IdentityProvider,
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
