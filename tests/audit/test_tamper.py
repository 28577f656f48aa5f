"""Tamper evidence against someone who can write the database but not read the configuration
(SPEC §6, issue "Hardening" M3): every change is made with SQL straight to the tables, and
verification must report it. Checkpoints catch what nothing inside the database can: a
chain and head both put back to a state that was once genuine."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError

from roomwarden.audit import chain
from roomwarden.audit.keys import AuditKeys, active, install
from roomwarden.audit.verify import Checkpoint, make_checkpoint, verify_chain
from roomwarden.kit.db import Database
from tests.factories import TenantH, World, expect, owner_engine

WRONG = AuditKeys("an-attacker-guess-of-the-audit-key-0123456789")


def _sql(db: Database, sql: str, tenant_id: str, **params: Any) -> list[Any]:
    tid = uuid.UUID(tenant_id)
    with owner_engine(db).begin() as conn:
        result = conn.execute(text(sql), {"t": tid.hex if db.is_sqlite else tid, **params})
        return list(result) if result.returns_rows else []


def _verify(world: World, t: TenantH) -> dict[str, Any]:
    return expect(world.client.get(f"/api/v1/tenants/{t.id}/audit-logs/verify", headers=t.admin.headers), 200)


def _history(world: World, rooms: int = 4) -> TenantH:
    t = world.tenant()
    for _ in range(rooms):
        world.room(t)
    result = _verify(world, t)
    assert result == {"ok": True, "records_checked": 2 + rooms, "first_bad_seq": None, "problem": None}
    return t


def _forge(world: World, t: TenantH, seq: int, copy_of: int, prev: str = "hash") -> uuid.UUID:
    """Insert a record numbered ``seq``, a copy of record ``copy_of`` named "forged", whose
    ``prev_hash`` is the copied record's ``hash`` or its own ``prev_hash`` (``prev``)."""
    assert prev in ("hash", "prev_hash")
    forged = uuid.uuid4()
    _sql(
        world.db,
        "INSERT INTO audit_records (id, tenant_id, seq, category, object_name, object_id, operation, "
        "result_status, creation_time, user_id, user_tenant_id, user_upn, user_display_name, "
        "partner_tenant_name, allowed_by, details, key_id, prev_hash, hash) "
        "SELECT :id, tenant_id, :seq, category, 'forged', object_id, operation, result_status, "
        "creation_time, user_id, user_tenant_id, user_upn, user_display_name, partner_tenant_name, "
        f"allowed_by, details, key_id, {prev}, hash FROM audit_records"
        " WHERE tenant_id = :t AND seq = :copy_of",
        t.id,
        id=forged.hex if world.db.is_sqlite else forged,
        seq=seq,
        copy_of=copy_of,
    )
    return forged


def _bad(world: World, t: TenantH) -> dict[str, Any]:
    result = _verify(world, t)
    assert result["ok"] is False and result["problem"], result
    return result


def _head(world: World, t: TenantH) -> tuple[Any, ...]:
    return tuple(
        _sql(
            world.db,
            "SELECT last_seq, last_hash, legacy_seq, base_seq, base_hash, key_id, signature "
            "FROM audit_chain_heads WHERE tenant_id = :t",
            t.id,
        )[0]
    )


def _set_head(world: World, t: TenantH, head: tuple[Any, ...]) -> None:
    names = ("last_seq", "last_hash", "legacy_seq", "base_seq", "base_hash", "key_id", "signature")
    _sql(
        world.db,
        "UPDATE audit_chain_heads SET " + ", ".join(f"{n} = :{n}" for n in names) + " WHERE tenant_id = :t",
        t.id,
        **dict(zip(names, head, strict=True)),
    )


def _renumber(world: World, t: TenantH, sql_where: str, shift: int) -> None:
    """Move ``seq`` by ``shift`` through negative numbers, so the unique (tenant, seq) index
    never meets a clash mid-statement."""
    _sql(world.db, f"UPDATE audit_records SET seq = -seq WHERE tenant_id = :t AND {sql_where}", t.id)
    _sql(world.db, f"UPDATE audit_records SET seq = {shift} - seq WHERE tenant_id = :t AND seq < 0", t.id)


def test_an_edited_field_is_found_whichever_field_it_is(world: World) -> None:
    for column, value in (
        ("object_name", "'innocent'"),
        ("user_upn", "'someone@else.example'"),
        ("user_display_name", "'Someone Else'"),
        ("allowed_by", "'Site Tech'"),
        ("result_status", "'Failed'"),
        ("creation_time", "(SELECT MIN(creation_time) FROM audit_records)"),
        ("details", """'{"city":"nowhere"}'"""),
        ("key_id", "NULL"),
    ):
        t = _history(world)
        _sql(world.db, f"UPDATE audit_records SET {column} = {value} WHERE tenant_id = :t AND seq = 4", t.id)
        result = _bad(world, t)
        assert (result["first_bad_seq"], result["records_checked"]) == (4, 3), column


