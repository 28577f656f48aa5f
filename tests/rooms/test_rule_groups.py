"""Rule-based room groups (SPEC §3): a rule's members are exactly the rooms it selects, after
every change that can move them, and scopes naming the group follow on the next request."""

from __future__ import annotations

import collections
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomwarden.access import materialise
from roomwarden.audit.models import AuditRecord
from roomwarden.rooms import rules
from tests.factories import World, expect
from tests.partners.helpers import link
from tests.rooms.helpers import all_pages, base, get, rings_by_name

US_BUT_LABS = 'country in ["US", "CA"] and not (city == "Toronto") and not name startswith "Lab"'


def _rule_group(world: World, t, rule: str, name: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    body = {"name": name or f"Rule {uuid.uuid4().hex[:6]}", "rule": rule}
    return expect(world.post(t, "/room-groups", body), 201)


def test_a_rule_group_holds_exactly_what_its_rule_selects_and_follows_every_change(world: World) -> None:
    t = world.tenant()
    ny = world.room(t, "US", name="New York 1", city="New York")
    toronto = world.room(t, "CA", name="Toronto 1", city="Toronto")
    lab = world.room(t, "US", name="Lab 7", city="Boston")
    world.room(t, "DE", name="Berlin 1", city="Berlin")
    group = _rule_group(world, t, US_BUT_LABS)
    assert group["rule"] == US_BUT_LABS and group["room_ids"] == [ny["id"]]
    url = f"{base(t)}/room-groups/{group['id']}"
    h = t.admin.headers
    # a new room that matches joins at once
    vancouver = world.room(t, "CA", name="Vancouver 1", city="Vancouver")
    assert get(world, t, f"/room-groups/{group['id']}")["room_ids"] == sorted([ny["id"], vancouver["id"]])
    # a changed room joins or leaves
    expect(world.client.patch(f"{base(t)}/rooms/{toronto['id']}", json={"city": "Ottawa"}, headers=h), 200)
    expect(world.client.patch(f"{base(t)}/rooms/{ny['id']}", json={"name": "Lab NY"}, headers=h), 200)
    members = get(world, t, f"/room-groups/{group['id']}")["room_ids"]
    assert members == sorted([toronto["id"], vancouver["id"]])
    # a deleted room leaves
    expect(world.client.delete(f"{base(t)}/rooms/{vancouver['id']}", headers=h), 204)
    assert get(world, t, f"/room-groups/{group['id']}")["room_ids"] == [toronto["id"]]
    # its members are not edited by hand
    refused = world.client.patch(url, json={"room_ids": [lab["id"]]}, headers=h)
    assert refused.status_code == 422 and "follow its rule" in refused.json()["detail"]


def test_renaming_a_ring_moves_the_rule_groups_that_name_it(world: World) -> None:
    t = world.tenant()
    rings = rings_by_name(world, t)
    a = world.room(t)
    b = world.room(t, update_ring_id=rings["Validation"]["id"])
    group = _rule_group(world, t, 'update_ring == "Pilot"')
    assert group["room_ids"] == []
    h = t.admin.headers
    ring_url = f"{base(t)}/update-rings/{rings['Validation']['id']}"
    expect(world.client.patch(ring_url, json={"name": "Pilot"}, headers=h), 200)
    assert get(world, t, f"/room-groups/{group['id']}")["room_ids"] == [b["id"]]
    moved = {"update_ring_id": rings["Validation"]["id"]}
    expect(world.client.patch(f"{base(t)}/rooms/{a['id']}", json=moved, headers=h), 200)
    assert get(world, t, f"/room-groups/{group['id']}")["room_ids"] == sorted([a["id"], b["id"]])


def test_a_scope_naming_a_rule_group_applies_on_the_next_request(world: World) -> None:
    t = world.tenant()
    group = _rule_group(world, t, 'country == "US"')
    user = world.user(t)
    world.assign(t, world.role(t, ["rooms.view"]), users=[user], scope={"room_groups": [group["id"]]})
    room = world.room(t, "DE")
    url = f"{base(t)}/rooms/{room['id']}"
    assert world.client.get(url, headers=user.headers).status_code == 404
    expect(world.client.patch(url, json={"country": "US"}, headers=t.admin.headers), 200)
    assert world.client.get(url, headers=user.headers).status_code == 200
    expect(world.client.patch(url, json={"country": "FR"}, headers=t.admin.headers), 200)
    assert world.client.get(url, headers=user.headers).status_code == 404
    with world.transaction(write=False) as session:
        assert materialise.check(session, uuid.UUID(t.id)).ok


@pytest.mark.parametrize("who", ["scoped user", "partner"])
def test_scopes_naming_a_rule_group_see_exactly_its_rooms_and_nothing_else(world: World, who: str) -> None:
    """The scope matrix for a rule group in a person's and a partner link's scope: reads, lists
    and counts follow the rule, and everything else answers as if it did not exist."""
    t = world.tenant()
    group = _rule_group(world, t, 'country == "US" and not name startswith "Lab"')
    us, lab, de = world.room(t, "US"), world.room(t, "US", name="Lab 1"), world.room(t, "DE")
    if who == "partner":
        partner = world.tenant()
        link(world, t, partner, scope={"room_groups": [group["id"]]})
        viewer = partner.admin
    else:
        viewer = world.user(t)
        world.assign(
            t,
            world.role(t, ["rooms.view", "groups.view"]),
            users=[viewer],
            scope={"room_groups": [group["id"]]},
        )

    def seen() -> list[str]:
        return [r["id"] for r in all_pages(world, t, "/rooms", who=viewer, limit=100)]

    assert seen() == [us["id"]]
    for hidden in (lab, de):
        assert world.client.get(f"{base(t)}/rooms/{hidden['id']}", headers=viewer.headers).status_code == 404
    assert get(world, t, f"/room-groups/{group['id']}", who=viewer)["room_ids"] == [us["id"]]
    assert [g["room_count"] for g in get(world, t, "/room-groups", who=viewer)["items"]] == [1]
    # the customer changes rooms: the viewer's reach follows on the next request
    h = t.admin.headers
    expect(world.client.patch(f"{base(t)}/rooms/{de['id']}", json={"country": "US"}, headers=h), 200)
    expect(world.client.patch(f"{base(t)}/rooms/{us['id']}", json={"name": "Lab 2"}, headers=h), 200)
    assert seen() == [de["id"]]
    assert world.client.get(f"{base(t)}/rooms/{us['id']}", headers=viewer.headers).status_code == 404
    # the rule itself changes
    url = f"{base(t)}/room-groups/{group['id']}"
    expect(world.client.patch(url, json={"rule": 'name startswith "Lab"'}, headers=h), 200)
    assert seen() == sorted([us["id"], lab["id"]])


def test_changing_the_rule_is_audited_with_the_rooms_added_and_removed(world: World) -> None:
    t = world.tenant()
    us = [world.room(t, "US") for _ in range(3)]
    de = world.room(t, "DE")
    group = _rule_group(world, t, 'country == "US"')
    url = f"{base(t)}/room-groups/{group['id']}"
    changed = expect(world.client.patch(url, json={"rule": 'country == "DE"'}, headers=t.admin.headers), 200)
    assert changed["room_ids"] == [de["id"]]
    with world.transaction(write=False) as session:
        record = (
            session.query(AuditRecord)
            .filter(AuditRecord.object_id == group["id"])
            .order_by(AuditRecord.seq.desc())
            .first()
        )
        assert record is not None
        assert record.details["rooms_added"] == 1 and record.details["rooms_removed"] == 3
        assert record.details["rule"] == {"from": 'country == "US"', "to": 'country == "DE"'}
    # back to a list: the rooms it holds now stay, and may then be edited by hand
    listed = expect(world.client.patch(url, json={"rule": None}, headers=t.admin.headers), 200)
    assert listed["rule"] is None and listed["room_ids"] == [de["id"]]
    edited = expect(world.client.patch(url, json={"room_ids": [us[0]["id"]]}, headers=t.admin.headers), 200)
    assert edited["room_ids"] == [us[0]["id"]]


@pytest.mark.parametrize(
    ("rule", "position", "words"),
    [
        ('country = "US"', 9, "unexpected character '='"),
        ("country == US", 12, "expected a string in double quotes"),
        ('country == "US" and', 20, "ends too early"),
        ('nmae == "x"', 1, "a field (country, city, building, name, update_ring)"),
        ('((((((city == "x"))))))', 6, "5 levels"),
        ('city == "x', 9, "not closed"),
        ("", 1, "empty"),
        ('__import__("os").system("true")', 1, "unexpected character '_'"),
    ],
)
def test_an_invalid_rule_answers_422_with_the_position_and_the_reason(
    world: World, rule: str, position: int, words: str
) -> None:
    t = world.tenant()
    for path in ("/room-groups", "/room-groups/preview"):
        body = {"name": "Bad", "rule": rule} if path == "/room-groups" else {"rule": rule}
        answer = world.post(t, path, body)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["position"] == position and words in problem["reason"], problem
    assert get(world, t, "/room-groups")["items"] == []


def test_a_rule_is_at_most_3072_characters(world: World) -> None:
    t = world.tenant()
    rule = " or ".join(['city == "x"'] * 300)
    assert len(rule) > 3072
    answer = world.post(t, "/room-groups/preview", {"rule": rule})
    assert answer.status_code == 422 and "3072" in answer.json()["reason"]


def test_preview_counts_what_the_rule_selects_of_the_rooms_the_caller_sees(world: World) -> None:
    t = world.tenant()
    rooms = [world.room(t, "US", name=f"Room {c}") for c in "BCA"]
    world.room(t, "DE")
    seen = expect(world.post(t, "/room-groups/preview", {"rule": 'country == "US"'}), 200)
    assert seen["count"] == 3 and [r["name"] for r in seen["rooms"]] == ["Room A", "Room B", "Room C"]
    assert get(world, t, "/room-groups")["items"] == []  # nothing saved
    # a principal with tenant-wide groups.create but rooms.view on one room counts only that one
    planner = world.user(t)
    world.assign(t, world.role(t, ["groups.create", "groups.view"]), users=[planner])
    world.assign(t, world.role(t, ["rooms.view"]), users=[planner], scope={"rooms": [rooms[0]["id"]]})
    partial = expect(world.post(t, "/room-groups/preview", {"rule": 'country == "US"'}, as_=planner), 200)
    assert partial["count"] == 1 and [r["id"] for r in partial["rooms"]] == [rooms[0]["id"]]


def test_only_tenant_wide_group_rights_write_or_preview_a_rule(world: World) -> None:
    t = world.tenant()
    inside = world.room(t, "US")
    lead = world.user(t)
    world.assign(
        t,
        world.role(t, ["groups.create", "groups.modify", "groups.view", "rooms.view"]),
        users=[lead],
        scope={"rooms": [inside["id"]]},
    )
    rule = {"rule": 'country == "US"'}
    assert world.post(t, "/room-groups", {"name": "R", **rule}, as_=lead).status_code == 403
    assert world.post(t, "/room-groups/preview", rule, as_=lead).status_code == 403
    group = world.room_group(t, [inside["id"]])
    world.assign(t, world.role(t, ["groups.modify"]), users=[lead], scope={"room_groups": [group["id"]]})
    url = f"{base(t)}/room-groups/{group['id']}"
    turned = world.client.patch(url, json={"rule": 'country == "US"'}, headers=lead.headers)
    assert turned.status_code == 403
    assert get(world, t, f"/room-groups/{group['id']}")["rule"] is None


def test_a_group_is_a_list_or_a_rule_not_both(world: World) -> None:
    t = world.tenant()
    room = world.room(t)
    both = world.post(t, "/room-groups", {"name": "Both", "room_ids": [room["id"]], "rule": 'city == "x"'})
    assert both.status_code == 422


# -- properties ----------------------------------------------------------------------------------

FIELD_VALUES = {
    "country": ["US", "CA", "DE"],
    "city": ["", "Toronto", "New York", 'Quote"d'],
    "building": ["", "A", "B"],
    "name": ["Lab 1", "Lab 2", "Room 1", "Room 2"],
    "update_ring": ["Validation", "General", "Pilot"],
}


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tests() -> st.SearchStrategy[str]:
    field = st.sampled_from(sorted(FIELD_VALUES))

    def comparisons(f: str) -> st.SearchStrategy[str]:
        value = st.sampled_from([*FIELD_VALUES[f], "Lab", "Room", "x"])
        values = st.lists(value, max_size=3).map(lambda vs: "[" + ", ".join(_quoted(v) for v in vs) + "]")
        return st.one_of(
            st.tuples(st.sampled_from(["==", "!="]), value).map(lambda t: f"{f} {t[0]} {_quoted(t[1])}"),
            st.tuples(st.sampled_from(["in", "not in"]), values).map(lambda t: f"{f} {t[0]} {t[1]}"),
            value.map(lambda v: f"{f} startswith {_quoted(v)}"),
        )

    return field.flatmap(comparisons)


RULES = st.recursive(
    _tests(),
    lambda inner: st.one_of(
        inner.map(lambda r: f"not ({r})"),
        st.lists(inner, min_size=2, max_size=3).map(lambda rs: " and ".join(f"({r})" for r in rs)),
        st.lists(inner, min_size=2, max_size=3).map(lambda rs: " or ".join(f"({r})" for r in rs)),
    ),
    max_leaves=6,
).filter(lambda r: r.count("(") - r.count('"(') <= 5 and _nesting(r) <= 5)


def _nesting(rule: str) -> int:
    depth = deepest = 0
    for ch in rule:  # the generated strings hold no parentheses
        depth += ch == "("
        depth -= ch == ")"
        deepest = max(deepest, depth)
    return deepest


CHANGES = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(sorted(FIELD_VALUES)), st.integers(0, 3)),
        st.tuples(
            st.just("update"), st.sampled_from(["country", "city", "building", "name"]), st.integers(0, 3)
        ),
        st.tuples(st.just("move"), st.just("update_ring"), st.integers(0, 3)),
        st.tuples(st.just("rename_ring"), st.just("update_ring"), st.integers(0, 3)),
        st.tuples(st.just("delete"), st.just(""), st.integers(0, 3)),
    ),
    max_size=8,
)


