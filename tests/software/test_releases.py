"""The release catalogue (SPEC §12 "Releases"): the operator publishes, everyone signed in
lists; versions are dotted numbers compared as numbers; a duplicate is 409."""

from __future__ import annotations

import pytest

from roomwarden.software import versions
from tests.factories import World, expect
from tests.software.helpers import RELEASES, component, publish

LIST = "/api/v1/releases"


def test_the_operator_publishes_and_everyone_signed_in_lists(world: World) -> None:
    name = component()
    made = publish(world, name, "1.4.2", "Fixes the camera's white balance")
    assert made["component"] == name and made["version"] == "1.4.2"
    assert made["notes"] == "Fixes the camera's white balance" and made["published_at"]
    t = world.tenant()
    user = world.user(t)  # no role at all: signed in is enough
    page = expect(world.client.get(LIST, params={"component": name}, headers=user.headers), 200)
    assert [(r["id"], r["version"]) for r in page["items"]] == [(made["id"], "1.4.2")]


def test_publishing_needs_the_operator_token_and_listing_a_sign_in(world: World) -> None:
    t = world.tenant()
    body = {"component": component(), "version": "1.0.0"}
    assert world.client.post(RELEASES, json=body, headers=t.admin.headers).status_code == 401
    assert world.client.post(RELEASES, json=body).status_code == 401
    assert world.client.get(LIST).status_code == 401


def test_a_duplicate_is_409_and_equal_numbers_are_one_version(world: World) -> None:
    name = component()
    publish(world, name, "2.0")
    for again in ("2.0", "2.0.0", "2.00.0"):
        answer = world.client.post(
            RELEASES, json={"component": name, "version": again}, headers=world.operator
        )
        assert answer.status_code == 409, again
        assert answer.headers["content-type"].startswith("application/problem+json")
    publish(world, name, "2.0.1")
    publish(world, component(), "2.0")  # another component may have the same version


@pytest.mark.parametrize(
    "body",
    [
        {"component": "agent", "version": "1.4.2-beta"},
        {"component": "agent", "version": "v1.4"},
        {"component": "agent", "version": "1..4"},
        {"component": "agent", "version": ""},
        {"component": "agent", "version": "1.2.3.4.5.6.7"},
        {"component": "agent", "version": "1234567890.1"},
        {"component": "agent", "version": 1.4},
        {"component": "bad name", "version": "1.0"},
        {"component": "-agent", "version": "1.0"},
        {"component": "a" * 65, "version": "1.0"},
        {"component": "agent"},
        {"component": "agent", "version": "1.0", "extra": True},
    ],
)
def test_invalid_releases_are_422(world: World, body: dict) -> None:
    answer = world.client.post(RELEASES, json=body, headers=world.operator)
    assert answer.status_code == 422, answer.text


def test_versions_compare_as_numbers() -> None:
    keys = [versions.key(v) for v in ("1.9", "1.10", "1.10.1", "2", "10.0")]
    assert keys == sorted(keys)  # type: ignore[type-var]
    assert versions.key("1.4") == versions.key("1.4.0")
    assert versions.key("1.4.2rc1") is None and versions.key("latest") is None
    assert versions.newer(versions.key("1.10"), versions.key("1.9"))  # type: ignore[arg-type]
    assert versions.newer(versions.key("0.1"), None)  # type: ignore[arg-type]


def test_the_list_pages_and_filters(world: World) -> None:
    name = component()
    for v in ("1.0", "1.1", "1.2"):
        publish(world, name, v)
    t = world.tenant()
    first = expect(
        world.client.get(LIST, params={"component": name, "limit": 2}, headers=t.admin.headers), 200
    )
    assert [r["version"] for r in first["items"]] == ["1.0", "1.1"] and first["next_cursor"]
    rest = expect(
        world.client.get(
            LIST, params={"component": name, "cursor": first["next_cursor"]}, headers=t.admin.headers
        ),
        200,
    )
    assert [r["version"] for r in rest["items"]] == ["1.2"]
    bad = world.client.get(LIST, params={"component": "no such name"}, headers=t.admin.headers)
    assert bad.status_code == 422
