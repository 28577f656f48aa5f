"""Operator commands: tenants, the mail outbox, the demo's reset; their --json output and
their errors (one line, a non-zero exit code, no traceback)."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from typer.testing import CliRunner

from roomwarden.cli import app
from roomwarden.kit.db import Database
from roomwarden.notifications.models import OutgoingMail
from roomwarden.settings import get_settings

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("ROOMWARDEN_DATABASE_URL", f"sqlite:///{path}")
    # --host/--port write these for the server they start: restore them afterwards.
    for name in ("ROOMWARDEN_HOST", "ROOMWARDEN_PORT", "ROOMWARDEN_PUBLIC_URL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None) -> str:
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(*args: str, code: int = 1, input: str | None = None) -> str:
    result = run(*args, input=input)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line[line.index("error:") :] for line in result.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, result.stderr
    assert not any(line.strip() in ("error: 1", "error: 2") for line in result.stderr.splitlines())
    return lines[0]


def create(name: str, domain: str) -> dict:
    return json.loads(
        ok(
            "tenant", "create", "--name", name, "--domain", domain, "--admin-upn", f"admin@{domain}",
            "--admin-name", "Admin", "--admin-password", "a long password", "--json",
        )
    )  # fmt: skip


def test_tenant_list_show_rename_domains_delete(cli_env: Path) -> None:
    a, b = create("Alpha", "alpha.example"), create("Beta", "beta.example")
    listed = json.loads(ok("tenant", "list", "--json"))
    assert [t["name"] for t in listed] == ["Alpha", "Beta"]
    assert [t["id"] for t in json.loads(ok("tenant", "list", "--q", "beta", "--json"))] == [b["id"]]
    shown = json.loads(ok("tenant", "show", "alpha.example", "--json"))
    assert shown["id"] == a["id"] and shown["users"] == 1 and shown["domains"] == ["alpha.example"]
    assert json.loads(ok("tenant", "rename", a["id"], "Alpha Corp", "--json"))["name"] == "Alpha Corp"
    grown = json.loads(ok("tenant", "domain", "add", a["id"], "alpha.example.org", "--json"))
    assert grown["domains"] == ["alpha.example", "alpha.example.org"]
    assert "already registered" in refused("tenant", "domain", "add", b["id"], "alpha.example.org")
    assert "sign in with" in refused("tenant", "domain", "remove", a["id"], "alpha.example")
    assert "has no domain" in refused("tenant", "domain", "remove", a["id"], "gamma.example")
    shrunk = json.loads(ok("tenant", "domain", "remove", a["id"], "alpha.example.org", "--json"))
    assert shrunk["domains"] == ["alpha.example"]
    # Deletion asks for the name; a wrong answer deletes nothing.
    assert "not confirmed" in refused("tenant", "delete", "beta.example", input="Beta Corp\n")
    assert json.loads(ok("tenant", "show", "beta.example", "--json"))["id"] == b["id"]
    ok("tenant", "delete", "beta.example", input="Beta\n")
    assert "no tenant with id or domain beta.example" in refused("tenant", "show", "beta.example")
    ok("tenant", "delete", a["id"], "--yes", "--json")
    assert json.loads(ok("tenant", "list", "--json")) == []


def test_errors_are_one_line_with_a_non_zero_code(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    create("Alpha", "alpha.example")
    line = refused("tenant", "rename", "alpha.example", "Bad\r\nName", code=2)
    assert "control characters" in line
    assert "invalid input" in refused("tenant", "domain", "add", "alpha.example", "not a domain", code=2)
    monkeypatch.setenv("ROOMWARDEN_ENCRYPTION_KEY", "not-a-key")
    get_settings.cache_clear()
    assert "ROOMWARDEN_ENCRYPTION_KEY" in refused("tenant", "list")
    assert "ROOMWARDEN_ENCRYPTION_KEY" in refused("demo", "--no-serve")
    demo_key = get_settings.__wrapped__().encryption_key.get_secret_value()
    monkeypatch.setenv("ROOMWARDEN_ENCRYPTION_KEY", demo_key)
    monkeypatch.setenv("ROOMWARDEN_SMTP_PORT", "not a port")
    get_settings.cache_clear()
    assert "invalid configuration" in refused("mail", "status")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append(envelope.content.decode())
        return "250 OK"


def test_mail_status_and_retry_deliver_failed_messages(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = create("Alpha", "alpha.example")
    db = Database(f"sqlite:///{cli_env}")
    with db.transaction() as session:
        for n, status in enumerate(["failed", "failed", "sent", "pending"]):
            session.add(
                OutgoingMail(
                    tenant_id=uuid.UUID(tenant["id"]),
                    to_address=f"user{n}@alpha.example",
                    subject=f"Message {n}",
                    body="hello",
                    status=status,
                    attempts=8 if status == "failed" else 0,
                    last_error="ConnectionRefusedError: nobody home" if status == "failed" else None,
                )
            )
    status = json.loads(ok("mail", "status", "--json"))
    assert status["counts"] == {"pending": 1, "sent": 1, "failed": 2, "dropped": 0}
    assert {f["subject"] for f in status["failed"]} == {"Message 0", "Message 1"}
    assert "nobody home" in status["failed"][0]["last_error"]
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("ROOMWARDEN_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ROOMWARDEN_SMTP_PORT", str(port))
        get_settings.cache_clear()
        result = json.loads(ok("mail", "retry", "--json"))
    finally:
        controller.stop()
    assert result["requeued"] == 2
    assert result["counts"] == {"pending": 0, "sent": 4, "failed": 0, "dropped": 0}
    assert sorted(m.split("Subject: ")[1].split("\n")[0].strip() for m in inbox.messages) == [
        "Message 0",
        "Message 1",
        "Message 3",
    ]
    with db.transaction(write=False) as session:
        assert all(m.sent_at for m in session.scalars(select(OutgoingMail)) if m.subject != "Message 2")
    db.dispose()


def test_demo_reset_builds_afresh(cli_env: Path) -> None:
    ok("demo", "--no-serve", "--rooms-per-site", "1")
    first = json.loads(ok("tenant", "show", "contoso.example", "--json"))
    create("Bystander", "bystander.example")
    out = ok("demo", "--no-serve", "--reset", "--rooms-per-site", "1", "--port", "8123")
    assert "Created the demo data set" in out
    assert "http://127.0.0.1:8123/" in out and "Operator token:" in out
    again = json.loads(ok("tenant", "show", "contoso.example", "--json"))
    assert again["id"] != first["id"] and again["rooms"] == first["rooms"]
    assert json.loads(ok("tenant", "show", "bystander.example", "--json"))["users"] == 1
