"""Configuration from environment variables (prefix ``ROOMWARDEN_``).

Every value has a default that is safe for the demo and for tests. In production mode
(``ROOMWARDEN_ENV=production``) the service refuses to start while any secret still has
its published demo value.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, IPvAnyNetwork, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from roomwarden.kit.db import PoolSize

DEMO_SECRET_KEY = "demo-secret-key-change-me-0123456789abcdef"
DEMO_ENCRYPTION_KEY = "ZGVtby1lbmNyeXB0aW9uLWtleS1jaGFuZ2UtbWUtMzI="
DEMO_OPERATOR_TOKEN = "demo-operator-token"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROOMWARDEN_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///roomwarden.db"
    secret_key: str = Field(DEMO_SECRET_KEY, min_length=32)
    encryption_key: str = DEMO_ENCRYPTION_KEY
    operator_token: str = Field(DEMO_OPERATOR_TOKEN, min_length=16)
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
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    # Outgoing e-mail; none is sent unless a host is set.
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "roomwarden@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(10, gt=0)
    mail_retry_seconds: int = Field(30, ge=1)
    mail_max_attempts: int = Field(8, ge=1)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def pool(self) -> PoolSize:
        return PoolSize(
            size=self.db_pool_size or self.worker_threads,
            overflow=self.db_pool_overflow,
            timeout=self.db_pool_timeout_seconds,
        )

    def demo_secrets_in_use(self) -> list[str]:
        demo = {
            "ROOMWARDEN_SECRET_KEY": self.secret_key == DEMO_SECRET_KEY,
            "ROOMWARDEN_ENCRYPTION_KEY": self.encryption_key == DEMO_ENCRYPTION_KEY,
            "ROOMWARDEN_OPERATOR_TOKEN": self.operator_token == DEMO_OPERATOR_TOKEN,
        }
        return [name for name, is_demo in demo.items() if is_demo]

    def check_production_ready(self) -> None:
        """Raise ``RuntimeError`` when production mode would run on demo secrets."""
        if self.env != "production":
            return
        if weak := self.demo_secrets_in_use():
            raise RuntimeError("refusing to start in production mode with demo secrets: " + ", ".join(weak))


@lru_cache
def get_settings() -> Settings:
    return Settings()
