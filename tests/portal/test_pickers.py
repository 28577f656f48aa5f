"""Room choosers that scale (SPEC §9): the wizard's and a partner's Delegated rooms search on
the server (**Search rooms**, **Search**), show a page of results at a time, keep what was
chosen, state the effective number of rooms, save nothing while searching, and render the
same size for a large tenant as for a small one."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from tests.factories import TenantH, World, expect
from tests.partners.helpers import link
from tests.portal.helpers import signed_in

ROOM_BOX = re.compile(
    r'<input id="f-rooms-[cr]\d+" type="checkbox" name="rooms" value="([0-9a-f-]{36})"( checked)?>'
)


def _boxes(page: str) -> dict[str, bool]:
    """The Delegated rooms checkboxes: {room id: checked}."""
    return {rid: bool(on) for rid, on in ROOM_BOX.findall(page)}


def _effective(page: str) -> int:
    m = re.search(r'<p class="hint" id="rooms-effective">(\d+) rooms? chosen in all', page)
    assert m, "no effective count"
    return int(m.group(1))


def _rooms(world: World, t: TenantH, n: int, prefix: str = "Aurora") -> list[dict[str, Any]]:
    return [world.room(t, "DE", name=f"{prefix} {i:03d}") for i in range(n)]


@pytest.fixture
def fleet(world: World, app: Any):  # type: ignore[no-untyped-def]
    t = world.tenant()
    rooms = _rooms(world, t, 60)
    group = world.room_group(t, [r["id"] for r in rooms[:5]], name="First five")
    return t, rooms, group, signed_in(world, app, t.admin)


def test_the_wizard_pages_searches_and_keeps_the_choice(world: World, fleet) -> None:  # type: ignore[no-untyped-def]
    t, rooms, group, b = fleet
    wizard = b.get(f"/t/{t.id}/partners/new").text
    assert '<label for="f-rooms-q">Search rooms</label>' in wizard
    assert 'name="search" value="rooms"' in wizard and ">Search</button>" in wizard
    assert len(_boxes(wizard)) == 25 and ">Next rooms</button>" in wizard  # a page, not 60
    assert _effective(wizard) == 0
    form = {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', wizard).group(1),  # type: ignore[union-attr]
        "partner_domain": "",
        "expires_in_days": "7",
        "scope": "listed",
        "room_groups": [group["id"]],
        "rooms": [rooms[0]["id"]],
    }
    review = f"/t/{t.id}/partners/new/review"
    # the next page of results keeps the chosen room checked, and counts the group's rooms
    second = b.post(review, {**form, "rooms_page": "1"})
    assert second.status_code == 200 and "Add a partner" in second.text
    boxes = _boxes(second.text)
    assert boxes[rooms[0]["id"]] is True and sum(boxes.values()) == 1
    assert rooms[30]["id"] in boxes and rooms[1]["id"] not in boxes  # page 2 (by name), minus the chosen
    assert _effective(second.text) == 5  # rooms 0-4 through the group; room 0 once
    # a search narrows the results; the chosen stay
    found = b.post(
        review,
        {**form, "rooms": [rooms[0]["id"], rooms[42]["id"]], "rooms_q": "aurora 05", "search": "rooms"},
    )
    boxes = _boxes(found.text)
    assert {rid for rid, on in boxes.items() if on} == {rooms[0]["id"], rooms[42]["id"]}
    unchecked = {rid for rid, on in boxes.items() if not on}
    assert unchecked == {r["id"] for r in rooms[50:60]}
    assert _effective(found.text) == 6
    assert 'value="aurora 05"' in found.text
    assert "Rooms matching “aurora 05”" in html.unescape(found.text)
    # nothing was sent while searching
    invitations = world.client.get(f"/api/v1/tenants/{t.id}/partner-invitations", headers=t.admin.headers)
    assert expect(invitations, 200)["items"] == []


def test_a_partners_scope_is_searched_without_saving_and_saved_with_the_choice(world: World, fleet) -> None:  # type: ignore[no-untyped-def]
    t, rooms, group, b = fleet
    p = world.tenant()
    lk = link(world, t, p, scope={"rooms": [rooms[10]["id"]], "room_groups": [group["id"]]})
    page = b.get(f"/t/{t.id}/partners/{lk['id']}").text
    assert _boxes(page)[rooms[10]["id"]] is True and _effective(page) == 6
    assert len(_boxes(page)) == 26  # the chosen room and a page of others
    version = re.search(r'name="version" value="(\d+)"', page.split('id="f-scope"', 1)[0][-3000:])
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    scope_url = f"/t/{t.id}/partners/{lk['id']}/scope"
    form = {
        "csrf_token": token,
        "scope": "listed",
        "room_groups": [group["id"]],
        "rooms": [rooms[10]["id"], rooms[59]["id"]],
    }
    if version:
        form["version"] = version.group(1)
    searched = b.post(scope_url, {**form, "rooms_q": "059", "search": "rooms"})
    assert searched.status_code == 200
    assert _boxes(searched.text)[rooms[59]["id"]] is True
    def read() -> dict[str, Any]:
        url = f"/api/v1/tenants/{t.id}/partners/{lk['id']}"
        return expect(world.client.get(url, headers=t.admin.headers), 200)  # type: ignore[no-any-return]

    assert read()["scope"]["rooms"] == [rooms[10]["id"]]  # searching saved nothing
    saved = b.post(scope_url, {**form, "rooms": [rooms[59]["id"]]})
    assert saved.status_code == 303, saved.text[-1500:]
    assert read()["scope"]["rooms"] == [rooms[59]["id"]]  # room 10 unchecked: taken away


def test_effective_access_takes_a_rooms_name(world: World, fleet) -> None:  # type: ignore[no-untyped-def]
    t, rooms, _group, b = fleet
    p = world.tenant()
    lk = link(world, t, p)
    page = b.get(f"/t/{t.id}/partners/{lk['id']}?room=aurora 007").text
    assert f'id="x-{p.admin.id}"' in page  # explained, on Aurora 007
    assert 'value="aurora 007"' in page
    missing = b.get(f"/t/{t.id}/partners/{lk['id']}?room=nowhere").text
    assert "There is no room with that name that you can see" in html.unescape(missing)
    by_id = b.get(f"/t/{t.id}/partners/{lk['id']}?room={rooms[7]['id']}").text
    assert 'value="Aurora 007"' in by_id


def test_the_pages_weigh_the_same_for_a_large_tenant(world: World, app: Any) -> None:
    """The wizard and a partner's page grow with what is chosen, never with the tenant."""
    sizes = {}
    for n in (30, 400):
        t = world.tenant()
        rooms = _rooms(world, t, n)
        group = world.room_group(t, [r["id"] for r in rooms[:3]], name="Some")
        lk = link(world, t, world.tenant(), scope={"room_groups": [group["id"]]})
        b = signed_in(world, app, t.admin)
        sizes[n] = (
            len(b.get(f"/t/{t.id}/partners/new").content),
            len(b.get(f"/t/{t.id}/partners/{lk['id']}").content),
        )
    for small, large in zip(sizes[30], sizes[400], strict=True):
        assert large <= small * 1.05, sizes


def test_search_matches_city_and_building_too(world: World, app: Any) -> None:
    t = world.tenant()
    seoul = world.room(t, "KR", city="Seoul", building="Gangnam Tower")
    world.room(t, "DE", city="Berlin")
    rooms = world.client.get(f"/api/v1/tenants/{t.id}/rooms?q=gangnam", headers=t.admin.headers).json()
    assert [r["id"] for r in rooms["items"]] == [seoul["id"]]
    page = signed_in(world, app, t.admin).get(f"/t/{t.id}/rooms?q=SEOUL").text
    assert seoul["name"] in page
