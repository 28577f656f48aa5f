"""Records people can read (SPEC §6 as extended): the actor's UPN and display name, the
partner tenant's name and the role that allowed the action, in JSON and in the CSV; filters;
dates or date-times, every one bounded (issue "Hardening" L3); the export recorded and
streamed the same way on every database."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from roomwarden.audit import queries
from roomwarden.audit.service import Actor, Category, Operation, record
from tests.factories import TenantH, World, expect
from tests.partners.helpers import in_customer, link


def _log(world: World, t: TenantH, **params: str) -> list[dict[str, Any]]:
    url = f"/api/v1/tenants/{t.id}/audit-logs"
    return expect(world.client.get(url, params={"limit": "200", **params}, headers=t.admin.headers), 200)[
        "items"
    ]


def _export(world: World, t: TenantH, **params: str) -> list[dict[str, str]]:
    url = f"/api/v1/tenants/{t.id}/audit-logs/export"
    response = world.client.get(url, params=params, headers=t.admin.headers)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def test_records_name_the_actor_the_partner_and_the_role(world: World) -> None:
    c, p = world.tenant(), world.tenant(name=f"=Partner {world.tag}")
    room = world.room(c)
    lead = world.user(c, name="lead")
    world.assign(c, c.roles["Site Lead"], users=[lead])
    expect(in_customer(world, c, lead, "PATCH", f"/rooms/{room['id']}", {"city": "Oslo"}), 200)
    link(world, c, p)
    expect(in_customer(world, c, p.admin, "PATCH", f"/rooms/{room['id']}", {"city": "Bergen"}), 200)
    updates = [r for r in _log(world, c, category="Room") if r["operation"] == "Update"]
    by_partner, by_lead = updates  # newest first
    assert (by_lead["user_upn"], by_lead["user_display_name"]) == (lead.upn, "lead")
    assert (by_lead["allowed_by"], by_lead["partner_tenant_name"]) == ("Site Lead", None)
    assert by_partner["user_upn"] == p.admin.upn and by_partner["user_display_name"] == "Admin"
    assert by_partner["partner_tenant_name"] == p.name and by_partner["allowed_by"] == "Primary admins"
    created = _log(world, c, category="Room", order="asc")[0]
    assert created["allowed_by"] == "Global admin" and created["user_upn"] == c.admin.upn
    rows = [r for r in _export(world, c) if r["activity.category"] == "Room"]
    assert [r["activity.allowedBy"] for r in rows] == ["Global admin", "Site Lead", "Primary admins"]
    assert rows[2]["user.userPrincipalName"] == p.admin.upn and rows[2]["user.displayName"] == "Admin"
    assert rows[2]["user.partnerTenantName"] == "'" + p.name  # a formula is neutralised in every text column


def test_filters_by_category_result_user_and_partner(world: World) -> None:
    c, p, q = world.tenant(), world.tenant(), world.tenant()
    room = world.room(c)
    link(world, c, p)
    link(world, c, q)
    expect(in_customer(world, c, p.admin, "PATCH", f"/rooms/{room['id']}", {"city": "Oslo"}), 200)
    assert in_customer(world, c, q.admin, "POST", f"/rooms/{room['id']}/reset-key").status_code == 403
    by_p = _log(world, c, partner_tenant_id=p.id)
    assert by_p and {r["user_tenant_id"] for r in by_p} == {p.id}
    assert _log(world, c, partner_tenant_id=c.id) == []  # the tenant's own users are no partner
    failed = _log(world, c, result_status="Failed")
    assert [(r["category"], r["user_id"]) for r in failed] == [("EnrollmentKey", q.admin.id)]
    assert {r["user_id"] for r in _log(world, c, user_id=c.admin.id)} == {c.admin.id}
    assert {r["user_upn"] for r in _log(world, c, user_upn=p.admin.upn.upper())} == {p.admin.upn}
    combined = _log(world, c, category="Room", result_status="Successful", partner_tenant_id=p.id)
    assert [(r["category"], r["operation"]) for r in combined] == [("Room", "Update")]


def test_dates_or_date_times_select_whole_days(world: World) -> None:
    t = world.tenant()
    world.room(t)
    first = datetime.fromisoformat(_log(world, t, order="asc")[0]["creation_time"]).date()
    day_before, day_after = (first - timedelta(days=1)).isoformat(), (first + timedelta(days=1)).isoformat()
    assert len(_log(world, t, start=first.isoformat(), end=day_after)) == 3
    assert _log(world, t, end=day_before) == []  # a date as the end means its whole day, no more
    assert len(_export(world, t, start=first.isoformat(), end=day_after)) == 4  # with the export's own record
    local = datetime.now(UTC).astimezone(timezone(timedelta(hours=-9, minutes=-30))).isoformat()
    assert len(_log(world, t, start=day_before, end=local)) == 4


@pytest.mark.parametrize("path", ["", "/export"])
@pytest.mark.parametrize(
    "params",
    [
        {"end": "9999-12-31T23:59:59-14:00"},  # past year 9999 once in UTC
        {"end": "0001-01-01T00:00:00+14:00"},  # before year 1 once in UTC
        {"start": "1999-12-31T23:59:59Z"},
        {"end": "1970-01-01"},
        {"start": "2026-02-30"},
        {"start": "tomorrow"},
        {"start": "1700000000"},
        {"end": "2026-01-01T00:00:00"},  # no time zone
        {"start": "2026-13-01T00:00:00Z"},
    ],
)
def test_every_date_parameter_is_bounded_and_answers_422(
    world: World, path: str, params: dict[str, str]
) -> None:
    t = world.tenant()
    response = world.client.get(
        f"/api/v1/tenants/{t.id}/audit-logs{path}", params=params, headers=t.admin.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]


def test_the_far_future_is_accepted_as_an_end(world: World) -> None:
    t = world.tenant()
    assert len(_log(world, t, end="9999-12-31T23:59:59Z")) == 2
    assert len(_export(world, t, end="9999-12-31")) == 3  # with its own record


def test_exporting_is_itself_recorded(world: World) -> None:
    t = world.tenant()
    _export(world, t, start=datetime.now(UTC).date().isoformat())
    newest = _log(world, t)[0]
    assert (newest["category"], newest["operation"], newest["result_status"]) == (
        "AuditLog",
        "Read",
        "Successful",
    )
    assert newest["user_id"] == t.admin.id and newest["details"]["via"] == "api"
    assert newest["details"]["start"].startswith(datetime.now(UTC).date().isoformat())


def test_a_refused_export_is_recorded_as_failed(world: World) -> None:
    t = world.tenant()
    tech = world.user(t)
    world.assign(t, t.roles["Site Tech"], users=[tech])
    url = f"/api/v1/tenants/{t.id}/audit-logs/export"
    assert world.client.get(url, headers=tech.headers).status_code == 403
    newest = _log(world, t)[0]
    assert (newest["category"], newest["result_status"], newest["user_id"]) == ("AuditLog", "Failed", tech.id)


NASTY = [
    "=SUM(A1)",
    "+1",
    "-1",
    "@cmd",
    "\tTab",
    "\rReturn",
    "plain",
    'quote "inside"',
    "comma, inside",
    "line\nbreak",
    "carriage\rreturn",
    "\\.",
    " leading space",
    "unicode ✓ Zürich",
    "",
]


def test_csv_lines_quote_and_escape_like_postgresql_copy() -> None:
    """The Python writer is a copy of PostgreSQL's CSV rules; this pins them."""
    assert queries.csv_line(["a", None, "", "b,c", 'd"e', "f\rg", "\\."]) == 'a,,,"b,c","d""e","f\rg",\\.\n'
    assert queries.safe("=1") == "'=1" and queries.safe("\r1") == "'\r1" and queries.safe("a=1") == "a=1"
    assert queries.safe(None) is None and queries.safe("") == ""


