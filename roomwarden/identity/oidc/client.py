"""Talking to an OpenID Connect provider: discovery, the authorization request (code flow
with PKCE S256, ``state`` and ``nonce``), the code exchange and ID-token validation against
the provider's JWKS (joserfc).

Every request to a provider goes through ``httpx``, the HTTP client the service depends on,
never through Authlib's client integration: that one picks whichever HTTP library happens to
be installed (``httpx2`` when present, as in the test environment), and with it the
exceptions a timeout raises, so the tests would not take production's error path.

Discovery documents and key sets are cached in process memory, keyed by URL and bounded in
number. That is safe for several workers: they hold only public data, and a worker that
meets a key id it does not know fetches the key set again (at most once per
``oidc_jwks_refetch_seconds``), so a provider's key rotation is picked up without restarts.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from roomwarden.identity.oidc import egress
from roomwarden.settings import Settings

SCOPES = "openid email profile"
#: asymmetric algorithms only: "none" and the HMAC family are never accepted
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
MAX_CACHED = 256
LEEWAY_SECONDS = 60


class ProviderError(Exception):
    """The provider could not be reached or answered something unusable. The message is
    meant for the person signing in and never echoes what the provider sent."""


class TokenRejected(Exception):
    """The ID token failed validation."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    token_auth_method: str


def issuer_problem(settings: Settings, issuer: str) -> str | None:
    """Why ``issuer`` cannot be an issuer URL, or ``None`` (its addresses are checked apart:
    ``egress.host_problem``)."""
    parts = urlsplit(issuer)
    if parts.query or parts.fragment:
        return "the issuer must not carry a query or a fragment"
    if problem := egress.url_problem(settings, issuer):
        return f"the issuer is not acceptable: {problem}"
    return None


