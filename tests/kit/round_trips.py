"""Count a PostgreSQL connection's round trips from libpq's own protocol trace: each ``Sync``
(the end of an extended-protocol batch, pipelined or not) and each simple ``Query`` is one
exchange the client waits for. The driver's preparing of a statement it has run often enough
(a named ``Parse`` and its ``Sync``, once per statement and connection) is counted apart."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from roomwarden.kit.db import Database

_SENT = re.compile(r"^F\t\d+\t(\w+)\b(.*)$")


@dataclass
class Trips:
    count: int = 0
    #: exchanges that only prepared a statement (psycopg's ``prepare_threshold``)
    prepared: int = 0
    #: the frontend messages that carry SQL (``Parse``, ``Query``), in order
    messages: list[str] = field(default_factory=list)


@contextmanager
def round_trips(db: Database) -> Iterator[Trips]:
    """Trace every connection checked out of ``db``'s engines while the block runs."""
    trips = Trips()
    with tempfile.TemporaryFile("w+") as trace:

        def traced(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            import psycopg.pq

            dbapi_conn.pgconn.trace(trace.fileno())
            dbapi_conn.pgconn.set_trace_flags(
                psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
            )

        def untraced(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.pgconn.untrace()

        engines = {db.engine, db.write_engine}
        for engine in engines:
            event.listen(engine, "checkout", traced)
            event.listen(engine, "checkin", untraced)
        try:
            yield trips
        finally:
            for engine in engines:
                event.remove(engine, "checkout", traced)
                event.remove(engine, "checkin", untraced)
            trace.seek(0)
            preparing = False
            for line in trace:
                if (m := _SENT.match(line.rstrip("\n"))) is None:
                    continue
                kind, rest = m.groups()
                if kind == "Sync" and preparing:
                    trips.prepared += 1
                elif kind in ("Sync", "Query"):
                    trips.count += 1
                preparing = kind == "Parse" and not rest.strip().startswith('""')
                if kind in ("Parse", "Query"):
                    trips.messages.append(rest.strip())