def test_both_export_paths_write_the_same_bytes(world: World) -> None:
    """On PostgreSQL the export is ``COPY ... TO STDOUT``; it must equal the column-batch
    writer byte for byte, quoting and formula escaping included (on SQLite both are the
    column writer, and the comparison still pins the batch boundaries). The values are
    written straight through the service: the API refuses control characters in names."""
    t = world.tenant()
    tid = uuid.UUID(t.id)
    with world.transaction() as session:
        for i, name in enumerate(NASTY):
            actor = Actor(uuid.uuid4(), uuid.uuid4(), upn=NASTY[-i], display_name=name or None)
            record(
                session,
                tenant_id=tid,
                actor=actor,
                category=Category.ROOM,
                operation=Operation.UPDATE,
                object_name=name,
                allowed_by=NASTY[i - 3],
            )
    lo, hi = queries.parse_range(None, None)
    fast = b"".join(
        c if isinstance(c, bytes) else c.encode() for c in queries.export_csv(world.db, tid, lo, hi)
    )
    rows = "".join(queries.export_rows(world.db, tid, lo, hi, batch=3)).encode()
    assert fast == rows
    for filters in (
        queries.Filters(category=Category.ROOM, user_upn="PLAIN"),
        queries.Filters(result_status="Successful", user_id="not-a-user"),
    ):
        narrowed = b"".join(
            c if isinstance(c, bytes) else c.encode()
            for c in queries.export_csv(world.db, tid, lo, hi, filters=filters)
        )
        assert narrowed == "".join(queries.export_rows(world.db, tid, lo, hi, 3, filters)).encode()
        assert len(list(csv.reader(io.StringIO(narrowed.decode())))) == (2 if filters.category else 1)
    parsed = list(csv.DictReader(io.StringIO(rows.decode())))[2:]
    assert [r["activity.objectName"] for r in parsed] == [queries.safe(n) or "" for n in NASTY]
    assert [r["user.displayName"] for r in parsed] == [queries.safe(n) or "" for n in NASTY]
    assert [r["activity.allowedBy"] for r in parsed] == [
        queries.safe(NASTY[i - 3]) or "" for i in range(len(NASTY))
    ]
