"""``roomwarden audit export|verify|checkpoint|purge`` against a real database file: results,
``--json``, exit codes and one readable error line."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from roomwarden.audit.service import OPERATOR_ACTOR, Category, Operation, record
from roomwarden.cli import app
from roomwarden.kit.db import Database
from roomwarden.settings import get_settings

runner = CliRunner()
DOMAIN = "northwind.example"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("ROOMWARDEN_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    result = run(
        "tenant", "create", "--name", "Northwind", "--domain", DOMAIN, "--admin-upn", f"admin@{DOMAIN}",
        "--admin-name", "Admin", "--admin-password", "a long password",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()
    get_settings.cache_clear()


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def _tenant_id(db: Database) -> uuid.UUID:
    with db.engine.connect() as conn:
        return uuid.UUID(hex=conn.execute(text("SELECT id FROM tenants")).scalar_one())


def _add(db: Database, n: int, *, days_ago: int = 0, monkeypatch: pytest.MonkeyPatch | None = None) -> None:
    if monkeypatch is not None:
        then = datetime.now(UTC) - timedelta(days=days_ago)
        monkeypatch.setattr("roomwarden.audit.service.utcnow", lambda: then)
    with db.transaction() as session:
        for i in range(n):
            record(
                session,
                tenant_id=_tenant_id(db),
                actor=OPERATOR_ACTOR,
                category=Category.ROOM,
                operation=Operation.CREATE,
                object_name=f"=Room {i}",
            )
    if monkeypatch is not None:
        monkeypatch.undo()


def _one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_verify_reports_ok_and_failure_with_exit_codes(env: Database) -> None:
    ok = run("audit", "verify", "--tenant", DOMAIN)
    assert ok.exit_code == 0 and ": ok, 2 records" in ok.output
    data = json.loads(run("audit", "verify", "--tenant", DOMAIN, "--json").output)
    assert data["ok"] is True and data["records_checked"] == 2
    every = json.loads(run("audit", "verify", "--json").output)
    assert [d["tenant_id"] for d in every] == [str(_tenant_id(env))]
    with env.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET object_name = 'x' WHERE seq = 2"))
    bad = run("audit", "verify", "--tenant", DOMAIN)
    assert bad.exit_code == 1 and "FAILED at record 2" in bad.output
    assert "record content was altered" in _one_error_line(bad)


def test_a_checkpoint_file_is_checked_later(env: Database, tmp_path: Path) -> None:
    _add(env, 3)
    cp_file = tmp_path / "cp.json"
    made = run("audit", "checkpoint", "--tenant", DOMAIN, "--output", str(cp_file))
    assert made.exit_code == 0, made.output
    cp = json.loads(cp_file.read_text())
    assert (cp["tenant_id"], cp["seq"]) == (str(_tenant_id(env)), 5) and cp["signature"]
    printed = json.loads(run("audit", "checkpoint", "--tenant", DOMAIN).output)
    assert printed["seq"] == 5
    _add(env, 1)
    assert run("audit", "verify", "--checkpoint", str(cp_file)).exit_code == 0
    with env.engine.begin() as conn:  # cut everything after the checkpoint, rewind the head
        conn.execute(text("DELETE FROM audit_records WHERE seq > 5"))
        conn.execute(
            text("UPDATE audit_chain_heads SET last_seq = 5, last_hash = :h"), {"h": cp["head_hash"]}
        )
    assert run("audit", "verify", "--tenant", DOMAIN).exit_code == 1  # the head's signature is stale
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(cp | {"seq": 9}))
    assert "signature" in _one_error_line(run("audit", "verify", "--checkpoint", str(forged)))
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert "not JSON" in _one_error_line(run("audit", "verify", "--checkpoint", str(junk)))


def test_export_writes_the_csv_and_is_recorded(env: Database, tmp_path: Path) -> None:
    _add(env, 3)
    out = tmp_path / "audit.csv"
    result = run("audit", "export", "--tenant", DOMAIN, "--output", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"] == 5
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["activity.objectName"] for r in rows[2:]] == ["'=Room 0", "'=Room 1", "'=Room 2"]
    stdout = run("audit", "export", "--tenant", DOMAIN, "--start", datetime.now(UTC).date().isoformat())
    assert stdout.exit_code == 0 and stdout.output.startswith("activity.category,")
    with env.engine.connect() as conn:
        kinds = (
            conn.execute(text("SELECT details FROM audit_records WHERE category = 'AuditLog'"))
            .scalars()
            .all()
        )
    assert [json.loads(k)["via"] for k in kinds] == ["cli", "cli"]
    assert run("audit", "verify", "--tenant", DOMAIN).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("export", "--tenant", DOMAIN, "--end", "9999-12-31T23:59:59-14:00"), "years 2000-9999"),
        (("export", "--tenant", DOMAIN, "--start", "yesterday"), "start must be"),
        (("export", "--tenant", "nowhere.example"), "no tenant"),
        (("checkpoint", "--tenant", str(uuid.uuid4())), "no tenant"),
        (("verify", "--tenant", "nowhere.example"), "no tenant"),
    ],
)
def test_bad_input_is_one_readable_line(env: Database, args: tuple[str, ...], message: str) -> None:
    assert message in _one_error_line(run("audit", *args))


def test_purge_removes_expired_records_and_keeps_the_chain_verifiable(
    env: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with env.engine.begin() as conn:  # the tenant's first records, written long ago
        conn.execute(text("DELETE FROM audit_records"))
        conn.execute(text("DELETE FROM audit_chain_heads"))
    from roomwarden.audit.service import start_chain

    with env.transaction() as session:
        start_chain(session, _tenant_id(env))
    _add(env, 4, days_ago=200, monkeypatch=monkeypatch)
    _add(env, 2)
    dry = json.loads(run("audit", "purge", "--dry-run", "--json").output)
    assert (dry["purged"], dry["dry_run"]) == (4, True)
    result = run("audit", "purge", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["purged"] == 4 and summary["tenants"][0]["through_seq"] == 4
    with env.engine.connect() as conn:
        seqs = conn.execute(text("SELECT seq FROM audit_records ORDER BY seq")).scalars().all()
        last = conn.execute(text("SELECT object_name, details FROM audit_records ORDER BY seq DESC")).first()
    assert seqs == [5, 6, 7] and last[0] == "retention purge" and json.loads(last[1])["purged"] == 4
    assert run("audit", "verify", "--tenant", DOMAIN).exit_code == 0
    assert json.loads(run("audit", "purge", "--json").output)["purged"] == 0
    with env.engine.begin() as conn:  # deleting the oldest retained record by hand is still found
        conn.execute(text("DELETE FROM audit_records WHERE seq = 5"))
    assert run("audit", "verify", "--tenant", DOMAIN).exit_code == 1
    refused = run("audit", "purge")
    assert refused.exit_code == 1 and "nothing was purged" in refused.output
    assert run("audit", "purge", "--older-than-days", "30").exit_code == 2  # below the retention
