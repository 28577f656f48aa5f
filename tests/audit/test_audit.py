"""The audit log: a record per change in the same transaction, a record per refusal, the
export, the retention window, and the hash chain's tamper evidence."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from roomwarden.kit.db import Database
from tests.factories import World, expect, owner_engine

HEADER = (
    "activity.category,activity.objectName,activity.operation,activity.resultStatus,"
    "activity.tenantId,creationTime,user.userId,user.userTenantId,"
    "user.userPrincipalName,user.displayName,user.partnerTenantName,activity.allowedBy"
)


def records(world: World, tenant, **params: str) -> list[dict]:  # type: ignore[no-untyped-def]
    items, cursor = [], None
    while True:
        query = {"limit": "200", "order": "asc", **params, **({"cursor": cursor} if cursor else {})}
        page = expect(
            world.client.get(
                f"/api/v1/tenants/{tenant.id}/audit-logs", params=query, headers=tenant.admin.headers
            ),
            200,
        )
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


def test_each_change_writes_one_record_with_the_spec_fields(world: World) -> None:
    t = world.tenant()
    before = len(records(world, t))
    room = world.room(t)
    recs = records(world, t)
    assert len(recs) == before + 1
    rec = recs[-1]
    assert (rec["category"], rec["operation"], rec["result_status"]) == ("Room", "Create", "Successful")
    assert rec["object_name"] == room["name"] and rec["object_id"] == room["id"]
    assert rec["tenant_id"] == t.id and rec["user_id"] == t.admin.id and rec["user_tenant_id"] == t.id
    assert datetime.fromisoformat(rec["creation_time"]).tzinfo is not None
    tenant_create = records(world, t)[0]
    assert (tenant_create["category"], tenant_create["user_id"]) == ("Tenant", "operator")


def test_a_failed_change_leaves_no_successful_record_and_a_refusal_leaves_a_failed_one(world: World) -> None:
    t = world.tenant()
    tech = world.user(t)
    room = world.room(t)
    world.assign(t, t.roles["Site Tech"], users=[tech], scope={"rooms": [room["id"]]})
    before = records(world, t)
    dup = world.post(
        t, "/rooms", {"name": "Dup", "resource_account": room["resource_account"], "country": "US"}
    )
    assert dup.status_code == 409
    refused = world.client.post(f"/api/v1/tenants/{t.id}/rooms/{room['id']}/reset-key", headers=tech.headers)
    assert refused.status_code == 403
    new = records(world, t)[len(before) :]
    assert [(r["category"], r["operation"], r["result_status"]) for r in new] == [
        ("Room", "Create", "Failed"),
        ("EnrollmentKey", "Update", "Failed"),
    ]
    assert new[1]["user_id"] == tech.id and new[1]["object_id"] == room["id"]
    assert new[1]["details"]["status"] == 403


def test_only_audit_export_reads_the_log_and_ranges_are_checked(world: World) -> None:
    t = world.tenant()
    lead = world.user(t)
    world.assign(t, t.roles["Site Lead"], users=[lead])
    assert world.client.get(f"/api/v1/tenants/{t.id}/audit-logs", headers=lead.headers).status_code == 403
    old = (datetime.now(UTC) - timedelta(days=181)).isoformat()
    too_old = world.client.get(
        f"/api/v1/tenants/{t.id}/audit-logs", params={"start": old}, headers=t.admin.headers
    )
    assert too_old.status_code == 422
    backwards = world.client.get(
        f"/api/v1/tenants/{t.id}/audit-logs",
        params={
            "start": datetime.now(UTC).isoformat(),
            "end": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        },
        headers=t.admin.headers,
    )
    assert backwards.status_code == 422
    future = datetime.now(UTC) + timedelta(days=1)
    assert records(world, t, start=future.isoformat(), end=(future + timedelta(days=1)).isoformat()) == []


def test_csv_export_streams_every_record_of_the_range(world: World) -> None:
    t = world.tenant()
    for _ in range(3):
        world.room(t)
    response = world.client.get(f"/api/v1/tenants/{t.id}/audit-logs/export", headers=t.admin.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0] == HEADER
    rows = list(csv.reader(io.StringIO(response.text)))[1:]
    recs = records(world, t)
    assert len(rows) == len(recs) - 1  # the export's own record comes after the range's end
    assert (recs[-1]["category"], recs[-1]["operation"], recs[-1]["object_name"]) == (
        "AuditLog",
        "Read",
        "audit log export",
    )
    assert all(r[4] == t.id for r in rows) and [r[0] for r in rows[-3:]] == ["Room"] * 3


def _tamper(db: Database, sql: str, tenant_id: str, **params: object) -> None:
    tid = uuid.UUID(tenant_id)
    with owner_engine(db).begin() as conn:
        conn.execute(text(sql), {"t": tid.hex if db.is_sqlite else tid, **params})


def _verify(world: World, t) -> dict:  # type: ignore[no-untyped-def]
    return expect(world.client.get(f"/api/v1/tenants/{t.id}/audit-logs/verify", headers=t.admin.headers), 200)


def _tenant_with_history(world: World):  # type: ignore[no-untyped-def]
    t = world.tenant()
    for _ in range(4):
        world.room(t)
    result = _verify(world, t)
    assert result["ok"] and result["records_checked"] >= 6
    return t


def test_verify_detects_an_altered_record(world: World) -> None:
    t = _tenant_with_history(world)
    _tamper(
        world.db, "UPDATE audit_records SET object_name = 'innocent' WHERE tenant_id = :t AND seq = 3", t.id
    )
    assert _verify(world, t) | {"problem": None} == {
        "ok": False,
        "records_checked": 2,
        "first_bad_seq": 3,
        "problem": None,
    }


def test_verify_detects_a_removed_record(world: World) -> None:
    t = _tenant_with_history(world)
    _tamper(world.db, "DELETE FROM audit_records WHERE tenant_id = :t AND seq = 4", t.id)
    result = _verify(world, t)
    assert not result["ok"] and result["first_bad_seq"] == 4


def test_verify_detects_an_inserted_record(world: World) -> None:
    t = _tenant_with_history(world)
    _tamper(world.db, "UPDATE audit_records SET seq = -seq WHERE tenant_id = :t AND seq >= 5", t.id)
    _tamper(world.db, "UPDATE audit_records SET seq = 1 - seq WHERE tenant_id = :t AND seq < 0", t.id)
    new_id = uuid.uuid4()
    _tamper(
        world.db,
        "INSERT INTO audit_records (id, tenant_id, seq, category, object_name, object_id, operation, "
        "result_status, creation_time, user_id, user_tenant_id, details, prev_hash, hash) "
        "SELECT :id, tenant_id, 5, category, 'forged', object_id, operation, result_status, creation_time, "
        "user_id, user_tenant_id, details, hash, hash FROM audit_records WHERE tenant_id = :t AND seq = 4",
        t.id,
        id=new_id.hex if world.db.is_sqlite else new_id,
    )
    result = _verify(world, t)
    assert not result["ok"] and result["first_bad_seq"] == 5


def test_verify_detects_a_truncated_tail(world: World) -> None:
    t = _tenant_with_history(world)
    last = len(records(world, t))
    _tamper(world.db, "DELETE FROM audit_records WHERE tenant_id = :t AND seq = :s", t.id, s=last)
    result = _verify(world, t)
    assert not result["ok"] and result["first_bad_seq"] == last


def test_who_may_read_export_and_verify_the_log(world: World) -> None:
    t, other = world.tenant(), world.tenant()
    room = world.room(t)
    auditor, scoped, msa, tech = world.user(t), world.user(t), world.user(t), world.user(t)
    world.assign(t, world.role(t, ["audit.export"]), users=[auditor])
    world.assign(
        t, world.role(t, ["audit.export", "rooms.view"]), users=[scoped], scope={"rooms": [room["id"]]}
    )
    world.assign(t, t.roles["Managed Service Administrator"], users=[msa])
    world.assign(t, t.roles["Site Tech"], users=[tech])
    base = f"/api/v1/tenants/{t.id}/audit-logs"
    for path in ("", "/export", "/verify"):
        for who, status in (
            (auditor, 200),
            (msa, 200),
            (t.admin, 200),
            (scoped, 403),
            (tech, 403),
            (other.admin, 404),
        ):
            assert world.client.get(f"{base}{path}", headers=who.headers).status_code == status, (path, who)


def test_the_log_pages_newest_first_without_duplicates_and_filters(world: World) -> None:
    t = world.tenant()
    for _ in range(5):
        world.room(t)
    world.post(t, "/room-groups", {"name": "G", "room_ids": [str(uuid.uuid4())]})  # refused
    for order, expected in (({}, list(range(8, 0, -1))), ({"order": "asc"}, list(range(1, 9)))):
        seqs, cursor = [], None
        while True:
            page = expect(
                world.client.get(
                    f"/api/v1/tenants/{t.id}/audit-logs",
                    params={"limit": 2, **order, **({"cursor": cursor} if cursor else {})},
                    headers=t.admin.headers,
                ),
                200,
            )
            assert len(page["items"]) <= 2
            seqs += [r["seq"] for r in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert seqs == expected, order
    failed = records(world, t, result_status="Failed")
    assert [(r["category"], r["operation"]) for r in failed] == [("RoomGroup", "Create")]
    assert [r["seq"] for r in records(world, t, category="Room")] == [3, 4, 5, 6, 7]
    bad_queries = (
        {"result_status": "Maybe"},
        {"category": "Rooms"},
        {"order": "newest"},
        {"partner_tenant_id": "nope"},
        {"limit": "0"},
        {"cursor": "???"},
        {"cursor": "c2VxOjEuNQ"},  # seq:1.5 (seq:-1 is valid: a forged record below 0 is shown)
        {"cursor": "c2VxOi0tMQ"},  # seq:--1
        {"start": "yesterday"},
    )
    for bad in bad_queries:
        response = world.client.get(f"/api/v1/tenants/{t.id}/audit-logs", params=bad, headers=t.admin.headers)
        assert response.status_code == 422, bad


@pytest.mark.parametrize("path", ["", "/export"])
@pytest.mark.parametrize(
    "params",
    [
        {"start_days_ago": 181},
        {"start_days_ago": 400, "end_days_ago": 200},
        {"start_days_ago": 1, "end_days_ago": 2},
        {"naive": True},
    ],
)
def test_date_ranges_are_checked(world: World, path: str, params: dict) -> None:  # type: ignore[type-arg]
    t = world.tenant()
    now = datetime.now(UTC)
    if params.get("naive"):
        query = {"start": (now - timedelta(days=1)).replace(tzinfo=None).isoformat()}
    else:
        query = {"start": (now - timedelta(days=params["start_days_ago"])).isoformat()}
        if "end_days_ago" in params:
            query["end"] = (now - timedelta(days=params["end_days_ago"])).isoformat()
    response = world.client.get(
        f"/api/v1/tenants/{t.id}/audit-logs{path}", params=query, headers=t.admin.headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_a_range_of_179_days_is_accepted(world: World) -> None:
    t = world.tenant()
    start = (datetime.now(UTC) - timedelta(days=179)).isoformat()
    assert len(records(world, t, start=start)) == 2
    export = world.client.get(
        f"/api/v1/tenants/{t.id}/audit-logs/export", params={"start": start}, headers=t.admin.headers
    )
    assert export.status_code == 200 and len(export.text.splitlines()) == 3


def test_csv_rows_are_the_records_of_the_range(world: World) -> None:
    t = world.tenant()
    world.room(t)
    middle = world.room(t, name='=HYPERLINK("http://evil")')
    world.room(t)
    recs = records(world, t)
    start = recs[3]["creation_time"]
    end = recs[4]["creation_time"]
    response = world.client.get(
        f"/api/v1/tenants/{t.id}/audit-logs/export",
        params={"start": start, "end": end},
        headers=t.admin.headers,
    )
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    assert response.text.splitlines()[0] == HEADER
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = [r for r in recs if start <= r["creation_time"] <= end]
    assert len(rows) == len(expected) == 2
    for row, rec in zip(rows, expected, strict=True):
        assert row["activity.category"] == rec["category"]
        assert row["activity.operation"] == rec["operation"]
        assert row["activity.resultStatus"] == rec["result_status"]
        assert row["activity.tenantId"] == t.id
        assert row["user.userId"] == rec["user_id"] and row["user.userTenantId"] == rec["user_tenant_id"]
        assert datetime.fromisoformat(row["creationTime"].replace("Z", "+00:00")) == datetime.fromisoformat(
            rec["creation_time"]
        )
        assert row["creationTime"].endswith("Z")
    assert rows[0]["activity.objectName"] == "'" + middle["name"]  # no spreadsheet formula


def test_verify_detects_an_altered_detail_and_a_rewritten_hash(world: World) -> None:
    t = _tenant_with_history(world)
    _tamper(
        world.db,
        'UPDATE audit_records SET details = \'{"city": "nowhere"}\' WHERE tenant_id = :t AND seq = 5',
        t.id,
    )
    assert _verify(world, t)["first_bad_seq"] == 5
    t2 = _tenant_with_history(world)
    _tamper(world.db, "UPDATE audit_records SET hash = prev_hash WHERE tenant_id = :t AND seq = 2", t2.id)
    result = _verify(world, t2)
    assert not result["ok"] and result["first_bad_seq"] == 2 and result["problem"]


def test_verify_detects_a_removed_record_renumbered_to_hide_the_gap(world: World) -> None:
    t = _tenant_with_history(world)
    _tamper(world.db, "DELETE FROM audit_records WHERE tenant_id = :t AND seq = 3", t.id)
    # Through negative numbers, so no statement meets the unique (tenant_id, seq) mid-way.
    _tamper(world.db, "UPDATE audit_records SET seq = 1 - seq WHERE tenant_id = :t AND seq > 3", t.id)
    _tamper(world.db, "UPDATE audit_records SET seq = -seq WHERE tenant_id = :t AND seq < 0", t.id)
    result = _verify(world, t)
    assert not result["ok"] and result["first_bad_seq"] == 3


def test_verify_counts_a_clean_chain(world: World) -> None:
    t = world.tenant()
    world.room(t)
    world.post(t, "/room-groups", {"name": "G", "room_ids": [str(uuid.uuid4())]})  # a Failed record too
    assert _verify(world, t) == {"ok": True, "records_checked": 4, "first_bad_seq": None, "problem": None}
