"""Home-realm discovery (SPEC §7): the first sign-in step finds, from the domain of the
e-mail address typed, whether the person signs in here (a local account) or at its
tenant's OpenID Connect provider.

This is the one seam the portal's ``/login`` consults. For a local tenant — and for a domain
no tenant owns, so that the answer never tells whether an account or tenant exists — the
answer is ``LOCAL``: the portal asks for the password next. Federated sign-in answers
``Redirect`` for a tenant whose identity source is OpenID Connect.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from roomwarden.identity.oidc import flow
from roomwarden.settings import Settings


@dataclass(frozen=True, slots=True)
class Local:
    """Ask for the password (and the verification code) of a local account."""


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the browser to ``url`` (the provider's authorisation endpoint). ``flow`` is the
    sealed sign-in in progress, for the flow cookie (``identity.http.flow_cookie``) that
    binds the answer to this browser; ``None`` when ``url`` is Roomwarden's own start page."""

    url: str
    flow: str | None = None


LOCAL = Local()
Realm = Local | Redirect


def discover(session: Session, email: str, next_path: str) -> Realm | flow.ProviderSnapshot:
    """Where ``email`` signs in, as far as the database tells: ``LOCAL``, or the provider of
    a federated tenant — then ``redirect`` asks that provider where to send the browser, with
    no transaction open (``flow.ProviderCalls``)."""
    tenant = flow.realm(session, email)
    if tenant is None:
        return LOCAL
    try:
        return flow.provider_snapshot(session, tenant.id)
    except flow.SignInFailed:
        return start_page(email, next_path)


def redirect(settings: Settings, provider: flow.ProviderSnapshot, email: str, next_path: str) -> Redirect:
    """The provider's authorization request (waits on the provider's discovery)."""
    try:
        start = flow.start(settings, provider, email=email, purpose="portal", next_path=next_path)
    except flow.SignInFailed:
        return start_page(email, next_path)
    return Redirect(url=start.url, flow=start.cookie)


def start_page(email: str, next_path: str) -> Redirect:
    """The provider cannot be used now: the browser goes to the federated start page, which
    says so in words (and records it), instead of the portal failing here."""
    return Redirect(url="/auth/oidc/start?" + urlencode({"email": email, "next": next_path}))
