"""The migrations build the schema from empty and agree with the models, on the backend of
the test run (SQLite by default, PostgreSQL with ``ROOMWARDEN_TEST_DB=postgresql``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy import text as sa_text

from roomwarden.kit.db import Database
from roomwarden.kit.migrate import alembic_config, current_revision, upgrade
from roomwarden.models import metadata
from roomwarden.tenants.schemas import AdminCreate, TenantCreate
from roomwarden.tenants.service import create_tenant
from tests.conftest import DB_KIND
from tests.factories import PASSWORD
from tests.pg import postgres_database


def _diff(db: Database) -> list:  # type: ignore[type-arg]
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def _downgrade_to_base(db: Database) -> None:
    from alembic import command

    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")


@pytest.fixture
def empty_db(tmp_path: Path) -> Iterator[Database]:
    """A brand-new, empty database of the run's backend."""
    if DB_KIND == "postgresql":
        with postgres_database() as url:
            db = Database(url)
            yield db
            db.dispose()
    else:
        db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield db
        db.dispose()


def test_migrations_build_the_schema_from_empty(empty_db: Database) -> None:
    assert inspect(empty_db.engine).get_table_names() == []
    upgrade(empty_db)
    head = ScriptDirectory.from_config(alembic_config(empty_db.url)).get_current_head()
    assert current_revision(empty_db) == head
    tables = set(inspect(empty_db.engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert _diff(empty_db) == [], "a freshly migrated database differs from the models"


def test_migrations_downgrade_to_empty_and_up_again(empty_db: Database) -> None:
    upgrade(empty_db)
    _downgrade_to_base(empty_db)
    assert set(inspect(empty_db.engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_db)
    assert _diff(empty_db) == []


def test_database_is_at_the_head_revision(db: Database) -> None:
    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    assert current_revision(db) == head


def test_models_and_migrations_agree(db: Database) -> None:
    diff = _diff(db)
    assert diff == [], f"models and migrations differ: {diff}"


def test_every_tenant_owned_table_carries_tenant_id() -> None:
    # the tenant itself; sign-in throttling by name; background jobs, which work across tenants;
    # the operator's release catalogue, which every tenant reads
    shared = {"tenants", "sign_in_throttles", "jobs", "releases"}
    missing = [
        name for name, table in metadata.tables.items() if "tenant_id" not in table.c and name not in shared
    ]
    assert missing == [], f"tables without tenant_id: {missing}"


def test_primary_keys_agree_with_the_models(db: Database) -> None:
    # compare_metadata does not compare primary keys: the re-keying by tenant (0090) is checked here
    insp = inspect(db.engine)
    differ = {
        name: (insp.get_pk_constraint(name)["constrained_columns"], [c.name for c in table.primary_key])
        for name, table in metadata.tables.items()
        if insp.get_pk_constraint(name)["constrained_columns"] != [c.name for c in table.primary_key]
    }
    assert differ == {}, f"primary keys differ (database, models): {differ}"


def test_0085_fills_the_natural_sort_keys_of_existing_rows(empty_db: Database) -> None:
    """Rows written before the keys existed get theirs from the migration: a tenant made at
    the head, taken back to 0080 (the keys dropped) and up again."""
    from alembic import command

    upgrade(empty_db)
    with empty_db.transaction() as s:
        create_tenant(
            s,
            TenantCreate(
                name="T",
                domains=["natural.example.com"],
                admin=AdminCreate(
                    upn="admin@natural.example.com", display_name="Admin 10", password=PASSWORD
                ),
            ),
        )
    cfg = alembic_config(empty_db.url)
    with empty_db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0080")
    upgrade(empty_db)
    with empty_db.engine.begin() as conn:
        keys = conn.execute(sa_text("SELECT name_key FROM users")).scalars().all()
    assert keys == ["admin 0210"]
