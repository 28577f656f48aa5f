"""Running the Alembic migrations shipped inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from roomwarden.kit.db import Database, make_engine

SCRIPT_LOCATION = str(Path(__file__).resolve().parent.parent / "migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Migrate as the configured login itself, never as the service role (PostgreSQL): the
    migrations create and own the tables, the role and its grants. The database's pooled
    connections are then closed, so that every later one switches to the role the migration
    may just have granted."""
    cfg = alembic_config(db.url)
    engine = db.engine if db.is_sqlite else make_engine(db.url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        if engine is not db.engine:
            engine.dispose()
    db.dispose()


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
