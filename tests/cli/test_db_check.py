"""``roomwarden db check``: the distribution check reads the live catalog, names each table
that cannot be distributed by tenant_id and why, reports row-level security on PostgreSQL,
and exits non-zero while any table fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, ForeignKeyConstraint, Integer, MetaData, Table, UniqueConstraint, create_engine
from typer.testing import CliRunner

from roomwarden.cli import app
from roomwarden.kit import distribution
from roomwarden.settings import get_settings
from tests.conftest import DB_KIND
from tests.pg import postgres_database

#: Tables the migrated schema still keys without tenant_id (docs/operations.md, "Towards
#: Citus"). None since migration 0090: the check must name exactly these, so a new table that
#: cannot be distributed fails this test.
STILL_TO_REKEY: set[str] = set()


@pytest.fixture
def on_test_database(database_url: str, db: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ROOMWARDEN_DATABASE_URL", database_url)
    monkeypatch.setenv("ROOMWARDEN_ENV", "development")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_db_check_passes_on_the_migrated_database(on_test_database: None) -> None:
    result = CliRunner().invoke(app, ["db", "check", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == (1 if STILL_TO_REKEY else 0)
    assert set(report["offending"]) == STILL_TO_REKEY
    assert report["ok"] == (not STILL_TO_REKEY) and report["database"] == DB_KIND
    tables = {t["name"]: t for t in report["tables"]}
    # declared reference tables (kit.distribution.REFERENCE_TABLES) refer to no tenant-owned table
    reference = {"tenants", "tenant_domains", "users", "security_groups", "sign_in_throttles"}
    assert {
        n for n in reference if tables[n]["kind"] == "reference" and not tables[n]["problems"]
    } == reference
    assert tables["audit_chain_heads"] == {
        "name": "audit_chain_heads",
        "kind": "distributed",
        "problems": [],
        "rls": tables["audit_chain_heads"]["rls"],
    }
    assert tables["rooms"]["kind"] == "distributed" and tables["rooms"]["problems"] == []
    distributed = [t for t in report["tables"] if t["kind"] == "distributed"]
    if DB_KIND == "postgresql":  # row-level security is reported for every tenant-owned table
        assert all(set(t["rls"]) == {"enabled", "forced", "policies"} for t in distributed)
    else:
        assert all(t["rls"] is None for t in distributed)
    text = CliRunner().invoke(app, ["db", "check"])
    assert text.exit_code == result.exit_code
    if STILL_TO_REKEY:
        assert "offending tables: " + ", ".join(sorted(STILL_TO_REKEY)) in text.stderr
    else:
        assert "every tenant-owned table can be distributed by tenant_id" in text.stdout


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    if DB_KIND == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'scratch.db'}"


def test_the_rules_of_distribution(scratch_url: str) -> None:
    md = MetaData()
    Table("tenants", md, Column("id", Integer, primary_key=True))
    Table(
        "good",
        md,
        Column("tenant_id", Integer, primary_key=True),
        Column("id", Integer, primary_key=True),
        Column("name", Integer),
        UniqueConstraint("tenant_id", "name", name="uq_good_name"),
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
    )
    Table(
        "child",
        md,
        Column("tenant_id", Integer, primary_key=True),
        Column("id", Integer, primary_key=True),
        Column("good_id", Integer),
        Column("other_id", Integer),
        Column("code", Integer),
        ForeignKeyConstraint(["tenant_id", "good_id"], ["good.tenant_id", "good.id"], name="fk_same_tenant"),
        ForeignKeyConstraint(["other_id", "good_id"], ["good.tenant_id", "good.id"], name="fk_other_tenant"),
        UniqueConstraint("code", name="uq_child_code"),
    )
    Table("by_id", md, Column("id", Integer, primary_key=True), Column("tenant_id", Integer))
    Table(
        "lookup",
        md,
        Column("key", Integer, primary_key=True),
        Column("tenant_id", Integer),
        Column("good_id", Integer),
        ForeignKeyConstraint(["tenant_id", "good_id"], ["good.tenant_id", "good.id"]),
    )
    engine = create_engine(scratch_url)
    md.create_all(engine)
    saved = dict(distribution.REFERENCE_TABLES)
    distribution.REFERENCE_TABLES["lookup"] = "a test's global lookup"
    try:
        with engine.connect() as conn:
            report = distribution.check(conn)
            strict = distribution.check(conn, require_rls=True)
    finally:
        distribution.REFERENCE_TABLES.clear()
        distribution.REFERENCE_TABLES.update(saved)
        engine.dispose()
    problems = {t.name: t.problems for t in report.tables}
    assert problems["good"] == [] and problems["tenants"] == []
    assert problems["child"] == [
        "unique constraint uq_child_code (code) lacks tenant_id",
        "foreign key (other_id, good_id) -> good (tenant_id, id) does not map tenant_id to tenant_id",
    ]
    assert problems["by_id"] == ["primary key (id) lacks tenant_id"]
    assert problems["lookup"] == ["reference table refers to the distributed table good"]
    assert report.offending == ["by_id", "child", "lookup"] and not report.ok
    # without forced row-level security every tenant-owned table fails the strict check
    assert strict.offending == ["by_id", "child", "good", "lookup"]


@pytest.mark.skipif(DB_KIND != "postgresql", reason="row-level security is PostgreSQL's")
def test_every_tenant_owned_table_has_row_level_security_on_postgresql(on_test_database: None) -> None:
    result = CliRunner().invoke(app, ["db", "check", "--json", "--require-rls"])
    report = json.loads(result.stdout)
    assert set(report["offending"]) == STILL_TO_REKEY  # row-level security adds no offence
    distributed = [t for t in report["tables"] if t["kind"] == "distributed"]
    assert distributed and all(t["rls"]["enabled"] and t["rls"]["forced"] for t in distributed)
    assert all(t["rls"]["policies"] >= 1 for t in distributed)
