"""Database plumbing: declarative base, portable column types, engines and sessions.

One request, CLI command or job is one transaction. Services ``flush()``; only the unit of
work boundary (``Database.transaction``) commits.

On PostgreSQL every tenant-owned table has row-level security (SPEC §10, migration 0095): a
connection of the service switches to ``SERVICE_ROLE`` as it opens, and each transaction states
the tenants it may touch (``state_tenants``) and, to find a row before its tenant is known, the
one key it looks up (``state_lookup``). Both are transaction-local settings: a pooled
connection's next transaction starts with none, and without them a tenant-owned table shows no
rows. On SQLite both are no-ops.

On PostgreSQL a transaction's first round trip carries its ``BEGIN``, and what it was told
(its tenants, its lookups, a stating function) rides with the statement that follows
(``kit.pipelined``): a signed-in request's ``BEGIN``, the stating of its tenants and its
decision are one round trip, where they were three.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    DateTime,
    MetaData,
    Select,
    String,
    Uuid,
    cast,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from roomwarden.kit.ids import new_id
from roomwarden.kit.pipelined import ahead, driver, for_driver, pipelined, send_ahead_now

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


#: The database role the service's statements run as on PostgreSQL: created (NOLOGIN) by
#: migration 0095 and granted to the migrating login; row-level security applies to it
#: (neither owner, superuser nor BYPASSRLS).
SERVICE_ROLE = "roomwarden_service"
#: The transaction-local setting that names the tenants a transaction may touch
#: (comma-separated ids); the policies of every tenant-owned table read it.
TENANT_IDS = "roomwarden.tenant_ids"
#: Transaction-local settings each revealing one row (the policies of migration 0095) to a
#: lookup made before the tenant is known: a device by its token's hash, a room by its
#: enrolment key's hash, a portal session by its token's hash, a tenant by a domain, a user
#: by its UPN (sign-in, and the UPN's uniqueness across tenants).
LOOKUPS = frozenset(
    {
        "roomwarden.upn",
        "roomwarden.device_token_hash",
        "roomwarden.enrollment_key_hash",
        "roomwarden.session_token_hash",
        "roomwarden.domain",
    }
)

_ROW_SECURITY = "row_security"  # Session.info: this session states its tenants (PostgreSQL)
_STATED = "stated_tenants"  # Session.info: the tenant ids stated, as text
_LOOKED_UP = "stated_lookups"  # Session.info: lookup setting -> value
_APPLIED = "stated_applied"  # Session.info: what the current transaction has been told


def _switch_role(dbapi_conn: Any, _record: Any) -> None:
    """Switch to the service role once migration 0095 has granted it this database's tables
    (an unmigrated database has no policies to apply anyway). ``set_config('role', ...)`` is
    ``SET ROLE``: it lasts for the connection's life."""
    cur = dbapi_conn.cursor()
    cur.execute(
        "SELECT set_config('role', %(role)s, false) WHERE has_table_privilege("
        "(SELECT oid FROM pg_roles WHERE rolname = %(role)s), to_regclass('alembic_version'), 'SELECT')",
        {"role": SERVICE_ROLE},
    )
    cur.close()
    dbapi_conn.commit()  # a later rollback must not undo the switch


