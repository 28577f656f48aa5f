"""The password policy (roomwarden/kit/password_policy.py) wherever a password is set: the
operator's tenant creation, user creation and reset by a Global admin, and the CLI. The
answer says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from roomwarden.cli import app as cli
from roomwarden.demo import DEMO_PASSWORD
from roomwarden.kit.password_policy import MIN_LENGTH, password_problem
from roomwarden.settings import get_settings
from tests.factories import PASSWORD, World

WEAK = {
    "password": "at least",
    "12345678": "at least",
    "aaaaaaaa": "at least",
    "aaaaaaaaaaaa": "Repeats",
    "password1234": "common",
    "qwertyuiopas": "easy to guess",
    "1234567890": "easy to guess",
}


@pytest.mark.parametrize(("password", "why"), sorted(WEAK.items()))
def test_weak_passwords_are_refused_with_a_reason(password: str, why: str) -> None:
    problem = password_problem(password)
    assert problem is not None and why in problem


STRONG = [PASSWORD, DEMO_PASSWORD, "violet staircase humming", "Tr4ms-&-p1gs-at-n00n"]


@pytest.mark.parametrize("password", STRONG)
def test_strong_passwords_pass(password: str) -> None:
    assert password_problem(password) is None


def test_the_persons_own_words_do_not_count() -> None:
    own = "Fabrikam Alice 2024"
    problem = password_problem(own, ["alice@fabrikam.example", "Fabrikam Alice"])
    assert problem is not None and "easy to guess" in problem


def test_the_minimum_length_is_stated() -> None:
    assert str(MIN_LENGTH) in (password_problem("Zq8#") or "")


@pytest.mark.parametrize("password", sorted(WEAK))
def test_a_global_admin_cannot_set_a_weak_password(world: World, password: str) -> None:
    t = world.tenant()
    user = world.user(t)
    body = {"upn": f"weak@{t.domain}", "display_name": "Weak", "password": password}
    created = world.post(t, "/users", body)
    assert created.status_code == 422 and "password" in created.json()["detail"]
    reset = world.client.patch(
        f"/api/v1/tenants/{t.id}/users/{user.id}", json={"password": password}, headers=t.admin.headers
    )
    assert reset.status_code == 422 and "password" in reset.json()["detail"]


def test_the_operator_cannot_create_a_tenant_with_a_weak_admin_password(world: World) -> None:
    domain = f"weak-{world.tag}.example.com"
    body = {
        "name": f"Weak {world.tag}",
        "domains": [domain],
        "admin": {"upn": f"admin@{domain}", "display_name": "Admin", "password": "password1234"},
    }
    refused = world.client.post("/api/v1/operator/tenants", json=body, headers=world.operator)
    assert refused.status_code == 422
    assert "too easy to guess" in refused.json()["detail"]
    # nothing was half-created
    body["admin"]["password"] = PASSWORD
    assert world.client.post("/api/v1/operator/tenants", json=body, headers=world.operator).status_code == 201


def test_the_cli_refuses_a_weak_password_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROOMWARDEN_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    try:
        args = ["tenant", "create", "--name", "Weak", "--domain", "weak.example", "--admin-upn"]
        args += ["admin@weak.example", "--admin-name", "Admin", "--admin-password", "12345678"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2
        assert "at least" in result.output and "password" in result.output
    finally:
        get_settings.cache_clear()


RESETS = {
    "own change": lambda w, t, u, pw: w.client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": pw}, headers=u.headers
    ),
    "Global admin's reset": lambda w, t, u, pw: w.client.post(
        f"/api/v1/tenants/{t.id}/users/{u.id}/reset-password",
        json={"new_password": pw},
        headers=t.admin.headers,
    ),
    "operator's reset": lambda w, t, u, pw: w.client.post(
        "/api/v1/operator/users/reset-password", json={"upn": u.upn, "new_password": pw}, headers=w.operator
    ),
}


@pytest.mark.parametrize("how", sorted(RESETS))
@pytest.mark.parametrize(("password", "why"), sorted(WEAK.items()))
def test_every_password_change_refuses_a_weak_password_and_says_why(
    world: World, how: str, password: str, why: str
) -> None:
    t = world.tenant()
    user = world.user(t)
    refused = RESETS[how](world, t, user, password)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "new_password" in detail and why in detail, detail
    # a strong one goes through the same call, so the refusal was the policy's
    assert RESETS[how](world, t, user, STRONG[2]).status_code in (200, 204)
