"""Revision 0008 keys existing chains: records written before it keep their SHA-256 links
(the epoch ``legacy_seq``), the head is signed with the configured key, and everything after
is keyed. A legacy chain then verifies, and tampering with it is still found."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from roomwarden.audit import chain
from roomwarden.audit.service import Actor, Category, Operation, record
from roomwarden.audit.verify import verify_chain
from roomwarden.kit.db import Database
from roomwarden.kit.migrate import upgrade
from tests.conftest import DB_KIND
from tests.pg import postgres_database


@pytest.fixture
def old_db(tmp_path: Path) -> Iterator[Database]:
    if DB_KIND == "postgresql":
        with postgres_database() as url:
            db = Database(url)
            yield db
            db.dispose()
    else:
        db = Database(f"sqlite:///{tmp_path / 'old.db'}")
        yield db
        db.dispose()


def _legacy_chain(db: Database, tenant_id: uuid.UUID, n: int) -> None:
    """Write ``n`` records the way revision 0003's code did."""
    tid = tenant_id.hex if db.is_sqlite else tenant_id
    prev = chain.GENESIS
    start = datetime.now(UTC) - timedelta(hours=1)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (id, name, identity_source, created_at) VALUES (:t, 'Old', 'local', :c)"
            ),
            {"t": tid, "c": start.replace(tzinfo=None) if db.is_sqlite else start},
        )
        for seq in range(1, n + 1):
            when = start + timedelta(seconds=seq)
            fields = {
                "seq": seq, "tenant_id": str(tenant_id), "category": "Room", "object_name": f"Room {seq}",
                "object_id": None, "operation": "Create", "result_status": "Successful",
                "creation_time": when.isoformat(), "user_id": "operator", "user_tenant_id": None,
                "details": {"city": "Oslo", "n": seq},
            }  # fmt: skip
            digest = chain.legacy_digest(prev, fields)
            rid = uuid.uuid4()
            conn.execute(
                text(
                    "INSERT INTO audit_records (id, tenant_id, seq, category, object_name, object_id, "
                    "operation, "
                    "result_status, creation_time, user_id, user_tenant_id, details, prev_hash, hash) VALUES "
                    "(:id, :t, :seq, 'Room', :name, NULL, 'Create', 'Successful', :when, 'operator', NULL, "
                    ":details, :prev, :hash)"
                ),
                {
                    "id": rid.hex if db.is_sqlite else rid,
                    "t": tid,
                    "seq": seq,
                    "name": f"Room {seq}",
                    "when": when.replace(tzinfo=None) if db.is_sqlite else when,
                    "details": json.dumps(fields["details"]),
                    "prev": prev,
                    "hash": digest,
                },
            )
            prev = digest
        conn.execute(
            text("INSERT INTO audit_chain_heads (tenant_id, last_seq, last_hash) VALUES (:t, :s, :h)"),
            {"t": tid, "s": n, "h": prev},
        )


def test_a_chain_from_before_the_key_verifies_after_the_migration_and_stays_guarded(old_db: Database) -> None:
    upgrade(old_db, "0007")
    tenant_id = uuid.uuid4()
    _legacy_chain(old_db, tenant_id, 5)
    upgrade(old_db)
    with old_db.session() as session:
        assert verify_chain(session, tenant_id).ok
        record(
            session,
            tenant_id=tenant_id,
            actor=Actor(None, None),
            category=Category.ROOM,
            operation=Operation.UPDATE,
            object_name="Room 1",
        )
        session.commit()
        result = verify_chain(session, tenant_id)
        assert (result.ok, result.records_checked) == (True, 6)
    tid = tenant_id.hex if old_db.is_sqlite else tenant_id
    with old_db.engine.begin() as conn:  # rewrite a legacy record and recompute the unkeyed links
        conn.execute(
            text("UPDATE audit_records SET object_name = 'innocent' WHERE tenant_id = :t AND seq = 2"),
            {"t": tid},
        )
    with old_db.session() as session:
        assert verify_chain(session, tenant_id).first_bad_seq == 2