def _wanted(info: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ",".join(sorted(info.get(_STATED, ()))), tuple(sorted(info.get(_LOOKED_UP, {}).items()))


def _tell(conn: Connection, info: dict[str, Any]) -> None:
    """Tell the transaction what ``info`` states, ahead of its next statement."""
    wanted = _wanted(info)
    if info.get(_APPLIED) == wanted:
        return
    tenants, lookups = wanted
    settings = [(TENANT_IDS, tenants), *lookups]
    calls = ", ".join(f"set_config(%(n{i})s, %(v{i})s, true)" for i in range(len(settings)))
    params: dict[str, str] = {}
    for i, (name, value) in enumerate(settings):
        params[f"n{i}"], params[f"v{i}"] = name, value
    ahead(conn, f"SELECT {calls}", params)
    info[_APPLIED] = wanted


def _on_begin(session: Session, _transaction: Any, conn: Connection) -> None:
    session.info.pop(_APPLIED, None)  # a new transaction has been told nothing yet
    if session.info.get(_STATED) or session.info.get(_LOOKED_UP):
        _tell(conn, session.info)


def state_tenants(session: Session, tenant_ids: Iterable[uuid.UUID | str]) -> None:
    """Add tenants this session's transactions may touch (``roomwarden.tenant_ids``). Told to
    the database at once, and again at the start of the session's every later transaction."""
    if not session.info.get(_ROW_SECURITY):
        return
    stated: set[str] = session.info.setdefault(_STATED, set())
    stated.update(str(t) for t in tenant_ids)
    _tell(session.connection(), session.info)


def state_lookup(session: Session, name: str, *values: str) -> None:
    """Reveal to this session's reads the rows whose key is one of ``values`` (``LOOKUPS``:
    hashes, domains, UPNs, none of which holds a comma), before their tenant is known. Replaces
    what the setting named before."""
    if name not in LOOKUPS:
        raise ValueError(f"{name} is not a lookup setting")
    if not session.info.get(_ROW_SECURITY):
        return
    # No key holds a comma, so a value with one (a sign-in name typed with a comma) names no
    # row: it is left out, never split into other keys; none left reveals nothing.
    keys = [v for v in values if "," not in v]
    session.info.setdefault(_LOOKED_UP, {})[name] = ",".join(keys)
    _tell(session.connection(), session.info)


def state_tenants_of(
    session: Session, ids: Select[Any] | CompoundSelect[Any], params: dict[str, Any] | None = None
) -> None:
    """Add the tenants that ``ids`` (a one-column select of tenant ids, read under what the
    session has stated so far; ``params``: values of its bound parameters) returns, in the one
    statement that reads them. A select built once, with bound parameters, is wrapped once
    (``_stating``): on the path of every request, building the statement cost more than
    running it."""
    if session.info.get(_ROW_SECURITY):
        state_tenants_by(session, _stating(ids), params)


def state_tenants_by(session: Session, call: Select[Any], params: dict[str, Any] | None = None) -> None:
    """State tenants through ``call``: a select of one database function that adds tenants to
    ``TENANT_IDS`` itself, reading what it needs in order, and returns the setting's new value
    (``roomwarden_state_linked``: one round trip where a statement per step took one each)."""
    if not session.info.get(_ROW_SECURITY):
        return
    conn = session.connection()
    info = session.info
    if any(_wanted(info)):  # what was stated before goes first, as every statement's
        _tell(conn, info)

    def stated(value: str | None) -> None:
        info.setdefault(_STATED, set()).update(t for t in (value or "").split(",") if t)
        info[_APPLIED] = _wanted(info)

    sql, values = for_driver(conn.dialect, call, params or {})
    ahead(conn, sql, values, stated)


@functools.lru_cache(maxsize=128)
def _stating(ids: Select[Any] | CompoundSelect[Any]) -> Select[Any]:
    """``SELECT set_config(TENANT_IDS, <stated so far>,<what ids returns>, true)``."""
    found = ids.subquery()
    listed = select(func.string_agg(cast(found.c[0], String), ",")).scalar_subquery()
    value = func.concat_ws(",", func.nullif(func.current_setting(TENANT_IDS, True), ""), listed)
    return select(func.set_config(TENANT_IDS, value, True))


@contextmanager
def beside(session: Session) -> Iterator[Any]:
    """A second driver connection of ``session``'s engine, in a read transaction of its own
    that states what ``session`` has stated (its tenants and lookups; row-level security):
    for reads run beside the session's own, such as the audit verify's second reader. Its
    snapshot is its own. Rolled back and handed back to the pool when the block ends."""
    stated_tenants(session)  # what a stating function found, before it is copied
    with session.get_bind().connect() as conn:  # type: ignore[union-attr]
        conn.begin()
        if session.info.get(_ROW_SECURITY) and any(_wanted(session.info)):
            _tell(conn, {k: v for k, v in session.info.items() if k != _APPLIED})
        try:
            yield driver(conn)
        finally:
            conn.rollback()  # ends the read transaction begun above


def states_tenants(session: Session) -> bool:
    """Whether this session states its tenants (row-level security on, PostgreSQL): when it
    does not, a caller need not work out which tenants to state."""
    return bool(session.info.get(_ROW_SECURITY))


def stated_tenants(session: Session) -> frozenset[str]:
    """The tenant ids this session has stated so far (what a stating function found is sent
    now if it still waits for the next statement)."""
    if session.info.get(_ROW_SECURITY) and session.in_transaction():
        send_ahead_now(session.connection())
    return frozenset(session.info.get(_STATED, ()))


@dataclass(frozen=True)
class PoolSize:
    """Connections per worker process. Every request holds at most one connection at a
    time, so a pool as large as the worker's request thread pool never makes a request wait
    for a connection; ``overflow`` serves background work (mail delivery, readiness checks).
    ``timeout`` bounds the wait when it is exhausted anyway: the request then answers 503."""

    size: int = 20
    overflow: int = 4
    timeout: float = 10.0


#: A pooled PostgreSQL connection that has lain idle this long is pinged before it is handed
#: out (one round trip), and replaced when the ping fails: a server restart, a failover or a
#: proxy's idle timeout is met by a fresh connection, not by an error. One handed back more
#: recently is not pinged: a ping on every checkout was one round trip in ten of an
#: authorised read. Should such a connection have died all the same, its request fails
#: (503, ``Retry-After``) and the pool drops every connection opened before the failure, so
#: a worker fails at most one request per server restart under load.
PING_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine, idle: float) -> None:
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle:  # new, or in use a moment ago
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("a pooled connection did not answer its ping") from exc
        if not alive:
            raise DisconnectionError("a pooled connection did not answer its ping")


