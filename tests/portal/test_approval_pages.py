"""The Approvals pages of both sides, through HTML: the customer's list (filters, waiting
first, pages), a request's before/after, Approve and Reject (the change applied or not, read
back through the API), a stale request's failure in words, scoped reviewers, the same 404 for
a request outside the reviewer's view as for a missing one; the partner's requests across
customers and per customer, Cancel; and a partner's held change in the portal's own forms
(room edit, incident, ticket, ring, partner role), which says it waits for the customer."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import pytest

from roomwarden.portal import approvals as approval_pages
from tests.approvals.helpers import ALL_MANUAL, Linked, as_user, linked, ring_ids
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import accept, invite
from tests.portal.helpers import Browser, signed_in

NOT_FOUND = "There is nothing at this address that you can see."
WAITING = "Your change has not been applied yet: it is waiting for the approval of"


def api(world: World, t: TenantH, path: str, user: UserH | None = None) -> Any:
    return expect(world.client.get(f"/api/v1/tenants/{t.id}{path}", headers=(user or t.admin).headers), 200)


def hold_city(world: World, ln: Linked, room_id: str, city: str, user: UserH | None = None) -> dict[str, Any]:
    """A partner's room change, held by the manual link (202)."""
    return expect(
        as_user(world, ln.customer, user or ln.primary, "PATCH", f"/rooms/{room_id}", {"city": city}), 202
    )


def rows(text: str) -> list[str]:
    """The list's rows, as text."""
    body = text.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in text else ""
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.unescape(r))).strip()
        for r in body.split("</tr>")[:-1]
    ]


def change_table(text: str) -> list[tuple[str, str, str]]:
    section = text.split('id="h-change"', 1)[1].split("</section>", 1)[0]
    found = re.findall(
        r'<tr><th scope="row">(.*?)</th><td[^>]*>(.*?)</td><td[^>]*>(.*?)</td></tr>', section, re.S
    )
    return [tuple(html.unescape(c) for c in row) for row in found]


def labelled(text: str, label: str) -> bool:
    m = re.search(rf'<label for="([^"]+)">{re.escape(label)}</label>', text)
    return bool(m) and f'id="{m.group(1)}"' in text


@pytest.fixture
def site(world: World, app):  # type: ignore[no-untyped-def]
    ln = linked(world)
    a = world.room(ln.customer, "DE", city="Berlin")
    b = world.room(ln.customer, "US", city="Boston")
    return ln, a, b, signed_in(world, app, ln.customer.admin)


# -- customer: list, filters, detail ---------------------------------------------------------------


def test_list_shows_waiting_requests_first_newest_first_with_labelled_filters(world, site) -> None:
    ln, a, b, browser = site
    first = hold_city(world, ln, a["id"], "Munich")
    decided = hold_city(world, ln, b["id"], "Austin")
    expect(
        as_user(
            world,
            ln.customer,
            ln.customer.admin,
            "POST",
            f"/approval-requests/{decided['id']}/reject",
            {"reason": "no"},
        ),
        200,
    )
    newest = hold_city(world, ln, b["id"], "Denver")
    page = browser.get(f"/t/{ln.customer.id}/approvals")
    assert page.status_code == 200
    for label in ("Status", "Event", "Partner", "Room"):
        assert labelled(page.text, label), label
    assert f'<a href="/t/{ln.customer.id}/approvals" aria-current="page">Approvals</a>' in page.text
    listed = [r.removeprefix("Choose this request ") for r in rows(page.text)]  # the waiting ones
    assert [r.split(" ")[0:2] for r in listed] == [["Change", "a"]] * 3
    order = [r for r in listed]
    assert a["name"] in order[1] and b["name"] in order[0] and "Rejected" in order[2]
    ids = re.findall(r"/approvals/([0-9a-f-]{36})\"", page.text)
    assert ids == [newest["id"], first["id"], decided["id"]]
    # the per-partner policy summary stays on the page
    assert "Policies of your partners" in page.text and "Manual" in page.text