def test_an_inserted_record_is_found(world: World) -> None:
    t = _history(world)
    _renumber(world, t, "seq >= 4", 1)  # 4.. become 5..
    _forge(world, t, 4, copy_of=3)
    assert _bad(world, t)["first_bad_seq"] == 4


def test_a_record_appended_beyond_the_head_is_found(world: World) -> None:
    """A forged record after the last one, linked to it, with the head left alone: readers
    would show it, so verify must not pass over it as a record written after it began."""
    t = _history(world)
    last = _head(world, t)[0]
    _forge(world, t, last + 1, copy_of=last)
    result = _bad(world, t)
    assert result["first_bad_seq"] == last + 1
    assert "beyond the chain head" in result["problem"]


def test_a_link_with_more_after_the_previous_hash_is_refused_or_found(world: World) -> None:
    """A ``prev_hash`` that starts with the previous record's hash and goes on (a line break
    and more): PostgreSQL's column refuses it (its verify reads the link as the MAC input's
    first line, which is exact only for a hash of at most 64 characters); elsewhere verify
    finds the broken link."""
    t = _history(world)
    longer = "UPDATE audit_records SET prev_hash = prev_hash || :more WHERE tenant_id = :t AND seq = 4"
    if not world.db.is_sqlite:
        with pytest.raises(DataError):
            _sql(world.db, longer, t.id, more="\nv1|4|")
        return
    _sql(world.db, longer, t.id, more="\nv1|4|")
    result = _bad(world, t)
    assert result["first_bad_seq"] == 4 and "link to the previous record is broken" in result["problem"]


def test_a_deleted_record_is_found_also_when_renumbered(world: World) -> None:
    t = _history(world)
    _sql(world.db, "DELETE FROM audit_records WHERE tenant_id = :t AND seq = 3", t.id)
    assert _bad(world, t)["first_bad_seq"] == 3
    _renumber(world, t, "seq > 3", 1)  # close the gap: 4.. become 3..
    assert _bad(world, t)["first_bad_seq"] == 3


def test_reordered_records_are_found(world: World) -> None:
    t = _history(world)
    _sql(world.db, "UPDATE audit_records SET seq = -3 WHERE tenant_id = :t AND seq = 3", t.id)
    _sql(world.db, "UPDATE audit_records SET seq = 3 WHERE tenant_id = :t AND seq = 4", t.id)
    _sql(world.db, "UPDATE audit_records SET seq = 4 WHERE tenant_id = :t AND seq = -3", t.id)
    assert _bad(world, t)["first_bad_seq"] == 3


def test_a_truncated_tail_is_found_with_or_without_a_rewound_head(world: World) -> None:
    t = _history(world)
    last = _head(world, t)[0]
    _sql(world.db, "DELETE FROM audit_records WHERE tenant_id = :t AND seq = :s", t.id, s=last)
    assert _bad(world, t)["first_bad_seq"] == last
    # Rewind the head to the record before, as an attacker without the key can.
    prev_hash = _sql(
        world.db, "SELECT hash FROM audit_records WHERE tenant_id = :t AND seq = :s", t.id, s=last - 1
    )
    _sql(
        world.db,
        "UPDATE audit_chain_heads SET last_seq = :s, last_hash = :h WHERE tenant_id = :t",
        t.id,
        s=last - 1,
        h=prev_hash[0][0],
    )
    assert "head" in _bad(world, t)["problem"]


def test_a_rewound_head_is_not_laundered_by_the_next_write(world: World) -> None:
    t = _history(world)
    last = _head(world, t)[0]
    prev_hash = _sql(
        world.db, "SELECT hash FROM audit_records WHERE tenant_id = :t AND seq = :s", t.id, s=last - 1
    )
    _sql(world.db, "DELETE FROM audit_records WHERE tenant_id = :t AND seq = :s", t.id, s=last)
    _sql(
        world.db,
        "UPDATE audit_chain_heads SET last_seq = :s, last_hash = :h WHERE tenant_id = :t",
        t.id,
        s=last - 1,
        h=prev_hash[0][0],
    )
    world.room(t)  # a genuine write after the tampering
    result = _bad(world, t)
    assert result["first_bad_seq"] == last and "chain head" in result["problem"]
    alarm = _sql(
        world.db,
        "SELECT category, object_name, result_status FROM audit_records WHERE tenant_id = :t AND seq = :s",
        t.id,
        s=last,
    )
    assert tuple(alarm[0]) == ("AuditLog", "chain head", "Failed")


