"""PostgreSQL: a transaction's ``BEGIN``, and what it is told (its tenants, its lookups, a
stating function: ``kit.db``), in the round trip of its first statement.

The driver runs in autocommit mode, and the service sends ``BEGIN`` itself, queued in one
pipeline with the transaction's first statement and whatever was sent ahead of it
(``ahead``); psycopg on its own would wait for its ``BEGIN`` to be answered first. A signed-in
request's ``BEGIN``, the stating of its tenants and its decision are one round trip, where they
were three. ``COMMIT`` and ``ROLLBACK`` are the driver's: they end what the server has begun,
autocommit or not. Code that uses the driver connection directly takes it from ``driver``,
which sends what waits first.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import Dialect

log = logging.getLogger("roomwarden.db")

_BEGIN = "roomwarden.begin"  # connection info: the transaction has begun, and sent no BEGIN yet
_AHEAD = "roomwarden.ahead"  # connection info: statements to send ahead of the next one
_PIPELINE = "roomwarden.pipeline"  # connection info: the pipeline open around a statement

#: A statement sent ahead of the next one, and what to do with its one value once read.
Ahead = tuple[str, dict[str, Any], Callable[[Any], None] | None]


def ahead(
    conn: Connection, sql: str, params: dict[str, Any], then: Callable[[Any], None] | None = None
) -> None:
    """Send ``sql`` (the driver's own text and parameters) ahead of ``conn``'s next statement, in
    its round trip; ``then`` is given the first column of its one row. Statements sent ahead
    run in order, before the statement they ride with (``pipelined``)."""
    conn.info.setdefault(_AHEAD, []).append((sql, params, then))


@functools.lru_cache(maxsize=64)
def _compiled(dialect: Dialect, stmt: Select[Any]) -> Any:
    return stmt.compile(dialect=dialect)


def for_driver(dialect: Dialect, stmt: Select[Any], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``stmt`` as the driver's text, and ``params`` as the driver's values (each through its
    bound parameter's type, as an execution through SQLAlchemy would send it)."""
    compiled = _compiled(dialect, stmt)
    values = compiled.construct_params(params)
    for name, process in compiled._bind_processors.items():
        if name in values:
            values[name] = process(values[name])
    return compiled.string, values


def _send(pg: Any, begin: bool, ahead: list[Ahead]) -> list[tuple[Any, Callable[[Any], None] | None]]:
    """Queue ``BEGIN`` and ``ahead`` in ``pg``'s open pipeline."""
    if begin:
        pg.execute("BEGIN")
    sent = []
    for sql, params, then in ahead:
        cur = pg.cursor()
        cur.execute(sql, params)
        sent.append((cur, then))
    return sent


def _read(sent: list[tuple[Any, Callable[[Any], None] | None]]) -> None:
    for cur, then in sent:
        if then is not None:
            row = cur.fetchone()
            then(row[0] if row else None)
        cur.close()


def send_ahead_now(conn: Connection) -> None:
    """Send what waits for ``conn``'s next statement (``BEGIN``, settings) now, in one round
    trip: before the driver connection is used directly, or a setting is read back."""
    begin, ahead = conn.info.pop(_BEGIN, False), conn.info.pop(_AHEAD, [])
    if not begin and not ahead:
        return
    pg: Any = conn.connection.driver_connection
    with pg.pipeline():
        sent = _send(pg, begin, ahead)
    _read(sent)


def driver(conn: Connection) -> Any:
    """``conn``'s driver connection, in its transaction, with every setting the transaction
    was told: for reads that bypass SQLAlchemy (``COPY``, the audit verify's batches)."""
    send_ahead_now(conn)
    return conn.connection.driver_connection


def pipelined(engine: Engine) -> None:
    """Begin ``engine``'s transactions as the module's text says."""

    @event.listens_for(engine, "connect")
    def _autocommit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.autocommit = True

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.info[_BEGIN] = True
        conn.info.pop(_AHEAD, None)

    @event.listens_for(engine, "commit")
    def _commit(conn: Connection) -> None:
        if conn.invalidated:
            return
        if conn.info.get(_AHEAD):  # a stating read back later must have been read
            send_ahead_now(conn)
        conn.info.pop(_BEGIN, None)

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Connection) -> None:
        if conn.invalidated:  # the pool drops it, and its info with it
            return
        conn.info.pop(_BEGIN, None)
        if conn.info.get(_AHEAD):  # and what a stating found is known to the session
            conn.info[_BEGIN] = True
            try:
                send_ahead_now(conn)  # the driver's rollback ends this transaction too
            except Exception:  # a broken connection: the rollback's own error tells it
                log.warning("settings sent ahead of a rollback failed", exc_info=True)

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        for key in (_BEGIN, _AHEAD, _PIPELINE):
            record.info.pop(key, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Connection, cursor: Any, _sql: str, _params: Any, context: Any, _many: bool) -> None:
        begin, ahead = conn.info.pop(_BEGIN, False), conn.info.pop(_AHEAD, [])
        if not begin and not ahead:
            return
        pg = cursor.connection
        if getattr(context, "_is_server_side", False):  # a named cursor cannot be pipelined
            with pg.pipeline():
                sent = _send(pg, begin, ahead)
            _read(sent)
            return
        pipeline = pg.pipeline()
        pipeline.__enter__()
        try:
            sent = _send(pg, begin, ahead)
        except BaseException:
            pipeline.__exit__(*sys.exc_info())
            raise
        conn.info[_PIPELINE] = (pipeline, sent)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Connection, _cursor: Any, _sql: str, _params: Any, _context: Any, _many: bool) -> None:
        if (open_ := conn.info.pop(_PIPELINE, None)) is None:
            return
        pipeline, sent = open_
        pipeline.__exit__(None, None, None)  # one sync: every queued result is in
        _read(sent)

    @event.listens_for(engine, "handle_error")
    def _failed(context: Any) -> None:
        conn = context.connection
        if conn is None or conn.invalidated or (open_ := conn.info.pop(_PIPELINE, None)) is None:
            return
        exc = context.original_exception
        with contextlib.suppress(Exception):  # the original error is the one to report
            open_[0].__exit__(type(exc), exc, exc.__traceback__)
