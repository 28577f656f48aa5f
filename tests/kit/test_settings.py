from __future__ import annotations

import pytest

from roomwarden.app import create_app
from roomwarden.kit.crypto import generate_encryption_key
from roomwarden.settings import Settings

REAL = {
    "secret_key": "s" * 48,
    "encryption_key": generate_encryption_key(),
    "operator_token": "o" * 32,
    "audit_key": "a" * 48,
}


@pytest.mark.parametrize("demo_field", sorted(REAL))
def test_production_refuses_any_demo_secret(demo_field: str) -> None:
    values = {k: v for k, v in REAL.items() if k != demo_field}
    settings = Settings(env="production", **values)
    with pytest.raises(RuntimeError, match="demo secrets"):
        settings.check_production_ready()
    with pytest.raises(RuntimeError):
        create_app(settings)


def test_production_accepts_real_secrets() -> None:
    Settings(env="production", **REAL).check_production_ready()


def test_a_declared_development_instance_runs_on_demo_secrets() -> None:
    Settings(env="development").check_production_ready()
    assert Settings(env="development").demo_secrets_in_use()


@pytest.mark.parametrize("demo_field", sorted(REAL))
def test_an_undeclared_instance_refuses_any_demo_secret(demo_field: str) -> None:
    """ROOMWARDEN_ENV unset is not a declaration: the published secrets would let anyone
    sign tokens, use the operator API and read enrollment keys."""
    values = {k: v for k, v in REAL.items() if k != demo_field}
    settings = Settings(env=None, **values)
    with pytest.raises(RuntimeError, match="ROOMWARDEN_ENV=development"):
        settings.check_production_ready()
    with pytest.raises(RuntimeError, match=f"ROOMWARDEN_{demo_field.upper()}"):
        create_app(settings)


def test_the_demo_runs_on_demo_secrets_unless_in_production() -> None:
    Settings(env=None).check_production_ready(demo=True)
    with pytest.raises(RuntimeError):
        Settings(env="production").check_production_ready(demo=True)


def test_every_secret_is_known_to_keygen_and_the_check() -> None:
    from pydantic import SecretStr

    from roomwarden.settings import SECRETS

    kinds = (SecretStr, SecretStr | None)
    secret_fields = {n for n, f in Settings.model_fields.items() if f.annotation in kinds}
    assert {s.field for s in SECRETS} <= secret_fields
    assert {s.field for s in SECRETS if s.demo is not None} == set(REAL)


def test_repr_shows_no_secret() -> None:
    settings = Settings(
        env="production",
        database_url="postgresql+psycopg://rw:db-password-123@db.example/rw",
        smtp_password="smtp-password-456",
        **REAL,
    )
    text = repr(settings) + str(settings)
    for secret in [*REAL.values(), "db-password-123", "smtp-password-456"]:
        assert secret not in text
    assert "db.example" in repr(settings)
    assert settings.secret("smtp_password") == "smtp-password-456"


def test_short_secret_key_is_rejected() -> None:
    with pytest.raises(ValueError):
        Settings(secret_key="short")


def test_the_pool_holds_a_connection_per_worker_thread(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Issue 9, H1: by default every request thread can hold a connection at once, so a
    request never waits for one that another request thread holds."""
    from roomwarden.kit.db import Database

    monkeypatch.delenv("ROOMWARDEN_DB_POOL_SIZE", raising=False)
    monkeypatch.delenv("ROOMWARDEN_WORKER_THREADS", raising=False)
    default = Settings()
    assert default.pool().size == default.worker_threads == 20
    monkeypatch.setenv("ROOMWARDEN_WORKER_THREADS", "7")
    seven = Settings()
    assert seven.pool().size == seven.worker_threads == 7
    db = Database(f"sqlite:///{tmp_path / 'pool.db'}", pool=seven.pool())
    try:
        assert db.engine.pool.size() == 7  # type: ignore[attr-defined]
    finally:
        db.dispose()
    monkeypatch.setenv("ROOMWARDEN_DB_POOL_SIZE", "3")
    assert Settings().pool().size == 3


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"ROOMWARDEN_PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"ROOMWARDEN_HOST": "0.0.0.0", "ROOMWARDEN_PORT": "9001"}, "http://127.0.0.1:9001"),
        ({"ROOMWARDEN_HOST": "::1", "ROOMWARDEN_PORT": "9002"}, "http://[::1]:9002"),
        ({"ROOMWARDEN_HOST": "rooms.internal"}, "http://rooms.internal:8000"),
        ({"ROOMWARDEN_PORT": "8123", "ROOMWARDEN_PUBLIC_URL": "https://rooms.example.com"}, "https://rooms.example.com"),
    ],
)
def test_the_public_url_follows_host_and_port_unless_set(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: str
) -> None:
    """Links in mail, the portal and the OpenID Connect redirect URI name the port the service
    listens on, whether it comes from --port or from ROOMWARDEN_PORT."""
    for name in ("ROOMWARDEN_HOST", "ROOMWARDEN_PORT", "ROOMWARDEN_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert Settings().public_url == expected
