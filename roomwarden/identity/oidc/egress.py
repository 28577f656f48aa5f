"""Where the service may send its requests to identity providers (SPEC §7): the guard of
``kit.egress`` with the provider's settings.

A tenant's Global admin chooses the issuer, and the provider's discovery document names the
other endpoints: every URL is ``https`` on a public address, checked when the provider is
saved and at every connection against the address connected to. Private networks the
operator lists in ``ROOMWARDEN_OIDC_ALLOWED_NETWORKS`` are allowed;
``ROOMWARDEN_OIDC_ALLOW_PRIVATE=true`` lifts all of it, plain ``http`` included, for
development and tests (providers on this machine).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from roomwarden.kit import egress
from roomwarden.kit.egress import METADATA, EgressRefused, IPAddress
from roomwarden.settings import Settings

__all__ = ["METADATA", "EgressRefused", "address_problem", "client", "host_problem", "resolve", "url_problem"]


def rules(settings: Settings) -> egress.Egress:
    return egress.Egress(
        allow_private=settings.oidc_allow_private,
        allowed_networks=tuple(settings.oidc_allowed_networks),
        networks_setting="ROOMWARDEN_OIDC_ALLOWED_NETWORKS",
    )


def address_problem(settings: Settings, address: IPAddress) -> str | None:
    """Why the service may not connect to ``address`` for a provider, or ``None``."""
    return rules(settings).address_problem(address)


def url_problem(settings: Settings, url: str) -> str | None:
    """Why ``url`` cannot be a provider's URL (before any address is looked at)."""
    return rules(settings).url_problem(url)


def resolve(settings: Settings, host: str, port: int) -> list[IPAddress]:
    """The addresses of ``host``, every one of them acceptable; else ``EgressRefused``."""
    return rules(settings).resolve(host, port)


def host_problem(settings: Settings, url: str) -> str | None:
    """``url_problem``, then the addresses its host resolves to now."""
    if problem := url_problem(settings, url):
        return problem
    parts = urlsplit(url)
    try:
        resolve(settings, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    except EgressRefused as exc:
        return str(exc)
    return None


def client(settings: Settings) -> httpx.Client:
    """An HTTP client for providers: the time limit of ``ROOMWARDEN_OIDC_HTTP_TIMEOUT_SECONDS``,
    no redirects, no proxy from the environment, and every connection's address checked."""
    return egress.checked_client(
        lambda host, port: resolve(settings, host, port), settings.oidc_http_timeout_seconds
    )