def test_filters_by_status_event_partner_and_room(world, site) -> None:
    ln, a, b, browser = site
    on_a = hold_city(world, ln, a["id"], "Munich")
    on_b = hold_city(world, ln, b["id"], "Austin")
    ticket = world.incident(ln.customer, a["id"])
    on_ticket = expect(
        as_user(world, ln.customer, ln.primary, "PATCH", f"/tickets/{ticket['id']}", {"comment": "Looking"}),
        202,
    )
    p2 = world.tenant()
    expect(accept(world, p2.admin, invite(world, ln.customer, p2, approval_policy=ALL_MANUAL)["id"]), 201)
    other_partner = expect(
        as_user(world, ln.customer, p2.admin, "PATCH", f"/rooms/{a['id']}", {"city": "Bonn"}), 202
    )
    expect(
        as_user(
            world,
            ln.customer,
            ln.customer.admin,
            "POST",
            f"/approval-requests/{on_b['id']}/reject",
            {"reason": "no"},
        ),
        200,
    )
    base = f"/t/{ln.customer.id}/approvals"

    def shown(query: str) -> set[str]:
        r = browser.get(f"{base}?{query}")
        assert r.status_code == 200, r.text
        return set(re.findall(r"/approvals/([0-9a-f-]{36})\"", r.text))

    assert shown("status=pending") == {on_a["id"], on_ticket["id"], other_partner["id"]}
    assert shown("status=rejected") == {on_b["id"]}
    assert shown("event=ticket.update") == {on_ticket["id"]}
    assert shown(f"partner={p2.id}") == {other_partner["id"]}
    assert shown(f"room={b['id']}") == {on_b["id"]}
    assert shown(f"room={a['id']}&partner={ln.partner.id}&status=pending") == {on_a["id"], on_ticket["id"]}
    # the choices offered are those of the requests the reviewer may see
    page = browser.get(base).text
    assert f'<option value="{p2.id}">{p2.name}</option>' in page
    assert f'<option value="{b["id"]}">{b["name"]}</option>' in page
    bad = browser.get(f"{base}?status=maybe")
    assert bad.status_code == 422 and "Choose a status from the list." in bad.text


def test_pages_of_requests(world, site, monkeypatch) -> None:
    ln, a, b, browser = site
    monkeypatch.setattr(approval_pages, "PAGE_SIZE", 2)
    made = [hold_city(world, ln, a["id"], f"City {i}")["id"] for i in range(3)]
    done = hold_city(world, ln, b["id"], "Done")["id"]
    expect(
        as_user(
            world,
            ln.customer,
            ln.customer.admin,
            "POST",
            f"/approval-requests/{done}/reject",
            {"reason": "no"},
        ),
        200,
    )
    base = f"/t/{ln.customer.id}/approvals"
    seen: list[str] = []
    url = base
    for _ in range(5):
        page = browser.get(url)
        assert page.status_code == 200
        seen += re.findall(r"/approvals/([0-9a-f-]{36})\"", page.text)
        nxt = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', page.text)
        if not nxt:
            break
        url = html.unescape(nxt.group(1))
    assert seen == [*reversed(made), done]
    first = browser.get(base)
    assert "4 requests · page 1 of 2" in first.text
    # sorted by the Requested header: oldest first, then newest first; the sort survives paging
    up = re.search(r'<th scope="col" aria-sort="none"><a href="([^"]+)">Requested</a>', first.text)
    assert up
    oldest = browser.get(html.unescape(up.group(1)))
    assert re.search(r'aria-sort="ascending"><a href="[^"]+">Requested</a>', oldest.text)
    nxt = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', oldest.text)
    assert nxt and "sort=requested" in nxt.group(1)
    later = browser.get(html.unescape(nxt.group(1)))
    back = re.search(r'<a href="([^"]+)" rel="prev">Previous page</a>', later.text)
    assert back and "sort=requested" in html.unescape(back.group(1))
    ids = lambda p: re.findall(r"/approvals/([0-9a-f-]{36})\"", p.text)  # noqa: E731
    assert ids(oldest) + ids(later) == [*made, done]
    status_filtered = browser.get(f"{base}?status=pending&sort=requested")
    assert "3 requests match the filters · page 1 of 2" in status_filtered.text
    assert browser.get(f"{base}?sort=nonsense&page=x").status_code == 200  # read as the defaults


