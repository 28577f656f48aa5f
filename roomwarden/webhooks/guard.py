"""The webhook endpoints' egress rules: ``kit.egress`` with ``ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE``
(no private network is ever listed for webhooks: a receiver is on the internet)."""

from __future__ import annotations

from urllib.parse import urlsplit

from roomwarden.kit.egress import Egress, EgressRefused, Unresolvable
from roomwarden.settings import Settings


def rules(settings: Settings) -> Egress:
    return Egress(allow_private=settings.webhook_allow_private)


def url_problem(settings: Settings, url: str) -> str | None:
    """Why ``url`` cannot be an endpoint: not https (unless private targets are allowed), or
    a host that spells, or now resolves to, a refused address. A name that does not resolve
    yet is accepted here; every attempt resolves it again and is refused then."""
    egress = rules(settings)
    if problem := egress.url_problem(url):
        return problem
    if egress.allow_private:  # every address is allowed: nothing to look up
        return None
    parts = urlsplit(url)
    try:
        egress.resolve(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    except Unresolvable:
        return None
    except EgressRefused as exc:
        return str(exc)
    return None


def redacted(url: str) -> str:
    """The URL as the audit log and the mail name it: scheme, host and port only (a path or
    query may carry a receiver's token)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    return origin + ("/…" if parts.path not in ("", "/") or parts.query else "/")
