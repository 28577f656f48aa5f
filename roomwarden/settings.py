"""Configuration from environment variables (prefix ``ROOMWARDEN_``).

Secrets default to published demo values, so that ``roomwarden demo`` and the tests run as
they are. The service refuses to start on any of them unless it runs the demo or the operator
declares a development instance (``ROOMWARDEN_ENV=development``); ``ROOMWARDEN_ENV`` unset
means "not declared", and refuses like ``production``. Every secret the service needs is an
entry of :data:`SECRETS`: ``roomwarden keygen`` prints them all and the start-up check covers
them all, so a new secret is one entry there.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from roomwarden.kit.crypto import generate_encryption_key
from roomwarden.kit.db import PoolSize

DEMO_SECRET_KEY = "demo-secret-key-change-me-0123456789abcdef"
DEMO_ENCRYPTION_KEY = "ZGVtby1lbmNyeXB0aW9uLWtleS1jaGFuZ2UtbWUtMzI="
DEMO_OPERATOR_TOKEN = "demo-operator-token"
DEMO_AUDIT_KEY = "demo-audit-key-change-me-0123456789abcdef"


@dataclass(frozen=True)
class Secret:
    """A secret the service needs: its settings field, published demo value (or ``None``
    when it has no default), how ``roomwarden keygen`` makes a fresh one, and what it is for."""

    field: str
    demo: str | None
    generate: Callable[[], str]
    purpose: str

    @property
    def variable(self) -> str:
        return f"ROOMWARDEN_{self.field.upper()}"


SECRETS: tuple[Secret, ...] = (
    Secret("secret_key", DEMO_SECRET_KEY, lambda: secrets.token_urlsafe(48), "signs access tokens"),
    Secret(
        "encryption_key", DEMO_ENCRYPTION_KEY, generate_encryption_key, "encrypts secrets at rest (Fernet)"
    ),
    Secret(
        "operator_token", DEMO_OPERATOR_TOKEN, lambda: secrets.token_urlsafe(32), "the operator API's bearer"
    ),
    Secret("audit_key", DEMO_AUDIT_KEY, lambda: secrets.token_urlsafe(48), "keys the audit chain (HMAC)"),
)


def url_host(host: str) -> str:
    """How a URL names the interface ``host``: a wildcard address as the local loopback, an
    IPv6 address in brackets."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROOMWARDEN_", extra="ignore")

    # None (unset): not declared, so the demo secrets are refused as in production.
    env: Literal["development", "production"] | None = None
    database_url: str = "sqlite:///roomwarden.db"
    # PostgreSQL: the service's connections run as the role row-level security applies to and
    # state their tenants (SPEC §10; docs/operations.md, "Database roles and row-level
    # security"). Off, they run as the login and state nothing, which only a superuser or
    # BYPASSRLS login can serve with.
    database_row_security: bool = True
    secret_key: SecretStr = Field(SecretStr(DEMO_SECRET_KEY), min_length=32)
    encryption_key: SecretStr = SecretStr(DEMO_ENCRYPTION_KEY)
    operator_token: SecretStr = Field(SecretStr(DEMO_OPERATOR_TOKEN), min_length=16)
    # HMAC key of the audit chain; earlier keys (comma-separated) still verify what they signed.
    audit_key: SecretStr = Field(SecretStr(DEMO_AUDIT_KEY), min_length=32)
    audit_previous_keys: SecretStr = SecretStr("")
    token_issuer: str = "roomwarden"
    token_audience: str = "roomwarden-api"
    token_ttl_seconds: int = Field(3600, ge=60, le=86400)
    # Sign-in throttling: failures counted over a sliding window.
    signin_window_seconds: int = Field(900, ge=1)
    signin_max_failures_per_account: int = Field(5, ge=1)
    signin_max_failures_per_address: int = Field(30, ge=1)
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or CIDR networks). None by default: the TCP peer is the client.
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    # Password hashes computed at once per worker (each argon2id hash takes
    # argon2_memory_cost_kib of memory); further sign-ins wait without holding a thread.
    password_hash_concurrency: int = Field(2, ge=1, le=64)
    # Sign-ins that may wait for a hash per worker beyond those computed; more answer 429 at
    # once (identity.passwords.HashQueue).
    password_hash_queue: int = Field(8, ge=0, le=10_000)
    # argon2id cost; the defaults follow RFC 9106's second recommended option.
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_cost_kib: int = Field(65536, ge=8)
    argon2_parallelism: int = Field(4, ge=1)
    # Concurrency per worker process (docs/operations.md, "Workers, threads and connections"):
    # requests run in a pool of this many threads, and the database pool holds as many
    # connections (unless db_pool_size says otherwise) plus db_pool_overflow for background
    # work. A request that finds every connection busy for db_pool_timeout_seconds gets 503.
    worker_threads: int = Field(20, ge=1, le=1000)
    db_pool_size: int | None = Field(None, ge=1, le=1000)
    db_pool_overflow: int = Field(4, ge=0, le=1000)
    db_pool_timeout_seconds: float = Field(10, gt=0, le=300)
    # Portal sessions: ended after this long without a request, and this long after sign-in
    # whatever the activity.
    session_idle_seconds: int = Field(1800, ge=60, le=86400)
    session_absolute_seconds: int = Field(43200, ge=300, le=30 * 86400)
    # Largest request body accepted (bytes); larger ones answer 413 before they are parsed.
    max_body_bytes: int = Field(1_048_576, ge=1024, le=1_073_741_824)
    # A request body must be in within this long (else 408); only then does the request ask
    # for one of the worker's turns (kit.limits).
    body_timeout_seconds: float = Field(15, gt=0, le=600)
    # OpenID Connect: how long to wait for a provider, how long discovery documents and key
    # sets are kept, how soon an unknown key id may trigger a new key-set fetch, and how long
    # a browser has to come back from the provider.
    oidc_http_timeout_seconds: float = Field(10, gt=0, le=60)
    oidc_metadata_ttl_seconds: int = Field(3600, ge=0)
    oidc_jwks_refetch_seconds: int = Field(1, ge=0, le=3600)
    oidc_flow_seconds: int = Field(600, ge=60, le=3600)
    # Where providers may be (identity.oidc.egress): https on public addresses only, plus the
    # private networks listed here (comma-separated CIDRs); allow_private lifts every rule, for
    # development and tests.
    oidc_allowed_networks: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    oidc_allow_private: bool = False
    # Calls to providers per worker: on threads of their own, at most this many in flight to
    # one issuer (identity.oidc.flow.ProviderCalls); each sign-in step waits at most twice
    # oidc_http_timeout_seconds for its provider.
    oidc_provider_threads: int = Field(16, ge=1, le=256)
    oidc_calls_per_provider: int = Field(4, ge=1, le=256)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # The address people and mail links use; unset, it follows host and port
    # (http://HOST:PORT, with 0.0.0.0 and :: read as this machine's loopback).
    public_url: str = ""
    # Outgoing e-mail; none is sent unless a host is set.
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "roomwarden@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(10, gt=0)
    mail_retry_seconds: int = Field(30, ge=1)
    mail_max_attempts: int = Field(8, ge=1)
    # Background jobs (roomwarden/jobs): run inside each `serve` worker unless turned off (then
    # run `roomwarden worker`); how often an idle runner looks for due jobs; how long a claim
    # holds before another process may take the job of a runner that died.
    jobs_in_serve: bool = True
    jobs_poll_seconds: float = Field(1.0, gt=0, le=60)
    jobs_lease_seconds: int = Field(120, ge=2, le=3600)
    approvals_sweep_seconds: int = Field(60, ge=1)
    # Partner links past their end: the bookkeeping (access ends at the end without it), the
    # purge thirty days later and the reminders before the end.
    partner_expiry_seconds: int = Field(60, ge=1)
    # Devices (docs/devices.md): how often a device reports, after how long without a report a
    # room is offline, how often the monitor looks, and enrolment attempts per client address.
    device_report_seconds: int = Field(60, ge=1, le=3600)
    device_offline_seconds: int = Field(180, ge=1)
    monitor_interval_seconds: int = Field(30, ge=1, le=3600)
    enroll_window_seconds: int = Field(900, ge=1)
    enroll_max_failures_per_address: int = Field(20, ge=1)
    # Partner invitations a customer may send over a sliding window (each one mails the
    # partner's admins): in all, and to one partner.
    invitation_window_seconds: int = Field(86400, ge=60)
    invitations_per_customer: int = Field(20, ge=1)
    invitations_per_partner: int = Field(3, ge=1)
    # Webhooks (docs/webhooks.md): the waits between a delivery's attempts (seconds,
    # comma-separated, each ±10 %), each attempt's time limit, how long an endpoint may fail
    # before it is disabled, how often the delivery job looks for due deliveries, how many
    # endpoints it sends to at once per process; allow_private lifts the address guard and
    # allows plain http (kit.egress), for development and tests.
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    webhook_timeout_seconds: float = Field(15, gt=0, le=60)
    webhook_disable_after_seconds: int = Field(5 * 86400, ge=1)
    webhook_poll_seconds: int = Field(5, ge=1, le=3600)
    webhook_concurrency: int = Field(8, ge=1, le=64)
    webhook_allow_private: bool = False
    # Operations (docs/operations.md): the bearer token of GET /metrics (refused with 404
    # while unset), and the log format of `roomwarden serve` (one JSON object a line, or text).
    metrics_token: SecretStr | None = Field(None, min_length=16)
    log_format: Literal["json", "text"] = "json"

    @model_validator(mode="after")
    def _derive_public_url(self) -> Settings:
        if not self.public_url.strip():
            self.public_url = f"http://{url_host(self.host)}:{self.port}"
        return self

    @field_validator("trusted_proxies", "oidc_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_in_range(cls, value: list[float]) -> list[float]:
        if len(value) > 20 or any(not 0 < wait <= 7 * 86400 for wait in value):
            raise ValueError("at most 20 waits, each more than 0 and at most 604800 seconds")
        return value

    def pool(self) -> PoolSize:
        return PoolSize(
            size=self.db_pool_size or self.worker_threads,
            overflow=self.db_pool_overflow,
            timeout=self.db_pool_timeout_seconds,
        )

    def __repr_args__(self) -> Any:
        # Secrets are SecretStr already; a database URL may carry a password too.
        for name, value in super().__repr_args__():
            yield name, (redact_url(value) if name == "database_url" and isinstance(value, str) else value)

    def secret(self, field: str) -> str:
        """The plain value of a secret field (empty when unset)."""
        value = getattr(self, field)
        return value.get_secret_value() if isinstance(value, SecretStr) else (value or "")

    def demo_secrets_in_use(self) -> list[str]:
        """The variables of :data:`SECRETS` that still hold their published demo value."""
        return [s.variable for s in SECRETS if s.demo is not None and self.secret(s.field) == s.demo]

    def check_production_ready(self, *, demo: bool = False) -> None:
        """Raise ``RuntimeError`` when the service would run on published demo secrets without
        being the demo (``demo=True``) or a declared development instance."""
        weak = self.demo_secrets_in_use()
        if not weak or self.env == "development" or (demo and self.env is None):
            return
        mode = "in production mode " if self.env == "production" else ""
        raise RuntimeError(
            f"refusing to start {mode}with the published demo secrets: {', '.join(weak)}. "
            "Set fresh ones (`roomwarden keygen` prints them all), or set ROOMWARDEN_ENV=development "
            "if this is a development instance."
        )


def redact_url(url: str) -> str:
    """A database URL without its credentials."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
