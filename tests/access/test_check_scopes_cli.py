"""``roomwarden access check-scopes``: an operator proves the materialised scope membership
agrees with its definition, and repairs it after a hand edit."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete, insert
from typer.testing import CliRunner

from roomwarden.access.models import Scope, ScopeEffectiveRoom, ScopeRoom
from roomwarden.cli import app
from roomwarden.kit.db import Database
from roomwarden.kit.migrate import upgrade
from roomwarden.rooms.models import Room, UpdateRing
from roomwarden.settings import get_settings
from roomwarden.tenants.models import Tenant

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"sqlite:///{tmp_path / 'check.db'}"
    monkeypatch.setenv("ROOMWARDEN_DATABASE_URL", url)
    monkeypatch.setenv("ROOMWARDEN_ENV", "development")
    get_settings.cache_clear()
    db = Database(url)
    upgrade(db)
    yield db
    db.dispose()
    get_settings.cache_clear()


def test_check_scopes_reports_and_repairs(database: Database) -> None:
    tid, ring, room, scope = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with database.transaction() as s:
        s.add(Tenant(id=tid, name="Check"))
        s.flush()
        s.add(UpdateRing(id=ring, tenant_id=tid, name="General", deferral_days=0))
        s.flush()
        s.add(
            Room(
                id=room,
                tenant_id=tid,
                name="R",
                resource_account="r@check.example",
                country="US",
                update_ring_id=ring,
                enrollment_key_sealed="x",
            )
        )
        s.add(Scope(id=scope, tenant_id=tid, all_rooms=False))
        s.flush()
        s.execute(insert(ScopeRoom).values(tenant_id=tid, scope_id=scope, room_id=room))
    ok = runner.invoke(app, ["access", "check-scopes", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == {"ok": True, "missing": 0, "extra": 0, "repaired": False}
    with database.transaction() as s:
        s.execute(delete(ScopeEffectiveRoom))
    bad = runner.invoke(app, ["access", "check-scopes"])
    assert bad.exit_code == 1
    assert "1 missing and 0 extra" in bad.output
    fixed = runner.invoke(app, ["access", "check-scopes", "--repair", "--json"])
    assert fixed.exit_code == 0
    assert json.loads(fixed.output)["repaired"] is True
    assert runner.invoke(app, ["access", "check-scopes", "--tenant", str(tid)]).exit_code == 0
    assert runner.invoke(app, ["access", "check-scopes", "--tenant", "nope"]).exit_code == 2