def test_detail_shows_requester_event_target_and_a_before_after_table(world, site) -> None:
    ln, a, _b, browser = site
    req = expect(
        as_user(
            world, ln.customer, ln.primary, "PATCH", f"/rooms/{a['id']}", {"city": "Munich", "building": "HQ"}
        ),
        202,
    )
    page = browser.get(f"/t/{ln.customer.id}/approvals/{req['id']}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert f"Change a room: {a['name']}" in text
    assert ln.partner.name in text and ln.primary.upn in text
    assert "Changes to a room" in text and "Waiting for a decision" in text and "Decide before" in text
    assert change_table(page.text) == [("City", "Berlin", "Munich"), ("Building", "—", "HQ")]
    assert labelled(page.text, "Reason")
    assert ">Approve</button>" in page.text and ">Reject</button>" in page.text
    # an outcome is said only when it is the request's: an address cannot make it claim one
    claimed = browser.get(f"/t/{ln.customer.id}/approvals/{req['id']}?done=approved").text
    assert "the change applied" not in claimed and "Waiting for a decision" in claimed


def test_a_partner_role_change_names_its_members_and_scope(world, app, site) -> None:
    ln, a, _b, browser = site
    desk = world.user(ln.partner, name="desk")
    policy = f"/partners/{ln.link['id']}"
    auto_roles = {"approval_policy": {**ALL_MANUAL, "partner_role.change": "auto"}}
    expect(as_user(world, ln.customer, ln.customer.admin, "PATCH", policy, auto_roles), 200)
    help_role = {"name": "Help", "permissions": ["tickets.view"]}
    role = expect(as_user(world, ln.customer, ln.primary, "POST", "/roles", help_role), 201)
    expect(
        as_user(world, ln.customer, ln.customer.admin, "PATCH", policy, {"approval_policy": ALL_MANUAL}), 200
    )
    body = {"name": "Desk", "members": [{"type": "user", "id": desk.id}], "scope": {"rooms": [a["id"]]}}
    path = f"/roles/{role['id']}/assignments"
    req = expect(as_user(world, ln.customer, ln.primary, "POST", path, body), 202)
    table = dict(
        (f, (b, x))
        for f, b, x in change_table(browser.get(f"/t/{ln.customer.id}/approvals/{req['id']}").text)
    )
    assert table["Members"] == ("—", "desk (user)")
    assert table["Scope"] == ("—", f"Rooms: {a['name']}")
    assert table["Role"] == ("—", "Help")
    partner = signed_in(world, app, ln.primary)
    own = dict(
        (f, (b, x)) for f, b, x in change_table(partner.get(f"/partner/approval-requests/{req['id']}").text)
    )
    assert own["Members"] == ("—", "desk (user)")


def test_approve_applies_the_change(world, site) -> None:
    ln, a, _b, browser = site
    req = hold_city(world, ln, a["id"], "Munich")
    base = f"/t/{ln.customer.id}/approvals/{req['id']}"
    browser.get(base)
    r = browser.post(f"{base}/approve")
    assert r.status_code == 303 and r.headers["location"] == f"{base}?done=approved"
    page = browser.get(r.headers["location"])
    assert "The request was approved and the change applied." in page.text
    assert "Approved" in page.text and ">Approve</button>" not in page.text
    assert api(world, ln.customer, f"/rooms/{a['id']}")["city"] == "Munich"
    assert api(world, ln.customer, f"/approval-requests/{req['id']}")["status"] == "approved"
    # deciding again is refused in words, on the request's page
    again = browser.post(f"{base}/approve", csrf=browser.last_csrf)
    assert again.status_code == 409 and "The request is already approved." in again.text


def test_reject_needs_a_reason_and_changes_nothing(world, site) -> None:
    ln, a, _b, browser = site
    req = hold_city(world, ln, a["id"], "Munich")
    base = f"/t/{ln.customer.id}/approvals/{req['id']}"
    browser.get(base)
    empty = browser.post(f"{base}/reject", {"reason": "  "})
    assert empty.status_code == 422
    assert 'id="e-reason">Give a reason for the rejection' in empty.text
    assert 'aria-invalid="true"' in empty.text
    assert api(world, ln.customer, f"/approval-requests/{req['id']}")["status"] == "pending"
    r = browser.post(f"{base}/reject", {"reason": "Berlin is right"})
    assert r.status_code == 303 and r.headers["location"] == f"{base}?done=rejected"
    page = browser.get(r.headers["location"])
    assert "Rejected" in page.text and "Berlin is right" in page.text
    read = api(world, ln.customer, f"/approval-requests/{req['id']}")
    assert (read["status"], read["reason"]) == ("rejected", "Berlin is right")
    assert api(world, ln.customer, f"/rooms/{a['id']}")["city"] == "Berlin"


def test_a_stale_request_fails_and_says_why(world, site) -> None:
    ln, a, _b, browser = site
    req = hold_city(world, ln, a["id"], "Munich")
    expect(
        as_user(world, ln.customer, ln.customer.admin, "PATCH", f"/rooms/{a['id']}", {"city": "Hamburg"}), 200
    )
    base = f"/t/{ln.customer.id}/approvals/{req['id']}"
    browser.get(base)
    r = browser.post(f"{base}/approve")
    assert r.status_code == 303 and r.headers["location"] == f"{base}?done=failed"
    page = browser.get(r.headers["location"])
    text = html.unescape(page.text)
    assert "The request failed and nothing was applied: the room has changed since the request (city)" in text
    assert "Failed" in text
    assert api(world, ln.customer, f"/rooms/{a['id']}")["city"] == "Hamburg"
    assert api(world, ln.customer, f"/approval-requests/{req['id']}")["status"] == "failed"


def test_scoped_reviewer_sees_and_decides_only_its_rooms(world, app, site) -> None:
    ln, a, b, _ = site
    group = world.room_group(ln.customer, [a["id"]])
    role = world.role(ln.customer, ["approvals.review", "rooms.view"])
    reviewer = world.user(ln.customer)
    world.assign(ln.customer, role, users=[reviewer], scope={"room_groups": [group["id"]]})
    on_a = hold_city(world, ln, a["id"], "Munich")
    on_b = hold_city(world, ln, b["id"], "Austin")
    ring = expect(
        as_user(
            world,
            ln.customer,
            ln.primary,
            "PATCH",
            f"/update-rings/{ring_ids(world, ln.customer)['Validation']}",
            {"deferral_days": 3},
        ),
        202,
    )
    browser = signed_in(world, app, reviewer)
    listing = browser.get(f"/t/{ln.customer.id}/approvals")
    assert listing.status_code == 200
    assert ">Approvals</a>" in listing.text  # the navigation entry
    assert set(re.findall(r"/approvals/([0-9a-f-]{36})\"", listing.text)) == {on_a["id"]}
    assert b["name"] not in listing.text  # nor among the Room filter's choices
    assert "Policies of your partners" not in listing.text  # the links are tenant-level
    missing = browser.get(f"/t/{ln.customer.id}/approvals/{uuid.uuid4()}")
    assert missing.status_code == 404 and NOT_FOUND in missing.text
    for hidden in (on_b, ring):
        page = browser.get(f"/t/{ln.customer.id}/approvals/{hidden['id']}")
        assert page.status_code == 404 and page.text == missing.text
        browser.get(f"/t/{ln.customer.id}/approvals/{on_a['id']}")
        refused = browser.post(f"/t/{ln.customer.id}/approvals/{hidden['id']}/approve")
        assert refused.status_code == 404 and NOT_FOUND in refused.text
    assert api(world, ln.customer, f"/approval-requests/{on_b['id']}")["status"] == "pending"
    browser.get(f"/t/{ln.customer.id}/approvals/{on_a['id']}")
    assert browser.post(f"/t/{ln.customer.id}/approvals/{on_a['id']}/approve").status_code == 303
    assert api(world, ln.customer, f"/rooms/{a['id']}")["city"] == "Munich"


def test_another_tenants_request_is_the_same_404(world, app, site) -> None:
    ln, _a, _b, browser = site
    other = linked(world)
    room = world.room(other.customer)
    theirs = hold_city(world, other, room["id"], "Elsewhere")
    missing = browser.get(f"/t/{ln.customer.id}/approvals/{uuid.uuid4()}")
    foreign = browser.get(f"/t/{ln.customer.id}/approvals/{theirs['id']}")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.text == missing.text
    assert browser.get(f"/t/{other.customer.id}/approvals/{theirs['id']}").status_code == 404


def test_who_may_not_review_is_refused_and_has_no_entry(world, app, site) -> None:
    ln, _a, _b, _ = site
    lead = world.user(ln.customer)
    world.assign(ln.customer, ln.customer.roles["Site Lead"], users=[lead])
    browser = signed_in(world, app, lead)
    page = browser.get(f"/t/{ln.customer.id}/approvals")
    assert page.status_code == 403 and "approvals.review is required" in page.text
    assert ">Approvals</a>" not in browser.get(f"/t/{ln.customer.id}/rooms").text
    # a partner never sees the customer's approvals
    partner = signed_in(world, app, ln.primary)
    assert partner.get(f"/t/{ln.customer.id}/approvals").status_code == 404


# -- partner: its requests, Cancel ----------------------------------------------------------------


def test_partner_sees_its_requests_across_customers_and_per_customer(world, app, site) -> None:
    ln, a, b, _ = site
    c2 = world.tenant()
    expect(accept(world, ln.primary, invite(world, c2, ln.partner, approval_policy=ALL_MANUAL)["id"]), 201)
    room2 = world.room(c2)
    here = hold_city(world, ln, a["id"], "Munich")
    there = expect(as_user(world, c2, ln.primary, "PATCH", f"/rooms/{room2['id']}", {"city": "Oslo"}), 202)
    done = hold_city(world, ln, b["id"], "Austin")
    expect(
        as_user(
            world,
            ln.customer,
            ln.customer.admin,
            "POST",
            f"/approval-requests/{done['id']}/reject",
            {"reason": "Not this week"},
        ),
        200,
    )
    browser = signed_in(world, app, ln.primary)
    page = browser.get("/partner/approval-requests")
    assert page.status_code == 200
    assert '<a href="/partner/approval-requests" aria-current="page">Approval requests</a>' in page.text
    assert labelled(page.text, "Customer") and labelled(page.text, "Status")
    assert ">Customer</th>" in page.text
    listed = rows(page.text)
    assert len(listed) == 3
    assert any(c2.name in r and room2["name"] in r for r in listed)
    rejected = next(r for r in listed if "Rejected" in r)
    assert "Not this week" in rejected and ln.customer.name in rejected
    assert page.text.count(">Cancel</button>") == 2  # the waiting ones
    one = browser.get(f"/partner/approval-requests?customer={c2.id}")
    assert set(re.findall(r"/partner/approval-requests/([0-9a-f-]{36})\"", one.text)) == {there["id"]}
    waiting = browser.get("/partner/approval-requests?status=rejected")
    assert set(re.findall(r"/partner/approval-requests/([0-9a-f-]{36})\"", waiting.text)) == {done["id"]}
    detail = browser.get(f"/partner/approval-requests/{here['id']}")
    assert detail.status_code == 200 and change_table(detail.text) == [("City", "Berlin", "Munich")]
    # another partner's request, or the customer's view of it, is not there for this user
    stranger = signed_in(world, app, world.tenant().admin)
    assert stranger.get(f"/partner/approval-requests/{here['id']}").status_code == 404
    assert "Approval requests</a>" not in stranger.get("/partner/approval-requests").text


def test_partner_cancels_its_pending_request(world, app, site) -> None:
    ln, a, _b, _ = site
    req = hold_city(world, ln, a["id"], "Munich")
    browser = signed_in(world, app, ln.primary)
    browser.get("/partner/approval-requests")
    r = browser.post(f"/partner/approval-requests/{req['id']}/cancel")
    assert r.status_code == 303
    page = browser.get(r.headers["location"])
    assert "The request was cancelled; nothing was applied." in page.text and "Cancelled" in page.text
    assert ">Cancel</button>" not in page.text
    assert api(world, ln.customer, f"/approval-requests/{req['id']}")["status"] == "cancelled"
    again = browser.post(f"/partner/approval-requests/{req['id']}/cancel")
    assert again.status_code == 409 and "The request is already cancelled." in again.text
    assert browser.post(f"/partner/approval-requests/{uuid.uuid4()}/cancel").status_code == 404


def test_a_customer_requiring_a_second_factor_withholds_its_requests(world, app, site) -> None:
    """Issue 9, L1: the partner's Approval requests pages, like the API, leave a customer that
    requires a second factor out of the list, and refuse its requests, its filter and Cancel
    to a sign-in without one, in words."""
    ln, a, _b, _ = site
    req = hold_city(world, ln, a["id"], "Munich")
    url = f"/api/v1/tenants/{ln.customer.id}/settings"
    body = {"require_mfa_for_partners": True}
    expect(world.client.patch(url, json=body, headers=ln.customer.admin.headers), 200)
    weak = signed_in(world, app, ln.primary)
    listed = weak.get("/partner/approval-requests")
    assert listed.status_code == 200 and req["id"] not in listed.text and rows(listed.text) == []
    for refused in (
        weak.get(f"/partner/approval-requests?customer={ln.customer.id}"),
        weak.get(f"/partner/approval-requests/{req['id']}"),
        weak.post(f"/partner/approval-requests/{req['id']}/cancel"),
    ):
        assert refused.status_code == 403 and "second factor" in refused.text, refused.text
        assert "Munich" not in refused.text
    assert api(world, ln.customer, f"/approval-requests/{req['id']}")["status"] == "pending"
    strong = signed_in(world, app, ln.primary, mfa=True)
    assert req["id"] in strong.get("/partner/approval-requests").text
    assert strong.get(f"/partner/approval-requests/{req['id']}").status_code == 200
    assert strong.post(f"/partner/approval-requests/{req['id']}/cancel").status_code == 303


def test_only_the_requester_may_cancel(world, app, site) -> None:
    ln, a, _b, _ = site
    other = world.user(ln.partner)
    primary_role = api(world, ln.customer, "/roles?kind=partner_builtin", ln.primary)["items"][0]
    assignment = api(world, ln.customer, f"/roles/{primary_role['id']}/assignments", ln.primary)["items"][0]
    # Primary admins changes are held too: make the second admin while the policy allows it
    expect(
        world.client.patch(
            f"/api/v1/tenants/{ln.customer.id}/partners/{ln.link['id']}",
            json={"approval_policy": {**ALL_MANUAL, "partner_role.change": "auto"}},
            headers=ln.customer.admin.headers,
        ),
        200,
    )
    expect(
        as_user(
            world,
            ln.customer,
            ln.primary,
            "PATCH",
            f"/assignments/{assignment['id']}",
            {"members": [{"type": "user", "id": ln.primary.id}, {"type": "user", "id": other.id}]},
        ),
        200,
    )
    req = hold_city(world, ln, a["id"], "Munich", user=other)
    browser = signed_in(world, app, ln.primary)
    page = browser.get(f"/partner/approval-requests/{req['id']}")
    assert page.status_code == 200 and ">Cancel</button>" not in page.text  # a Primary admin sees it
    refused = browser.post(f"/partner/approval-requests/{req['id']}/cancel")
    assert refused.status_code == 403
    assert "Only the partner user who made the request can cancel it." in refused.text
    assert api(world, ln.customer, f"/approval-requests/{req['id']}")["status"] == "pending"
    # the refused attempt is in the customer's log, by the partner user
    trail = api(world, ln.customer, "/audit-logs?limit=200&category=ApprovalRequest")["items"]
    assert any(
        r["object_id"] == req["id"] and r["result_status"] == "Failed" and r["user_id"] == ln.primary.id
        for r in trail
    ), trail


# -- a partner's held change in the portal ---------------------------------------------------------


def _held(browser: Browser, response: Any, customer: TenantH) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/partner/approval-requests/[0-9a-f-]{36}\?done=held", location), location
    page = browser.get(location)
    assert page.status_code == 200
    assert f"{WAITING} {customer.name}" in html.unescape(page.text)
    assert "saved" not in page.text.lower()
    return location.split("/")[-1].split("?")[0]


def test_held_room_edit_says_it_waits_for_approval(world, app, site) -> None:
    ln, a, _b, _ = site
    browser = signed_in(world, app, ln.primary)
    edit = f"/t/{ln.customer.id}/rooms/{a['id']}/edit"
    form = browser.get(edit)
    assert form.status_code == 200
    values = {
        "name": "Renamed",
        "country": "DE",
        "city": "Berlin",
        "building": "",
        "time_zone": a["time_zone"],
    }
    rid = _held(browser, browser.post(edit, values), ln.customer)
    assert api(world, ln.customer, f"/rooms/{a['id']}")["name"] == a["name"]
    read = api(world, ln.customer, f"/approval-requests/{rid}")
    assert read["status"] == "pending" and read["event"] == "room.update"
    assert {d["field"]: d["after"] for d in read["diff"]}["name"] == "Renamed"
    # the customer sees it waiting, with the rename in its table
    customer = signed_in(world, app, ln.customer.admin)
    assert ("Name", a["name"], "Renamed") in change_table(
        customer.get(f"/t/{ln.customer.id}/approvals/{rid}").text
    )


def test_held_incident_and_ticket_update_say_they_wait(world, app, site) -> None:
    ln, a, _b, _ = site
    ticket = world.incident(ln.customer, a["id"])
    browser = signed_in(world, app, ln.primary)
    base = f"/t/{ln.customer.id}"
    browser.get(f"{base}/incidents/new")
    r = browser.post(
        f"{base}/incidents/new",
        {"room_id": a["id"], "title": "Screen dark", "description": "", "severity": "warning"},
    )
    rid = _held(browser, r, ln.customer)
    assert api(world, ln.customer, f"/approval-requests/{rid}")["event"] == "incident.create"
    assert all(t["title"] != "Screen dark" for t in api(world, ln.customer, "/tickets")["items"])
    browser.get(f"{base}/tickets/{ticket['id']}")
    r = browser.post(f"{base}/tickets/{ticket['id']}", {"status": "in_progress", "comment": "On it"})
    rid = _held(browser, r, ln.customer)
    assert api(world, ln.customer, f"/tickets/{ticket['id']}")["status"] == "open"
    customer = signed_in(world, app, ln.customer.admin)
    table = change_table(customer.get(f"{base}/approvals/{rid}").text)
    assert ("Status", "Open", "In progress") in table and ("Comment", "—", "On it") in table


def test_held_ring_and_partner_role_changes_say_they_wait(world, app, site) -> None:
    ln, _a, _b, _ = site
    browser = signed_in(world, app, ln.primary)
    base = f"/t/{ln.customer.id}"
    ring = ring_ids(world, ln.customer)["Validation"]
    browser.get(f"{base}/update-rings/{ring}/edit")
    rid = _held(
        browser,
        browser.post(f"{base}/update-rings/{ring}/edit", {"name": "Validation", "deferral_days": "9"}),
        ln.customer,
    )
    assert api(world, ln.customer, f"/approval-requests/{rid}")["event"] == "update_ring.change"
    browser.get(f"{base}/roles/new")
    r = browser.post(
        f"{base}/roles/new", {"name": "Desk", "description": "", "permissions": ["tickets.view"]}
    )
    rid = _held(browser, r, ln.customer)
    assert api(world, ln.customer, f"/approval-requests/{rid}")["event"] == "partner_role.change"
    customer = signed_in(world, app, ln.customer.admin)
    table = change_table(customer.get(f"{base}/approvals/{rid}").text)
    assert ("Permissions", "—", "View tickets") in table, table  # by name, not tickets.view
    assert all(x["name"] != "Desk" for x in api(world, ln.customer, "/roles", ln.primary)["items"])


def test_automatic_policy_applies_at_once(world, app) -> None:
    ln = linked(world, policy={})
    room = world.room(ln.customer, "DE")
    browser = signed_in(world, app, ln.primary)
    edit = f"/t/{ln.customer.id}/rooms/{room['id']}/edit"
    browser.get(edit)
    values = {
        "name": "Renamed",
        "country": "DE",
        "city": "",
        "building": "",
        "time_zone": room["time_zone"],
    }
    r = browser.post(edit, values)
    assert r.status_code == 303 and r.headers["location"].endswith("?done=saved")
    assert api(world, ln.customer, f"/rooms/{room['id']}")["name"] == "Renamed"


def test_the_room_form_sends_only_what_changed_so_change_control_sees_the_right_event(world, app) -> None:
    """The edit form shows the ring too; renaming a room is a room change, not also a move
    between rings. With room changes automatic and ring moves held, the rename applies at once,
    a ring move alone is held as a ring move, and a form that changes nothing changes nothing."""
    ln = linked(world, policy={"update_ring.change": "manual"})
    room = world.room(ln.customer, "DE", city="Berlin")
    browser = signed_in(world, app, ln.primary)
    edit = f"/t/{ln.customer.id}/rooms/{room['id']}/edit"
    form = browser.get(edit)
    assert 'name="update_ring_id"' in form.text  # the Primary admins may move rooms
    values = {
        "name": room["name"],
        "resource_account": room["resource_account"],
        "country": "DE",
        "city": "Berlin",
        "building": room["building"],
        "time_zone": room["time_zone"],
        "update_ring_id": room["update_ring_id"],
    }
    unchanged = browser.post(edit, values)
    assert unchanged.status_code == 303 and unchanged.headers["location"].endswith("?done=unchanged")
    renamed = browser.post(edit, {**values, "name": "Renamed"})
    assert renamed.status_code == 303 and renamed.headers["location"].endswith("?done=saved"), renamed.text
    assert api(world, ln.customer, f"/rooms/{room['id']}")["name"] == "Renamed"
    assert api(world, ln.customer, "/approval-requests")["items"] == []
    other = next(r for r in ring_ids(world, ln.customer).values() if r != room["update_ring_id"])
    moved = browser.post(edit, {**values, "name": "Renamed", "update_ring_id": other})
    rid = _held(browser, moved, ln.customer)
    read = api(world, ln.customer, f"/approval-requests/{rid}")
    assert read["event"] == "update_ring.change"
    assert {d["field"] for d in read["diff"]} <= {"update_ring_id", "update_ring"}
    # the reviewer reads the change in names, in the list as on the request's page
    rings = {v: k for k, v in ring_ids(world, ln.customer).items()}
    said = f"Update ring: {rings[room['update_ring_id']]} → {rings[other]}"
    reviewer = signed_in(world, app, ln.customer.admin)
    assert said in html.unescape(reviewer.get(f"/t/{ln.customer.id}/approvals").text)
    assert other not in reviewer.get(f"/t/{ln.customer.id}/approvals").text.split("<tbody>", 1)[1]


def test_several_requests_are_approved_or_rejected_at_once(world, app) -> None:
    """The list decides the chosen requests through the single decision's service; a choice
    that cannot be decided refuses the whole form and nothing is decided."""
    ln = linked(world)
    rooms = [world.room(ln.customer, "DE") for _ in range(3)]
    made = []
    for i, room in enumerate(rooms):
        held = as_user(world, ln.customer, ln.primary, "PATCH", f"/rooms/{room['id']}", {"city": f"City {i}"})
        assert held.status_code == 202, held.text
        made.append(held.json()["id"])
    b = signed_in(world, app, ln.customer.admin)
    page = b.get(f"/t/{ln.customer.id}/approvals")
    for rid in made:
        assert f'name="requests" value="{rid}"' in page.text
    assert ">Approve chosen</button>" in page.text and ">Reject chosen</button>" in page.text
    url = f"/t/{ln.customer.id}/approvals/decide"
    # rejecting needs a reason; nothing is decided
    refused = b.post(url, {"requests": made[:2], "decision": "reject", "reason": ""})
    assert refused.status_code == 422 and "Give a reason" in refused.text
    # one choice that is not a request of this tenant refuses them all
    stranger = b.post(url, {"requests": [made[0], str(uuid.uuid4())], "decision": "approve"})
    assert stranger.status_code == 404
    assert {r["status"] for r in requests_of_all(world, ln)} == {"pending"}
    approved = b.post(url, {"requests": made[:2], "decision": "approve"})
    assert approved.status_code == 303 and approved.headers["location"].endswith("decided=approved-2-0")
    assert "2 requests approved." in b.get(approved.headers["location"]).text
    rejected = b.post(url, {"requests": [made[2]], "decision": "reject", "reason": "Not this week"})
    assert rejected.status_code == 303
    statuses = {r["id"]: r["status"] for r in requests_of_all(world, ln)}
    assert [statuses[r] for r in made] == ["approved", "approved", "rejected"]
    assert [api(world, ln.customer, f"/rooms/{r['id']}")["city"] for r in rooms][:2] == ["City 0", "City 1"]


def requests_of_all(world: World, ln: Linked) -> list[dict[str, Any]]:
    return api(world, ln.customer, "/approval-requests?limit=100")["items"]
