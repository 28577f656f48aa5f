"""Every chooser scales (issue 22): a room group's rooms, an assignment's members and scope,
and a security group's members search on the server, show a page of results at a time, keep
what was chosen checked, count the effective rooms of a room choice, and save nothing while
searching — without JavaScript (each Search or page button sends the form to itself)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from roomwarden.portal import pickers
from tests.factories import PASSWORD, TenantH, World, expect
from tests.portal.helpers import signed_in


def boxes(page: str, field: str) -> dict[str, bool]:
    """A picker's checkboxes: {id: checked}."""
    pattern = (
        rf'<input id="f-{field}-[cr]\d+" type="checkbox" name="{field}" value="([0-9a-f-]{{36}})"( checked)?>'
    )
    return {i: bool(on) for i, on in re.findall(pattern, page)}


def effective(page: str, field: str) -> int:
    m = re.search(rf'<p class="hint" id="{field}-effective">(\d+) rooms? chosen', page)
    assert m, "no effective count"
    return int(m.group(1))


@pytest.fixture
def fleet(world: World, app: Any, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(pickers, "PAGE_SIZE", 4)
    t = world.tenant()
    rooms = [world.room(t, "DE", name=f"Aurora {i}") for i in range(1, 11)]  # Aurora 1 .. Aurora 10
    return t, rooms, signed_in(world, app, t.admin)


def _api(world: World, t: TenantH, path: str) -> Any:
    return expect(world.client.get(f"/api/v1/tenants/{t.id}{path}", headers=t.admin.headers), 200)


def test_a_room_groups_rooms_are_searched_paged_and_saved(world: World, fleet) -> None:  # type: ignore[no-untyped-def]
    t, rooms, b = fleet
    page = b.get(f"/t/{t.id}/room-groups/new").text
    assert '<label for="f-room_ids-q">Search rooms</label>' in page and ">Next rooms</button>" in page
    found = boxes(page, "room_ids")
    assert list(found) == [r["id"] for r in rooms[:4]]  # naturally: Aurora 1, 2, 3, 4
    preview = f"/t/{t.id}/room-groups/preview"
    form = {"name": "Tens", "rule": "", "room_ids": [rooms[9]["id"]]}
    searched = b.post(preview, {**form, "room_ids_q": "aurora 1", "search": "room_ids"})
    assert searched.status_code == 200
    got = boxes(searched.text, "room_ids")
    assert got == {rooms[9]["id"]: True, rooms[0]["id"]: False}  # Aurora 10 chosen, Aurora 1 found
    assert effective(searched.text, "room_ids") == 1 and 'value="Tens"' in searched.text
    second = b.post(preview, {**form, "room_ids_page": "1"})
    assert list(boxes(second.text, "room_ids"))[1:] == [r["id"] for r in rooms[4:8]]
    assert ">Previous rooms</button>" in second.text
    assert _api(world, t, "/room-groups")["items"] == []  # searching saved nothing
    made = b.post(f"/t/{t.id}/room-groups/new", {**form, "room_ids": [rooms[9]["id"], rooms[0]["id"]]})
    assert made.status_code == 303
    (group,) = _api(world, t, "/room-groups")["items"]
    assert sorted(_api(world, t, f"/room-groups/{group['id']}")["room_ids"]) == sorted(
        [rooms[9]["id"], rooms[0]["id"]]
    )


def test_an_assignments_members_and_scope_are_searched_with_the_effective_rooms(world: World, fleet) -> None:  # type: ignore[no-untyped-def]
    t, rooms, b = fleet
    people = [world.user(t, name=f"tech{i}") for i in range(6)]
    group = world.room_group(t, [r["id"] for r in rooms[:3]], name="Three")
    role_id = world.role(t, ["rooms.view"])
    url = f"/t/{t.id}/roles/{role_id}/assignments/new"
    page = b.get(url).text
    # the rooms' chooser has the field Search rooms and the button Search (SPEC §9); the other
    # choosers' buttons are named so that no other button's name contains "Search"
    for label in ("Search users", "Search security groups", "Search room groups", "Search rooms"):
        assert f">{label}</label>" in page
    for button in ("Find users", "Find security groups", "Find room groups", "Search"):
        assert f">{button}</button>" in page
    assert page.count("Search</button>") == 1
    form = {
        "name": "Techs",
        "description": "",
        "scope": "listed",
        "users": [people[5].id],
        "room_groups": [group["id"]],
        "rooms": [rooms[0]["id"], rooms[9]["id"]],
    }
    found = b.post(url, {**form, "users_q": "tech", "search": "users"})
    assert found.status_code == 200
    got = boxes(found.text, "users")
    assert got[people[5].id] is True and sum(1 for on in got.values() if not on) == 4  # a page of 4
    assert ">Next users</button>" in found.text
    assert effective(found.text, "rooms") == 4  # rooms 1-3 through the group, and room 10
    by_name = b.post(url, {**form, "rooms_q": "aurora 10", "search": "rooms"})
    assert boxes(by_name.text, "rooms") == {rooms[0]["id"]: True, rooms[9]["id"]: True}
    assert "No other rooms match “aurora 10”." in html.unescape(by_name.text)
    assert _api(world, t, f"/roles/{role_id}/assignments")["items"] == []  # nothing saved
    saved = b.post(url, form)
    assert saved.status_code == 303, saved.text[-800:]
    (made,) = _api(world, t, f"/roles/{role_id}/assignments")["items"]
    assert {m["id"] for m in made["members"]} == {people[5].id}
    assert sorted(made["scope"]["rooms"]) == sorted([rooms[0]["id"], rooms[9]["id"]])


def test_a_security_groups_members_are_searched_and_paged(world: World, fleet) -> None:  # type: ignore[no-untyped-def]
    t, _rooms, b = fleet
    for n in (10, 9, 1, 2, 3):
        body = {"upn": f"op{n}@{t.domain}", "display_name": f"Operator {n}", "password": PASSWORD}
        expect(world.client.post(f"/api/v1/tenants/{t.id}/users", json=body, headers=t.admin.headers), 201)
    url = f"/t/{t.id}/security-groups/new"
    page = b.get(url).text
    assert '<label for="f-member_ids-q">Search users</label>' in page
    searched = b.post(url, {"name": "Ops", "member_ids_q": "operator", "search": "member_ids"})
    names = re.findall(r'<label for="f-member_ids-r\d+">([^<]+)</label>', searched.text)
    assert names == [f"Operator {n} (op{n}@{t.domain})" for n in (1, 2, 3, 9)]  # natural order
    nxt = b.post(url, {"name": "Ops", "member_ids_q": "operator", "member_ids_page": "1"})
    assert re.findall(r'<label for="f-member_ids-r\d+">([^<]+)</label>', nxt.text) == [
        f"Operator 10 (op10@{t.domain})"
    ]
    assert _api(world, t, "/security-groups")["items"] == []