def test_a_deleted_head_is_found_and_the_next_write_keeps_the_evidence(world: World) -> None:
    t = _history(world)
    _sql(world.db, "DELETE FROM audit_chain_heads WHERE tenant_id = :t", t.id)
    assert "missing" in _bad(world, t)["problem"]
    world.room(t)  # writes still work, and say what they found
    result = _bad(world, t)
    assert "missing" in result["problem"] and result["first_bad_seq"] == 7


def test_a_full_recomputation_without_the_key_is_found(world: World) -> None:
    """The attacker edits a record and recomputes every MAC and the head's signature with a
    key of its own, or drops to the unkeyed digest of old records; neither verifies."""
    for mode in ("wrong key", "unkeyed"):
        t = _history(world)
        _sql(
            world.db,
            "UPDATE audit_records SET object_name = 'innocent' WHERE tenant_id = :t AND seq = 3",
            t.id,
        )
        _recompute(world, t, mode)
        result = _bad(world, t)
        assert result["first_bad_seq"] in (1, None), (mode, result)


def _recompute(world: World, t: TenantH, mode: str) -> None:
    with world.session() as session:
        from sqlalchemy import select

        from roomwarden.audit.models import AuditRecord

        recs = session.scalars(
            select(AuditRecord).where(AuditRecord.tenant_id == uuid.UUID(t.id)).order_by(AuditRecord.seq)
        ).all()
        prev = chain.GENESIS
        for rec in recs:
            rec.prev_hash = prev
            if mode == "unkeyed":
                rec.key_id = None
                fields = {
                    "seq": rec.seq, "tenant_id": t.id, "category": rec.category,
                    "object_name": rec.object_name, "object_id": rec.object_id, "operation": rec.operation,
                    "result_status": rec.result_status, "creation_time": rec.creation_time.isoformat(),
                    "user_id": rec.user_id, "user_tenant_id": rec.user_tenant_id, "details": rec.details,
                }  # fmt: skip
                rec.hash = chain.legacy_digest(prev, fields)
            else:
                from roomwarden.audit.service import keyed_values

                rec.key_id = WRONG.current_id
                rec.hash = chain.record_mac(WRONG, WRONG.current_id, prev, rec.seq, keyed_values(rec))
            prev = rec.hash
        session.commit()
    last_seq = len(recs)
    legacy = last_seq if mode == "unkeyed" else 0
    message = chain.head_message(t.id, last_seq, prev, legacy, 0, chain.GENESIS)
    signature = WRONG.mac(WRONG.current_id, message)
    _set_head(world, t, (last_seq, prev, legacy, 0, chain.GENESIS, WRONG.current_id, signature))


def test_the_legacy_digest_is_accepted_only_below_the_signed_epoch(world: World) -> None:
    """Records of revision 0003 keep their SHA-256 links up to the head's signed
    ``legacy_seq``; the same digest on a later record is refused."""
    t = _history(world, rooms=2)
    _recompute(world, t, "unkeyed")
    keys = active()
    head = list(_head(world, t))
    head[5] = keys.current_id
    head[6] = keys.mac(keys.current_id, chain.head_message(t.id, head[0], head[1], head[2], 0, chain.GENESIS))
    _set_head(world, t, tuple(head))
    assert _verify(world, t)["ok"] is True  # a sealed legacy chain
    world.room(t)  # keyed from here on
    assert _verify(world, t)["ok"] is True
    _sql(world.db, "UPDATE audit_records SET object_name = 'innocent' WHERE tenant_id = :t AND seq = 2", t.id)
    assert _bad(world, t)["first_bad_seq"] == 2
    # Lower the epoch: the legacy records are then refused.
    t2 = _history(world, rooms=2)
    _recompute(world, t2, "unkeyed")
    head = list(_head(world, t2))
    head[2] = head[0] - 1
    head[5] = keys.current_id
    head[6] = keys.mac(
        keys.current_id, chain.head_message(t2.id, head[0], head[1], head[2], 0, chain.GENESIS)
    )
    _set_head(world, t2, tuple(head))
    assert _bad(world, t2)["first_bad_seq"] == head[0]


def test_a_checkpoint_catches_a_chain_put_back_to_an_earlier_genuine_state(world: World) -> None:
    t = _history(world)
    snapshot = _head(world, t)  # the attacker keeps a copy of a genuine head
    world.room(t)
    world.room(t)
    tid = uuid.UUID(t.id)
    with world.session() as session:
        checkpoint = make_checkpoint(session, tid)
    assert checkpoint.seq == snapshot[0] + 2
    _sql(world.db, "DELETE FROM audit_records WHERE tenant_id = :t AND seq > :s", t.id, s=snapshot[0])
    _set_head(world, t, snapshot)
    # Nothing inside the database can tell: the chain and head were genuine once.
    assert _verify(world, t)["ok"] is True
    with world.session() as session:
        result = verify_chain(session, tid, checkpoint=checkpoint)
    assert result.ok is False and "checkpoint" in (result.problem or "")
    assert result.first_bad_seq == snapshot[0] + 1