class _Cache:
    """A small, thread-safe, bounded map of URL -> (value, fetched_at)."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[Any, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[Any, float] | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = (value, time.monotonic())
            self._items.move_to_end(key)
            while len(self._items) > MAX_CACHED:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_metadata_cache = _Cache()
_jwks_cache = _Cache()


def clear_caches() -> None:
    _metadata_cache.clear()
    _jwks_cache.clear()


def _get_json(settings: Settings, url: str, what: str) -> dict[str, Any]:
    try:
        with egress.client(settings) as http:
            response = http.get(url)
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, json.JSONDecodeError, ValueError) as exc:
        raise ProviderError(f"the identity provider's {what} could not be read") from exc
    if not isinstance(body, dict):
        raise ProviderError(f"the identity provider's {what} is not a JSON object")
    return body


def discover(settings: Settings, issuer: str, *, fresh: bool = False) -> ProviderMetadata:
    """``{issuer}/.well-known/openid-configuration``, checked as OpenID Connect Discovery 1.0
    §4.3 asks: the document must name the configured issuer. A trailing ``/`` typed or left
    out is the one difference forgiven (the discovery URL is the same either way); the
    answer then carries the document's own spelling, which ID tokens must match exactly."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    cached = _metadata_cache.get(url)
    if cached and not fresh and time.monotonic() - cached[1] < settings.oidc_metadata_ttl_seconds:
        return cached[0]
    doc = _get_json(settings, url, "discovery document")
    named = doc.get("issuer")
    if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
        raise ProviderError("the identity provider's discovery document names another issuer")
    issuer = named
    try:
        endpoints = {k: str(doc[k]) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")}
    except KeyError as exc:
        raise ProviderError("the identity provider's discovery document lacks a required endpoint") from exc
    for endpoint in endpoints.values():
        # The document could name this host, a metadata service or a private network: it would
        # have Roomwarden send the client secret (token endpoint) or its own requests there.
        # Checked here by URL; every connection checks the address it reaches (egress).
        problem = "it must not carry a fragment" if urlsplit(endpoint).fragment else None
        if problem or (problem := egress.url_problem(settings, endpoint.split("?", 1)[0])):
            raise ProviderError(f"an endpoint of the identity provider is not acceptable: {problem}")
    offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(a for a in ALGORITHMS if a in offered)
    if not algorithms:
        raise ProviderError("the identity provider signs ID tokens with no algorithm Roomwarden accepts")
    methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    auth_method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    if auth_method not in methods:
        raise ProviderError("the identity provider offers no client authentication Roomwarden supports")
    metadata = ProviderMetadata(
        issuer=issuer, algorithms=algorithms, token_auth_method=auth_method, **endpoints
    )
    _metadata_cache.put(url, metadata)
    return metadata


def _key_set(settings: Settings, jwks_uri: str, *, refresh: bool) -> KeySet:
    cached = _jwks_cache.get(jwks_uri)
    age = time.monotonic() - cached[1] if cached else None
    stale = age is None or age >= settings.oidc_metadata_ttl_seconds
    may_refresh = refresh and (age is None or age >= settings.oidc_jwks_refetch_seconds)
    if cached and not stale and not may_refresh:
        return cached[0]
    try:
        keys = KeySet.import_key_set(_get_json(settings, jwks_uri, "key set"))  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ProviderError("the identity provider's key set could not be read") from exc
    _jwks_cache.put(jwks_uri, keys)
    return keys


# -- the authorization request --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str


def authorization_request(
    metadata: ProviderMetadata, client_id: str, redirect_uri: str, login_hint: str | None
) -> AuthorizationRequest:
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPES,
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if login_hint:
        params["login_hint"] = login_hint
    url = add_params_to_uri(metadata.authorization_endpoint, params)
    return AuthorizationRequest(url=url, state=state, nonce=nonce, code_verifier=verifier)


# -- the code exchange and the ID token --------------------------------------------------------


def _basic(client_id: str, client_secret: str) -> str:
    """``client_secret_basic`` as Authlib sends it (RFC 6749 §2.3.1 without form-encoding,
    which providers expect in practice)."""
    text = f"{client_id}:{client_secret}"
    try:
        raw = text.encode("latin1")
    except UnicodeEncodeError:
        raw = text.encode()
    return "Basic " + base64.b64encode(raw).decode()


def exchange_code(
    settings: Settings,
    metadata: ProviderMetadata,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    code_verifier: str,
) -> str:
    """The ID token for ``code``, from the provider's token endpoint (RFC 6749 §4.1.3 with
    the PKCE verifier, RFC 7636 §4.5)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    headers = {"Accept": "application/json"}
    if metadata.token_auth_method == "client_secret_basic":
        headers["Authorization"] = _basic(client_id, client_secret)
    else:
        form |= {"client_id": client_id, "client_secret": client_secret}
    try:
        with egress.client(settings) as http:
            response = http.post(metadata.token_endpoint, data=form, headers=headers)
        token = response.json() if response.content else None
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderError("the identity provider could not be reached to complete the sign-in") from exc
    if response.status_code != 200 or not isinstance(token, dict):
        error = token.get("error") if isinstance(token, dict) else None
        if isinstance(error, str) and error:
            reason = "".join(ch for ch in error if ch.isalnum() or ch in "_-.")[:60]
            raise ProviderError(f"the identity provider refused to complete the sign-in ({reason})")
        raise ProviderError("the identity provider could not complete the sign-in")
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise ProviderError("the identity provider sent no ID token")
    return id_token


def _verified(settings: Settings, metadata: ProviderMetadata, id_token: str, kid: object) -> Any:
    """Verify the signature with the provider's current keys. A key id we do not know, or a
    failure with a token that names no key, may mean the provider rotated its keys: the key
    set is fetched again (rate-limited) and the check repeated once."""
    keys = _key_set(settings, metadata.jwks_uri, refresh=False)
    for attempt in (1, 2):
        if attempt == 2 or (kid is not None and not any(k.kid == kid for k in keys.keys)):
            keys = _key_set(settings, metadata.jwks_uri, refresh=True)
        try:
            return jwt.decode(id_token, keys, algorithms=list(metadata.algorithms))
        except (JoseError, ValueError, TypeError) as exc:
            if attempt == 2:
                raise TokenRejected("the ID token's signature is not valid") from exc
    raise AssertionError("unreachable")


def validate_id_token(
    settings: Settings, metadata: ProviderMetadata, id_token: str, *, client_id: str, nonce: str
) -> dict[str, Any]:
    """Signature (JWKS, refetched once for an unknown key id), ``iss``, ``aud`` (and ``azp``
    when there are several audiences), ``exp``, ``iat``, ``nonce`` and ``sub``."""
    try:
        header = jws.extract_compact(id_token.encode()).protected
    except (JoseError, ValueError) as exc:
        raise TokenRejected("the ID token is malformed") from exc
    if header.get("alg") not in metadata.algorithms:
        raise TokenRejected("the ID token is signed with an algorithm that is not accepted")
    decoded = _verified(settings, metadata, id_token, header.get("kid"))
    claims = dict(decoded.claims)
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": metadata.issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        reason = getattr(exc, "description", None) or exc.error
        raise TokenRejected(f"the ID token is not valid for this sign-in: {reason}") from exc
    if isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1 and claims.get("azp") != client_id:
        raise TokenRejected("the ID token was issued to another client")
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise TokenRejected("the ID token has no usable subject")
    if claims["iat"] > time.time() + LEEWAY_SECONDS:
        raise TokenRejected("the ID token was issued in the future")
    return claims
