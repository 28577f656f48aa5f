"""On PostgreSQL, verify reads each record's MAC input as the database builds it
(audit/verify.py, ``_PG_BATCH``): that text must be, byte for byte, the payload Python builds
from the same row (``chain.payload``), whatever the values hold — NULLs, quotes and commas,
line breaks and tabs, backslashes, characters outside the BMP, a time on a whole second."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from roomwarden.audit import chain, retention, verify
from roomwarden.audit.keys import active
from roomwarden.kit.pipelined import driver
from tests.factories import World, owner_engine

pytestmark = pytest.mark.skipif(
    os.environ.get("ROOMWARDEN_TEST_DB", "sqlite") != "postgresql",
    reason="the database-built MAC input is PostgreSQL's",
)

ODD = 'a "quoted", comma\nline\ttab \\ back ⛔ 🏳️‍🌈 𝔘'
#: what a room's name may hold (one line, no control characters)
NAME = 'a "quoted", comma; back \\ slash ⛔ 🏳️‍🌈 𝔘'


def _python_input(tenant_id: uuid.UUID, row: Any) -> bytes:
    seq, prev, _, kid, category, name, oid, op, status, when, *rest = row
    uid, utid, upn, dname, pname, allowed, details = rest
    values = [str(tenant_id), category, name, oid, op, status, when.isoformat(), uid, utid, upn, dname]
    values += [pname, allowed, details, kid]
    return (prev + "\n" + chain.payload(seq, values)).encode()


def test_the_database_builds_the_mac_input_python_builds(world: World) -> None:
    t = world.tenant()
    for name in ("Plain", NAME, "=cmd|' /C calc'!A0"):
        world.room(t, name=name)
    tid = uuid.UUID(t.id)
    with owner_engine(world.db).begin() as conn:  # values no service writes, straight into the rows
        conn.execute(
            text(
                "UPDATE audit_records SET user_display_name = :odd, partner_tenant_name = :odd,"
                " allowed_by = NULL, user_upn = NULL WHERE tenant_id = :t AND seq = 2"
            ),
            {"odd": ODD, "t": tid},
        )
        conn.execute(
            text(
                "UPDATE audit_records SET creation_time = date_trunc('second', creation_time)"
                " WHERE tenant_id = :t AND seq IN (1, 3)"
            ),
            {"t": tid},
        )
    with world.session() as session:
        raw: Any = driver(session.connection())
        params = {
            "prefix": chain.PAYLOAD_VERSION + "|",
            "tenant": chain._field(str(tid)),
            "alarm_category": verify.ALARM_CATEGORY,
            "alarm_object": verify.ALARM_OBJECT,
            "t": tid,
            "after": 0,
            "last": 1000,
            "batch": 100,
        }
        with raw.cursor() as cur:
            cur.execute(verify._PG_BATCH, params, binary=True)
            built = {row[0]: bytes(row[3]) for row in cur.fetchall()}
        rows = [row for batch in verify._rows(session, tid, 0, 1000, 100) for row in batch]
        assert len(rows) == len(built) >= 5
        whole_second = [row for row in rows if row[9].microsecond == 0]
        assert whole_second, "a time on a whole second is among them"
        for row in rows:
            assert built[row[0]] == _python_input(tid, row), f"record {row[0]}"
        # and the chain as a whole: the records changed above fail at the first of them
        result = verify.verify_chain(session, tid, keys=active())
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert result.problem == "record 1: the record content was altered"


def test_an_intact_chain_verifies_by_the_database_built_input(world: World) -> None:
    t = world.tenant()
    for name in ("Plain", NAME):
        world.room(t, name=name)
    with world.session() as session:
        result = verify.verify_chain(session, uuid.UUID(t.id), keys=active(), batch=2)
    assert result.ok and result.records_checked >= 4


def test_records_written_while_verify_walks_are_no_alarm(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy tenant's log grows while it is verified: a record committed after verify read
    the chain head (between two of its batches) must not read as records cut from the end."""
    t = world.tenant()
    for n in range(5):
        world.room(t, name=f"Room {n}")
    monkeypatch.setattr(verify, "PG_BATCH_ROWS", 2)
    batches = verify._pg_batches
    grew: list[int] = []

    def growing(session: Any, raw: Any, params: dict[str, Any], size: int) -> Any:
        for n, rows in enumerate(batches(session, raw, params, size)):
            if n == 1:
                world.room(t, name="Written meanwhile")  # its own request, committed
                grew.append(1)
            yield rows

    monkeypatch.setattr(verify, "_pg_batches", growing)
    with world.session() as session:
        result = verify.verify_chain(session, uuid.UUID(t.id), keys=active())
    assert grew and result.ok, result
    with world.session() as session:  # and the next verify covers the new record
        again = verify.verify_chain(session, uuid.UUID(t.id), keys=active())
    assert again.ok and again.records_checked > result.records_checked


def test_a_purge_while_verify_walks_asks_for_another_verify(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retention purge that commits while verify walks moves the start of the chain: verify
    says so, rather than report the records purged ahead of the walk as missing."""
    t = world.tenant()
    for n in range(10):
        world.room(t, name=f"Room {n}")
    tid = uuid.UUID(t.id)
    with owner_engine(world.db).begin() as conn:  # the records before the 8th are purged
        eighth = conn.execute(
            text("SELECT creation_time FROM audit_records WHERE tenant_id = :t AND seq = 8"), {"t": tid}
        ).scalar_one()
    monkeypatch.setattr(verify, "PG_BATCH_ROWS", 2)
    batches = verify._pg_batches
    purges: list[int] = []

    def purged_meanwhile(session: Any, raw: Any, params: dict[str, Any], size: int) -> Any:
        for n, rows in enumerate(batches(session, raw, params, size)):
            if n == 1 and not purges:  # once: the purge verifies the chain itself first
                purges.append(1)
                with world.db.transaction(tenants=[tid]) as other:
                    assert retention.purge(other, tid, eighth, keys=active()).through_seq == 7
            yield rows

    monkeypatch.setattr(verify, "_pg_batches", purged_meanwhile)
    with world.session() as session:
        result = verify.verify_chain(session, tid, keys=active())
    assert not result.ok and result.problem and "verify again" in result.problem, result
    monkeypatch.setattr(verify, "_pg_batches", batches)
    with world.session() as session:
        assert verify.verify_chain(session, tid, keys=active()).ok


@pytest.mark.parametrize("seq", [3, 5, 8])
def test_two_readers_find_an_altered_record_in_either_range(
    world: World, monkeypatch: pytest.MonkeyPatch, seq: int
) -> None:
    """The walk reads alternate ranges on two connections (the second one beside the
    session's, stating its tenants): an altered record is found, at its own number, whichever
    reader read it."""
    t = world.tenant()
    for n in range(8):
        world.room(t, name=f"Room {n}")
    tid = uuid.UUID(t.id)
    monkeypatch.setattr(verify, "PG_BATCH_ROWS", 2)
    with world.session() as session:
        assert verify.verify_chain(session, tid, keys=active()).ok
    with owner_engine(world.db).begin() as conn:
        conn.execute(
            text("UPDATE audit_records SET object_name = 'altered' WHERE tenant_id = :t AND seq = :s"),
            {"t": tid, "s": seq},
        )
    with world.session() as session:
        result = verify.verify_chain(session, tid, keys=active())
    assert (result.ok, result.first_bad_seq, result.records_checked) == (False, seq, seq - 1)
    assert result.problem == f"record {seq}: the record content was altered"
