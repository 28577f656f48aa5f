from __future__ import annotations

import pytest

from roomwarden.app import create_app
from roomwarden.kit.crypto import generate_encryption_key
from roomwarden.settings import Settings

REAL = {
    "secret_key": "s" * 48,
    "encryption_key": generate_encryption_key(),
    "operator_token": "o" * 32,
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


def test_development_runs_on_demo_secrets() -> None:
    Settings().check_production_ready()
    assert Settings().demo_secrets_in_use()


def test_short_secret_key_is_rejected() -> None:
    with pytest.raises(ValueError):
        Settings(secret_key="short")
