"""The customer's Audit log page (SPEC §6, §9): records newest first with the API's filters,
From/To errors next to their fields, Export CSV through the API's export (and recorded like
it), Verify in words. Access per principal is the page matrix's
(tests/portal/test_page_matrix.py)."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
from sqlalchemy import update

from roomwarden.audit.models import AuditRecord
from roomwarden.portal import audit_log
from tests.factories import expect
from tests.partners.helpers import link
from tests.portal.helpers import error_of, signed_in, value_of


def api(world, t, path):  # type: ignore[no-untyped-def]
    return expect(world.client.get(f"/api/v1/tenants/{t.id}{path}", headers=t.admin.headers), 200)


# -- audit log -------------------------------------------------------------------------------------


@pytest.fixture
def logged(world, app):  # type: ignore[no-untyped-def]
    """A customer with records by its admin and by a partner user."""
    c, p = world.tenant(), world.tenant()
    room = world.room(c, "DE")
    lk = link(world, c, p, scope={"rooms": [room["id"]]})
    expect(
        world.client.patch(
            f"/api/v1/tenants/{c.id}/rooms/{room['id']}",
            json={"name": "Partner named"},
            headers=p.admin.headers,
        ),
        200,
    )
    return c, p, room, lk, signed_in(world, app, c.admin)


def test_audit_log_lists_records_newest_first_with_readable_names(world, logged):
    c, p, _room, _, b = logged
    page = b.get(f"/t/{c.id}/audit-log")
    assert page.status_code == 200
    for label in ("From", "To", "Category", "Result", "User", "Partner tenant"):
        assert re.search(rf'<label for="f-[a-z_]+">{label}</label>', page.text), label
    assert page.text.count(">Export CSV</button>") == 1 and page.text.count(">Verify</button>") == 1
    rows = re.findall(r"<tr>\s*<td><time datetime=\"([^\"]+)\"", page.text)
    assert rows == sorted(rows, reverse=True) and len(rows) >= 3
    first = page.text.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    # the newest: the partner's room change, with the partner's name and the role it used
    assert ">Room<" in first and ">Update<" in first and p.name in first and p.admin.upn in first
    assert "Primary admins" in first
    # filters: a category, and the partner tenant
    only = b.get(f"/t/{c.id}/audit-log?category=PartnerInvitation")
    assert ">Room<" not in only.text.split("<tbody>", 1)[1]
    assert ">PartnerInvitation<" in only.text
    by_partner = b.get(f"/t/{c.id}/audit-log?partner={p.id}")
    body = by_partner.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr>") >= 1 and c.admin.upn not in body
    by_user = b.get(f"/t/{c.id}/audit-log?user={c.admin.upn}")
    body = by_user.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert p.admin.upn not in body and c.admin.upn in body


def test_audit_log_pages_through_older_records(world, logged, monkeypatch):
    c, _, _, _, b = logged
    monkeypatch.setattr(audit_log, "PAGE_SIZE", 2)
    all_seqs = [r["seq"] for r in api(world, c, "/audit-logs?limit=200")["items"]]
    seen: list[str] = []
    page = b.get(f"/t/{c.id}/audit-log?category=")
    while True:
        seen += re.findall(r"<tr>\s*<td><time", page.text)
        m = re.search(r'<a href="([^"]+)" rel="next">Older records</a>', page.text)
        if not m:
            break
        page = b.get(m.group(1).replace("&amp;", "&"))
        assert 'rel="prev">Previous page</a>' in page.text
    assert len(seen) == len(all_seqs)
    first = b.get(f"/t/{c.id}/audit-log")
    assert f"{len(all_seqs)} records · page 1 of {-(-len(all_seqs) // 2)}" in first.text


def test_audit_log_sorts_by_a_column_header_keeping_the_filters(world, logged, monkeypatch):
    c, _, _, _, b = logged
    monkeypatch.setattr(audit_log, "PAGE_SIZE", 2)
    page = b.get(f"/t/{c.id}/audit-log?result=Successful")
    assert re.search(r'aria-sort="descending"><a href="[^"]+">Time</a>', page.text)
    link = re.search(r'<th scope="col" aria-sort="none"><a href="([^"]+)">Category</a>', page.text)
    assert link and "result=Successful" in link.group(1)
    by_category = b.get(link.group(1).replace("&amp;", "&"))
    assert re.search(r'aria-sort="ascending"><a href="[^"]+">Category</a>', by_category.text)
    categories = []
    while True:
        categories += re.findall(
            r"<tr>\s*<td><time[^>]*>[^<]*</time></td>\s*<td>([^<]+)</td>", by_category.text
        )
        nxt = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', by_category.text)
        if not nxt:
            break
        assert "sort=category" in nxt.group(1) and "result=Successful" in nxt.group(1)
        by_category = b.get(nxt.group(1).replace("&amp;", "&"))
    assert len(categories) > 2 and categories == sorted(categories)


def test_a_bad_date_is_shown_next_to_from_and_kept(world, logged):
    c, _, _, _, b = logged
    page = b.get(f"/t/{c.id}/audit-log?start=yesterday&end=2026-01-01&category=Room")
    assert page.status_code == 422
    assert "From must be" in error_of(page, "start")
    assert value_of(page, "start") == "yesterday" and value_of(page, "end") == "2026-01-01"
    backwards = b.get(f"/t/{c.id}/audit-log?start=2026-11-20&end=2026-11-10")
    assert backwards.status_code == 422 and "To must not be before From" in error_of(backwards, "end")


def test_export_csv_downloads_the_range_and_is_recorded(world, logged):
    c, p, _, _, b = logged
    response = b.get(f"/t/{c.id}/audit-log/export?start=&end=&category=Room")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith(f'attachment; filename="audit-{c.id}-')
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:8] == [
        "activity.category",
        "activity.objectName",
        "activity.operation",
        "activity.resultStatus",
        "activity.tenantId",
        "creationTime",
        "user.userId",
        "user.userTenantId",
    ]
    # what the page shows: the Category filter holds (the invitation is left out)
    assert {r[0] for r in rows[1:]} == {"Room"}
    assert any(r[7] == p.id and r[10] == p.name for r in rows[1:])
    exports = [
        r
        for r in api(world, c, "/audit-logs?category=AuditLog")["items"]
        if r["object_name"] == "audit log export"
    ]
    assert len(exports) == 1 and exports[0]["details"]["via"] == "portal"
    assert exports[0]["user_id"] == c.admin.id


def test_export_csv_honours_every_filter_the_page_shows(world, logged):
    """Partner tenant and User narrow the export exactly as they narrow the table; both
    export paths (PostgreSQL's COPY, the batch writer) agree."""
    c, p, _, _, b = logged

    def exported(query: str) -> list[list[str]]:
        response = b.get(f"/t/{c.id}/audit-log/export?start=&end=&{query}")
        assert response.status_code == 200
        return list(csv.reader(io.StringIO(response.text)))[1:]

    everything = exported("")
    assert {r[7] for r in everything} >= {c.id, p.id}
    by_partner = exported(f"partner={p.id}")
    assert by_partner and {r[7] for r in by_partner} == {p.id}
    by_user = exported(f"user={c.admin.upn.upper()}")
    assert by_user and {r[8] for r in by_user} == {c.admin.upn}
    assert exported(f"partner={p.id}&user={c.admin.upn}") == []
    failed = exported("result=Failed")
    assert all(r[3] == "Failed" for r in failed)
    # the API's export takes the list's filters too, and the record of each export says them
    api_rows = world.client.get(
        f"/api/v1/tenants/{c.id}/audit-logs/export",
        params={"partner_tenant_id": p.id, "category": "Room"},
        headers=c.admin.headers,
    )
    assert api_rows.status_code == 200
    rows = list(csv.reader(io.StringIO(api_rows.text)))[1:]
    assert rows and {(r[0], r[7]) for r in rows} == {("Room", p.id)}
    records = api(world, c, "/audit-logs?category=AuditLog")["items"]
    exports = [r for r in records if r["object_name"] == "audit log export"]
    said = {"partner_tenant_id": p.id, "category": "Room", "via": "api"}
    assert said.items() <= exports[0]["details"].items()


def test_export_of_a_range_beyond_retention_is_refused_next_to_from(world, logged):
    c, _, _, _, b = logged
    response = b.get(f"/t/{c.id}/audit-log/export?start=2020-01-01&end=")
    assert response.status_code == 422 and "text/html" in response.headers["content-type"]
    assert "180 days" in error_of(response, "start")
    assert value_of(response, "start") == "2020-01-01"
    failed = [
        r
        for r in api(world, c, "/audit-logs?category=AuditLog&result_status=Failed")["items"]
        if r["user_id"] == c.admin.id
    ]
    assert len(failed) == 1


def test_verify_says_the_result_in_words(world, logged):
    c, _, _, _, b = logged
    ok = b.get(f"/t/{c.id}/audit-log?verify=1")
    assert "The audit log verifies." in ok.text
    with world.transaction() as s:
        s.execute(
            update(AuditRecord)
            .where(AuditRecord.tenant_id == uuid.UUID(c.id), AuditRecord.category == "Room")
            .values(object_name="forged")
        )
    bad = b.get(f"/t/{c.id}/audit-log?verify=1")
    assert "The audit log does not verify." in bad.text
    assert "The first record in question is number" in bad.text


def test_audit_log_needs_audit_export_over_all_rooms(world, app, logged):
    c, p, room, _, _ = logged
    lead = world.user(c)
    world.assign(c, c.roles["Site Lead"], users=[lead], scope={"rooms": [room["id"]]})
    for path in ("/audit-log", "/audit-log/export", "/audit-log?verify=1"):
        assert signed_in(world, app, lead).get(f"/t/{c.id}{path}").status_code == 403, path
        page = signed_in(world, app, p.admin).get(f"/t/{c.id}{path}")
        assert page.status_code == 404, path