def test_a_checkpoint_catches_a_rewritten_record_and_is_itself_unforgeable(world: World) -> None:
    t = _history(world)
    tid = uuid.UUID(t.id)
    with world.session() as session:
        checkpoint = make_checkpoint(session, tid)
        assert verify_chain(session, tid, checkpoint=checkpoint).ok
    data = checkpoint.to_json()
    assert json.loads(json.dumps(data)) == data and Checkpoint.from_json(data) == checkpoint
    forged = Checkpoint.from_json(data | {"seq": checkpoint.seq - 1})
    other = Checkpoint.from_json(data | {"tenant_id": str(uuid.uuid4())})
    with world.session() as session:
        assert "signature" in (verify_chain(session, tid, checkpoint=forged).problem or "")
        assert "another tenant" in (verify_chain(session, tid, checkpoint=other).problem or "")
        assert "not configured" in (
            verify_chain(session, tid, checkpoint=checkpoint, keys=WRONG).problem or ""
        )


def test_a_checkpoint_is_refused_for_a_chain_that_does_not_verify(world: World) -> None:
    from roomwarden.kit.errors import Invalid

    t = _history(world)
    _sql(world.db, "DELETE FROM audit_records WHERE tenant_id = :t AND seq = 2", t.id)
    with world.session() as session, pytest.raises(Invalid, match="does not verify"):
        make_checkpoint(session, uuid.UUID(t.id))


def test_a_rotated_key_keeps_verifying_what_it_signed(world: World) -> None:
    """Rotation: the new key signs from now on; the old one, listed as previous, verifies the
    records and head it signed. Without it, verification says which key is missing."""
    original = active()
    t = _history(world, rooms=1)
    rotated = AuditKeys("the-next-audit-key-0123456789abcdefghijkl", (original.current,))
    install(rotated)
    try:
        world.room(t)  # signed with the new key, the head re-signed with it
        assert _verify(world, t)["ok"] is True
        kids = [
            r[0]
            for r in _sql(
                world.db, "SELECT key_id FROM audit_records WHERE tenant_id = :t ORDER BY seq", t.id
            )
        ]
        assert kids == [original.current_id] * 3 + [rotated.current_id]
        install(AuditKeys(rotated.current))  # the old key dropped from the configuration
        result = _bad(world, t)
        assert result["first_bad_seq"] == 1 and original.current_id in result["problem"]
    finally:
        install(original)
    assert _verify(world, t)["ok"] is False  # the head is now signed with the rotated key
    install(AuditKeys(original.current, (rotated.current,)))
    try:
        assert _verify(world, t)["ok"] is True
    finally:
        install(original)


def test_key_ids_name_keys_without_revealing_them() -> None:
    keys = AuditKeys("k" * 40, ("old" * 12,))
    assert keys.current_id != AuditKeys("old" * 12).current_id
    assert len(keys.current_id) == 16 and "k" * 8 not in repr(keys)
    assert keys.secret(AuditKeys("old" * 12).current_id) == ("old" * 12).encode()
    assert keys.secret("0" * 16) is None and keys.secret(None) is None
    assert hashlib.sha256(b"x").hexdigest() != keys.mac(keys.current_id, b"x")


@pytest.mark.parametrize("seq", [0, -1, -1000])
def test_a_record_numbered_before_the_chain_is_found_and_every_reader_shows_the_same(
    world: World, seq: int
) -> None:
    """A row forged with raw SQL outside the chain's numbers is one that the API, the portal
    and the export show: verification covers it, and both databases export it alike."""
    t = _history(world)
    _forge(world, t, seq, copy_of=3, prev="prev_hash")
    result = _bad(world, t)
    assert result["first_bad_seq"] == seq and "before the start of the chain" in result["problem"], result
    base = f"/api/v1/tenants/{t.id}/audit-logs"
    for order in ("desc", "asc"):  # every page, through the cursor past the forged number
        names, cursor = [], None
        while True:
            query = f"?order={order}&limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = expect(world.client.get(base + query, headers=t.admin.headers), 200)
            names += [r["object_name"] for r in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert names.count("forged") == 1, (order, names)
    export = world.client.get(f"{base}/export", headers=t.admin.headers)
    assert export.status_code == 200
    assert sum(",forged," in line for line in export.text.splitlines()) == 1, export.text
