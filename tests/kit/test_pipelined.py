"""PostgreSQL: a transaction's ``BEGIN``, and what it was told (its tenants, its lookups, a
stating function), ride in the round trip of its first statement (``kit.pipelined``). What
must hold whatever rides with what: a transaction is one transaction, what was stated is in
force for the statement it rides with, an error is the statement's own and leaves the
connection usable, and what a stating function found is known even when nothing follows it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import func, select, text
from sqlalchemy.exc import ProgrammingError

from roomwarden.identity.tenancy import state_linked
from roomwarden.kit.db import TENANT_IDS, Database, PoolSize, state_tenants, stated_tenants
from roomwarden.kit.pipelined import driver
from roomwarden.rooms.models import Room
from roomwarden.settings import Settings
from tests.conftest import DB_KIND
from tests.factories import World
from tests.kit.round_trips import round_trips
from tests.partners.helpers import link

pytestmark = pytest.mark.skipif(DB_KIND != "postgresql", reason="the pipelining is PostgreSQL's")

SETTING = text(f"SELECT current_setting('{TENANT_IDS}', true)")


@pytest.fixture
def single(settings: Settings, db: Database) -> Iterator[Database]:
    """Row-level security on, one pooled connection: every transaction reuses it."""
    database = Database(settings.database_url, pool=PoolSize(size=1, overflow=0), row_security=True)
    yield database
    database.dispose()


def test_begin_the_stating_and_the_first_statement_are_one_round_trip(world: World, single: Database) -> None:
    t = world.tenant()
    world.room(t)
    with single.transaction(write=False) as session:
        session.scalar(text("SELECT 1"))  # the connection's first use: its role, its types
    with round_trips(single) as trips, single.transaction(write=False, tenants=[uuid.UUID(t.id)]) as session:
        assert session.scalar(select(func.count()).select_from(Room)) == 1
        assert session.scalar(SETTING) == t.id
    # BEGIN + the setting + the count; the setting read back; COMMIT
    assert trips.count == 3, trips.messages


def test_the_statements_of_a_transaction_are_one_transaction(single: Database) -> None:
    with single.engine.connect() as conn:
        with conn.begin():
            first = conn.execute(text("SELECT txid_current()")).scalar_one()
            assert driver(conn).info.transaction_status == TransactionStatus.INTRANS
            assert conn.execute(text("SELECT txid_current()")).scalar_one() == first
        with conn.begin() as tx:
            conn.execute(text("CREATE TEMP TABLE pipelined_probe (x int)"))
            conn.execute(text("INSERT INTO pipelined_probe VALUES (1)"))
            tx.rollback()
        with conn.begin():
            assert conn.execute(text("SELECT to_regclass('pg_temp.pipelined_probe')")).scalar_one() is None
            assert conn.execute(text("SELECT txid_current()")).scalar_one() != first


def test_an_error_in_the_first_statement_is_its_own_and_the_connection_serves_on(
    world: World, single: Database
) -> None:
    t = world.tenant()
    world.room(t)
    with (
        pytest.raises(ProgrammingError, match="no_such_table"),
        single.transaction(write=False, tenants=[uuid.UUID(t.id)]) as session,
    ):
        session.execute(text("SELECT * FROM no_such_table"))
    with single.transaction(write=False) as session:  # the same connection, nothing stated
        assert session.scalar(SETTING) in (None, "")
        assert session.scalar(select(func.count()).select_from(Room)) == 0
    with single.transaction(write=False, tenants=[uuid.UUID(t.id)]) as session:
        assert session.scalar(select(func.count()).select_from(Room)) == 1


def test_what_a_stating_finds_is_known_when_no_statement_follows(world: World, single: Database) -> None:
    c, p = world.tenant(), world.tenant()
    link(world, c, p, {"rooms": [], "room_groups": []})
    session = single.session(write=False)
    try:
        state_linked(session, [uuid.UUID(p.id)])
        session.commit()  # nothing rode with it: it is sent as the transaction ends
        assert stated_tenants(session) == {p.id, c.id}
        # and a later transaction of the session is told all of it
        assert set(session.scalar(SETTING).split(",")) == {p.id, c.id}
        session.rollback()
        state_linked(session, [uuid.UUID(c.id)])
        session.rollback()  # nor when the transaction is rolled back
        assert stated_tenants(session) == {p.id, c.id}
    finally:
        session.close()


def test_the_driver_connection_and_a_streamed_read_see_what_was_stated(
    world: World, single: Database
) -> None:
    t = world.tenant()
    world.room(t)
    with single.transaction(write=False, tenants=[uuid.UUID(t.id)]) as session:
        raw = driver(session.connection())
        assert raw.execute(SETTING.text).fetchone() == (t.id,)
    with single.transaction(write=False, tenants=[uuid.UUID(t.id)]) as session:
        streamed = session.execute(
            select(Room.tenant_id).execution_options(stream_results=True, yield_per=10)
        )
        assert [str(r[0]) for r in streamed] == [t.id]
    with single.transaction(write=False) as session:
        state_tenants(session, [uuid.UUID(t.id)])
        state_tenants(session, [uuid.uuid4()])  # told twice before a statement: both hold
        assert session.scalar(select(func.count()).select_from(Room)) == 1
