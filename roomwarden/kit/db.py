"""Database plumbing: declarative base, portable column types, engines and sessions.

One request, CLI command or job is one transaction. Services ``flush()``; only the unit of
work boundary (``Database.transaction``) commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, Uuid, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from roomwarden.kit.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), uuid.UUID: Uuid()}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TenantKeyMixin(IdMixin):
    """A tenant-owned row: keyed ``(id, tenant_id)`` in the database, so that the primary key
    includes the distribution column (docs/operations.md, "Towards Citus"), and identified by
    ``id`` alone in the ORM, so ``session.get(Model, id)`` and every lookup by id are as before.
    The model declares ``tenant_id`` with ``primary_key=True`` and names the key's order in its
    ``__table_args__``: ``PrimaryKeyConstraint("id", "tenant_id")`` (``id`` first: a lookup by
    id alone is a probe of the primary key)."""

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"primary_key": [cls.__table__.c.id]}  # type: ignore[attr-defined]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(mode: str) -> Callable[[Any], None]:
    def begin(conn: Any) -> None:
        conn.exec_driver_sql(f"BEGIN {mode}")

    return begin


@dataclass(frozen=True)
class PoolSize:
    """Connections per worker process. Every request holds at most one connection at a
    time, so a pool as large as the worker's request thread pool never makes a request wait
    for a connection; ``overflow`` serves background work (mail delivery, readiness checks).
    ``timeout`` bounds the wait when it is exhausted anyway: the request then answers 503."""

    size: int = 20
    overflow: int = 4
    timeout: float = 10.0


def make_engine(
    url: str, *, sqlite_begin: str = "DEFERRED", echo: bool = False, pool: PoolSize | None = None
) -> Engine:
    """Create an engine. On SQLite the driver's own transaction handling is replaced so that
    write transactions can take the write lock up front (``BEGIN IMMEDIATE``): two writers
    then queue instead of failing on a lock upgrade."""
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            raise ValueError("an in-memory SQLite database cannot be shared: use a file path")
        connect_args = {"check_same_thread": False, "timeout": 30}
        pool = pool or PoolSize()
        engine = create_engine(
            url,
            echo=echo,
            connect_args=connect_args,
            pool_size=pool.size,
            max_overflow=pool.overflow,
            pool_timeout=pool.timeout,
        )
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_driver_tx(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin(sqlite_begin))
        return engine
    pool = pool or PoolSize()
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=pool.size,
        max_overflow=pool.overflow,
        pool_timeout=pool.timeout,
    )


class Database:
    """Engines and session factories for one database URL.

    ``reader`` sessions serve safe methods; ``writer`` sessions serve changes. On PostgreSQL
    both use one engine; on SQLite the writer begins with ``BEGIN IMMEDIATE``.
    """

    def __init__(self, url: str, *, echo: bool = False, pool: PoolSize | None = None) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = make_engine(url, echo=echo, pool=pool)
        self.write_engine = self.engine
        if self.is_sqlite:
            self.write_engine = make_engine(url, sqlite_begin="IMMEDIATE", echo=echo, pool=pool)
        self._read = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False, autoflush=True)
        #: Called after each successful request or ``transaction()`` commit with the
        #: session's ``info`` (what the transaction asked to do after it).
        self.after_commit_hooks: list[Callable[[dict[str, Any]], None]] = []

    def session(self, *, write: bool = True) -> Session:
        return (self._write if write else self._read)()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        session = self.session(write=write)
        try:
            yield session
            session.commit()
            info = dict(session.info)
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        for hook in self.after_commit_hooks:
            hook(info)

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()