def _truth(world: World, t, rule: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The reference: the rule evaluated in Python over every room's fields, read afresh."""
    test = rules.matcher(rules.parse(rule))
    ring_names = {r["id"]: r["name"] for r in get(world, t, "/update-rings")["items"]}
    rooms = all_pages(world, t, "/rooms", limit=100)
    return sorted(
        r["id"]
        for r in rooms
        if test(
            {
                **{f: r[f] for f in ("country", "city", "building", "name")},
                "update_ring": ring_names[r["update_ring_id"]],
            }
        )
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=RULES, changes=CHANGES, data=st.data())
def test_membership_always_equals_the_rule_over_every_room(world: World, rule: str, changes, data) -> None:  # type: ignore[no-untyped-def]
    t = world.tenant()
    h = t.admin.headers
    rings = list(rings_by_name(world, t).values())
    rooms = [world.room(t, c, name=n) for c, n in (("US", "Lab 1"), ("CA", "Room 1"), ("DE", "Room 2"))]
    group = _rule_group(world, t, rule)
    url = f"{base(t)}/room-groups/{group['id']}"
    assert get(world, t, f"/room-groups/{group['id']}")["room_ids"] == _truth(world, t, rule)
    for kind, field, i in changes:
        value = data.draw(st.sampled_from(FIELD_VALUES[field])) if field else None
        if kind == "create":
            extra = {f: data.draw(st.sampled_from(FIELD_VALUES[f])) for f in ("city", "building")}
            rooms.append(world.room(t, data.draw(st.sampled_from(FIELD_VALUES["country"])), **extra))
        elif kind == "update" and rooms:
            room = rooms[i % len(rooms)]
            expect(world.client.patch(f"{base(t)}/rooms/{room['id']}", json={field: value}, headers=h), 200)
        elif kind == "move" and rooms:
            room = rooms[i % len(rooms)]
            ring = rings[i % len(rings)]
            expect(
                world.client.patch(
                    f"{base(t)}/rooms/{room['id']}", json={"update_ring_id": ring["id"]}, headers=h
                ),
                200,
            )
        elif kind == "rename_ring":
            ring = rings[i % len(rings)]
            taken = {r["name"] for r in rings}
            if value not in taken:
                expect(
                    world.client.patch(
                        f"{base(t)}/update-rings/{ring['id']}", json={"name": value}, headers=h
                    ),
                    200,
                )
                rings = list(rings_by_name(world, t).values())
        elif kind == "delete" and rooms:
            room = rooms.pop(i % len(rooms))
            expect(world.client.delete(f"{base(t)}/rooms/{room['id']}", headers=h), 204)
        members = expect(world.client.get(url, headers=h), 200)["room_ids"]
        assert members == _truth(world, t, rule), (kind, field, i, value)
    with world.transaction(write=False) as session:
        assert materialise.check(session, uuid.UUID(t.id)).ok


def test_ten_thousand_random_strings_never_answer_500_and_never_run_anything(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Grammar pieces, Python and SQL fragments and noise, through the preview endpoint."""
    t = world.tenant()
    world.room(t, "US", name="Lab 1")
    canary = tmp_path / "ran"
    pieces = [
        "country",
        "city",
        "building",
        "name",
        "update_ring",
        "time_zone",
        "==",
        "!=",
        "in",
        "not",
        "and",
        "or",
        "startswith",
        "(",
        ")",
        "[",
        "]",
        ",",
        '"US"',
        '"',
        "\\",
        '\\"',
        " ",
        "  ",
        "\n",
        "\t",
        "'",
        "`",
        "{",
        "}",
        "__import__",
        "eval",
        "exec",
        "lambda",
        ";",
        "--",
        "/*",
        "*/",
        "%",
        "_",
        "' OR 1=1 --",
        "$(id)",
        f'__import__("pathlib").Path("{canary}").touch()',
        f"open('{canary}', 'w')",
        "\x00",
        "é",
        "🦆",
        "0",
        "1e9",
        "True",
        "None",
        "[]",
        '""',
        '=="',
        "country in [",
        ")))))",
        "((((((",
    ]
    valid = [US_BUT_LABS, 'update_ring == "General" or building != ""', 'name startswith "Lab"']
    rng = random.Random(20261207)
    seen: collections.Counter[int] = collections.Counter()
    for _ in range(10_000):
        roll = rng.random()
        if roll < 0.3:  # a valid rule, mutated a little
            chars = list(rng.choice(valid))
            for _ in range(rng.randint(0, 3)):
                at = rng.randrange(len(chars) + 1)
                chars[at : at + rng.randint(0, 2)] = rng.choice(pieces)
            text = "".join(chars)
        elif roll < 0.4:
            text = "".join(chr(rng.randint(1, 0x2FF)) for _ in range(rng.randint(0, 40)))
        else:
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        answer = world.post(t, "/room-groups/preview", {"rule": text})
        seen[answer.status_code] += 1
        assert answer.status_code in (200, 422), (text, answer.status_code, answer.text)
    assert not canary.exists()
    assert seen[200] > 0 and seen[422] > 0
