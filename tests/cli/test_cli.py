"""The command line: each command against a real database file, with its exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from roomwarden.cli import app
from roomwarden.settings import get_settings

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("ROOMWARDEN_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.delenv("ROOMWARDEN_ENV", raising=False)  # undeclared; `demo` declares it itself
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=input)


def test_migrate_reports_the_head_revision(cli_env: Path) -> None:
    result = run("migrate")
    assert result.exit_code == 0, result.output
    assert "revision" in result.output
    assert cli_env.exists()


def test_tenant_and_user_create(cli_env: Path) -> None:
    result = run(
        "tenant",
        "create",
        "--name",
        "Northwind",
        "--domain",
        "northwind.example",
        "--admin-upn",
        "admin@northwind.example",
        "--admin-name",
        "Admin",
        "--admin-password",
        "a long password",
    )
    assert result.exit_code == 0, result.output
    assert "created tenant Northwind" in result.output
    result = run(
        "user",
        "create",
        "--tenant",
        "northwind.example",
        "--upn",
        "ops@northwind.example",
        "--name",
        "Ops",
        "--password",
        "another password",
    )
    assert result.exit_code == 0, result.output
    assert "created user ops@northwind.example" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--domain", "not a domain"], "invalid input"),
        (["--admin-upn", "admin@elsewhere.example"], "must use one of the tenant's domains"),
        (["--admin-password", "short"], "at least 10 characters"),
    ],
)
def test_tenant_create_rejects_bad_input_with_a_readable_error(
    cli_env: Path, args: list[str], message: str
) -> None:
    base = {
        "--name": "Acme",
        "--domain": "acme.example",
        "--admin-upn": "admin@acme.example",
        "--admin-name": "Admin",
        "--admin-password": "a long password",
    }
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = run("tenant", "create", *[x for kv in base.items() for x in kv])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_duplicate_domain_and_unknown_tenant_fail(cli_env: Path) -> None:
    args = [
        "tenant",
        "create",
        "--name",
        "A",
        "--domain",
        "dup.example",
        "--admin-upn",
        "a@dup.example",
        "--admin-name",
        "A",
        "--admin-password",
        "a long password",
    ]
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 1
    assert "domain already registered: dup.example" in again.output
    missing = run(
        "user",
        "create",
        "--tenant",
        "nowhere.example",
        "--upn",
        "x@nowhere.example",
        "--name",
        "X",
        "--password",
        "a long password",
    )
    assert missing.exit_code == 1
    assert "no tenant with id or domain" in missing.output


def test_demo_builds_once_and_prints_sign_in_details(cli_env: Path) -> None:
    first = run("demo", "--no-serve")
    assert first.exit_code == 0, first.output
    assert "Created the demo data set" in first.output
    # A first run says what it is doing, in words, even where no progress bar is drawn (a log).
    assert "migrating the database" in first.output
    assert "loading the demo data set (4 rooms per site)" in first.output
    for upn in (
        "admin@contoso.example",
        "msa@contoso.example",
        "lead@contoso.example",
        "tech@contoso.example",
    ):
        assert upn in first.output
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{cli_env}")
    with engine.connect() as conn:
        links = conn.execute(text("SELECT status FROM partner_links")).all()
        kinds = sorted(
            r[0] for r in conn.execute(text("SELECT kind FROM roles WHERE partner_link_id IS NOT NULL"))
        )
        countries = {r[0] for r in conn.execute(text("SELECT DISTINCT country FROM rooms"))}
    engine.dispose()
    assert links == [("active",)] and kinds == ["partner_builtin", "partner_custom"]
    assert len(countries) >= 3
    second = run("demo", "--no-serve")
    assert second.exit_code == 0, second.output
    assert "Found the demo data set" in second.output


def test_keygen_prints_every_secret_and_they_start_production() -> None:
    from roomwarden.settings import SECRETS, Settings

    result = run("keygen")
    assert result.exit_code == 0
    values = dict(line.split("=", 1) for line in result.output.split())
    assert sorted(values) == sorted(s.variable for s in SECRETS)
    again = dict(line.split("=", 1) for line in run("keygen").output.split())
    assert all(values[k] != again[k] for k in values)  # fresh every time
    settings = Settings(env="production", **{s.field: values[s.variable] for s in SECRETS})
    settings.check_production_ready()
    assert settings.demo_secrets_in_use() == []


@pytest.mark.parametrize("env", [None, "production"])
def test_serve_refuses_the_demo_secrets_unless_declared_development(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    if env:
        monkeypatch.setenv("ROOMWARDEN_ENV", env)
    result = run("serve", "--no-migrate", "--port", "1")
    assert result.exit_code == 1
    assert "demo secrets" in result.output and "ROOMWARDEN_SECRET_KEY" in result.output
    assert "keygen" in result.output


def test_user_unlock_and_reset_password(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("ROOMWARDEN_ENV", "development")  # the API below runs on the demo secrets
    get_settings.cache_clear()

    from fastapi.testclient import TestClient

    from roomwarden.app import create_app

    created = run(
        *("tenant", "create", "--name", "Litware", "--domain", "litware.example"),
        *("--admin-upn", "admin@litware.example", "--admin-name", "Admin"),
        *("--admin-password", "Saffron-Ledger-Pylon-63"),
    )
    assert created.exit_code == 0, created.output
    settings = get_settings()
    with TestClient(create_app(settings)) as client:
        form = {"username": "admin@litware.example", "password": "wrong password"}
        for _ in range(settings.signin_max_failures_per_account):
            assert client.post("/api/v1/auth/token", data=form).status_code == 401
        form["password"] = "Saffron-Ledger-Pylon-63"
        assert client.post("/api/v1/auth/token", data=form).status_code == 429
        result = run("user", "unlock", "--upn", "ADMIN@litware.example", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["failures_cleared"] == settings.signin_max_failures_per_account
        token = client.post("/api/v1/auth/token", data=form).json()["access_token"]
        result = run(
            "user", "reset-password", "--upn", "admin@litware.example", input="Velvet-Harbor-Lantern-77\n" * 2
        )
        assert result.exit_code == 0, result.output
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert client.post("/api/v1/auth/token", data=form).status_code == 401
        form["password"] = "Velvet-Harbor-Lantern-77"
        assert client.post("/api/v1/auth/token", data=form).status_code == 200
    for args in (("user", "unlock", "--upn", "ghost@litware.example"),):
        result = run(*args)
        assert result.exit_code == 1 and "no user with UPN" in result.output
        assert "Traceback" not in result.output
    result = run("user", "reset-password", "--upn", "admin@litware.example", input="short\nshort\n")
    assert result.exit_code == 2 and "at least 10 characters" in result.output