def make_engine(
    url: str,
    *,
    sqlite_begin: str = "DEFERRED",
    echo: bool = False,
    pool: PoolSize | None = None,
    service_role: bool = False,
    ping_idle: float = PING_IDLE_SECONDS,
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
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool.size,
        max_overflow=pool.overflow,
        pool_timeout=pool.timeout,
    )
    _ping_when_idle(engine, ping_idle)
    pipelined(engine)
    if service_role:
        event.listen(engine, "connect", _switch_role)
    return engine


class Database:
    """Engines and session factories for one database URL.

    ``reader`` sessions serve safe methods; ``writer`` sessions serve changes. On PostgreSQL
    both use one engine; on SQLite the writer begins with ``BEGIN IMMEDIATE``.

    ``row_security`` (PostgreSQL; ``ROOMWARDEN_DATABASE_ROW_SECURITY``): connections run as
    ``SERVICE_ROLE`` and sessions state their tenants. Off, they run as the login and state
    nothing: a superuser login reads every row, and a login that owns the tables none (the
    tables' row-level security is forced).
    """

    def __init__(
        self, url: str, *, echo: bool = False, pool: PoolSize | None = None, row_security: bool = False
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.row_security = row_security and not self.is_sqlite
        self.engine = make_engine(url, echo=echo, pool=pool, service_role=self.row_security)
        self.write_engine = self.engine
        if self.is_sqlite:
            self.write_engine = make_engine(url, sqlite_begin="IMMEDIATE", echo=echo, pool=pool)
        info = {_ROW_SECURITY: self.row_security}
        self._read = sessionmaker(self.engine, expire_on_commit=False, autoflush=True, info=info)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False, autoflush=True, info=info)
        if self.row_security:
            for maker in (self._read, self._write):
                event.listen(maker, "after_begin", _on_begin)
        #: Called after each successful request or ``transaction()`` commit with the
        #: session's ``info`` (what the transaction asked to do after it).
        self.after_commit_hooks: list[Callable[[dict[str, Any]], None]] = []

    def session(self, *, write: bool = True) -> Session:
        return (self._write if write else self._read)()

    def login_problem(self) -> str | None:
        """Why this database's login cannot serve, or None. With row-level security off
        (PostgreSQL), the service states no tenants; the tables' row-level security is forced
        (migration 0095), so a login that is neither a superuser nor ``BYPASSRLS`` would read
        no rows at all and every tenant would look empty. Better to refuse to start."""
        if self.is_sqlite or self.row_security:
            return None
        with self.engine.connect() as conn:
            login, exempt = conn.execute(
                text("SELECT rolname, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
            ).one()
            forced = conn.execute(
                text(
                    "SELECT count(*) FROM pg_class WHERE relforcerowsecurity"
                    " AND relnamespace = current_schema()::regnamespace"
                )
            ).scalar_one()
        if exempt or not forced:
            return None
        return (
            f"the database login {login} is subject to row-level security and the service states no "
            "tenants while ROOMWARDEN_DATABASE_ROW_SECURITY is off, so it would read no rows: set "
            "ROOMWARDEN_DATABASE_ROW_SECURITY=true, or log in as a superuser or a role with BYPASSRLS "
            '(docs/operations.md, "Database roles and row-level security")'
        )

    @contextmanager
    def transaction(
        self, *, write: bool = True, tenants: Iterable[uuid.UUID] | None = None
    ) -> Iterator[Session]:
        """One unit of work; ``tenants``: the tenants it may touch (``state_tenants``)."""
        session = self.session(write=write)
        try:
            if tenants is not None:
                state_tenants(session, tenants)
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
