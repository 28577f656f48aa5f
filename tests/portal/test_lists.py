"""List pages (issue 22, portal/listing.py): Rooms, Tickets, Users (and Approvals and the
audit log in their own tests) sort by the header's link with ``aria-sort`` on the sorted
header, say how many rows they found, and page with Previous/Next links that keep the
filters and the sort; names sort naturally ("Aurora2" before "Aurora10")."""

from __future__ import annotations

import html
import re

from roomwarden.portal import directory, rooms, tickets
from tests.factories import PASSWORD, expect
from tests.portal.helpers import signed_in


def _link(page, label: str, rel: str = "") -> str:  # type: ignore[no-untyped-def]
    pattern = rf'<a href="([^"]+)"{f" rel={chr(34)}{rel}{chr(34)}" if rel else ""}>{label}</a>'
    found = re.search(pattern, page.text)
    assert found, f"no link {label!r}"
    return html.unescape(found.group(1))


def _first_cells(page) -> list[str]:  # type: ignore[no-untyped-def]
    return re.findall(r"<tr>\s*<td><a [^>]*>([^<]+)</a></td>", page.text)


def test_rooms_sort_names_naturally_and_search_city_and_building(world, app, monkeypatch):
    t = world.tenant()
    for name in ("Aurora10", "Aurora2", "aurora1", "Aurora100"):
        world.room(t, "DE", name=name, city="Bonn", building="Tower")
    world.room(t, "DE", name="Basement", city="Köln", building="Annex West")
    b = signed_in(world, app, t.admin)
    monkeypatch.setattr(rooms, "PAGE_SIZE", 3)
    first = b.get(f"/t/{t.id}/rooms")
    assert "5 rooms · page 1 of 2" in first.text
    second = b.get(_link(first, "Next page", "next"))
    assert _first_cells(first) + _first_cells(second) == [
        "aurora1",
        "Aurora2",
        "Aurora10",
        "Aurora100",
        "Basement",
    ]
    down = b.get(f"/t/{t.id}/rooms?sort=-name")
    assert _first_cells(down) == ["Basement", "Aurora100", "Aurora10"]
    assert _first_cells(b.get(f"/t/{t.id}/rooms?q=k%C3%B6ln")) == ["Basement"]  # by city
    by_building = b.get(f"/t/{t.id}/rooms?q=annex")
    assert _first_cells(by_building) == ["Basement"] and "1 room match the filters" in by_building.text


def test_tickets_sort_count_and_page_keeping_the_filters(world, app, monkeypatch):
    t = world.tenant()
    room = world.room(t, "DE")
    for title in ("Zeta 10", "alpha 2", "Alpha 10"):  # in this order: the last is the newest
        body = {"room_id": room["id"], "title": title, "severity": "warning"}
        expect(world.post(t, "/incidents", body), 201)
    b = signed_in(world, app, t.admin)
    monkeypatch.setattr(tickets, "PAGE_SIZE", 2)
    newest = b.get(f"/t/{t.id}/tickets?severity=warning")
    assert "3 tickets match the filters · page 1 of 2" in newest.text
    assert re.search(r'aria-sort="descending"><a href="[^"]+">Opened</a>', newest.text)
    assert _first_cells(newest) == ["Alpha 10", "alpha 2"]  # newest first
    by_title = b.get(_link(newest, "Title"))
    assert re.search(r'aria-sort="ascending"><a href="[^"]+">Title</a>', by_title.text)
    nxt = _link(by_title, "Next page", "next")
    assert "sort=title" in nxt and "severity=warning" in nxt
    later = b.get(nxt)
    assert _first_cells(by_title) + _first_cells(later) == ["Alpha 10", "alpha 2", "Zeta 10"]
    back = _link(later, "Previous page", "prev")
    assert "sort=title" in back and "severity=warning" in back and "page=" not in back


def test_users_sort_by_name_naturally_and_by_upn_with_a_count(world, app, monkeypatch):
    t = world.tenant()
    for name in ("Operator 10", "Operator 9", "operator 1"):
        expect(
            world.client.post(
                f"/api/v1/tenants/{t.id}/users",
                json={
                    "upn": f"{name.replace(' ', '').lower()}@{t.domain}",
                    "display_name": name,
                    "password": PASSWORD,
                },
                headers=t.admin.headers,
            ),
            201,
        )
    b = signed_in(world, app, t.admin)
    monkeypatch.setattr(directory, "PAGE_SIZE", 2)
    found = b.get(f"/t/{t.id}/users?q=operator")
    assert "3 users match the filters · page 1 of 2" in found.text
    later = b.get(_link(found, "Next page", "next"))
    assert _first_cells(found) + _first_cells(later) == ["operator 1", "Operator 9", "Operator 10"]
    by_upn = b.get(_link(found, "UPN"))
    assert re.search(r'aria-sort="ascending"><a href="[^"]+">UPN</a>', by_upn.text)
    assert 'aria-sort="none"><a href' in by_upn.text and "q=operator" in _link(by_upn, "Next page", "next")
    assert _first_cells(by_upn) == ["Operator 10", "operator 1"]  # "operator10@" < "operator1@"
