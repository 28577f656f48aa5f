"""A refused form speaks to people: every kind of refusal of the API's input models reads as
a sentence written for the person at the form, never as the validator's wording."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from roomwarden.access.schemas import AssignmentCreate, RoleCreate
from roomwarden.portal.forms import FieldErrors, validate
from roomwarden.rooms.schemas import RoomCreate, RoomUpdate
from roomwarden.tenants.schemas import SettingsUpdate

# The validator's own phrasing: none of it may reach a person.
MACHINE = ("should", "Input", "after validation", "pattern", "valid UUID", "parsing", "Field required")


@pytest.mark.parametrize(
    ("model", "data", "field", "says"),
    [
        (RoomCreate, {"resource_account": "a@b.example", "country": "DE"}, "name", "This field is required."),
        (RoomCreate, {"name": "", "resource_account": "a@b.example"}, "name", "This field is required."),
        (RoomCreate, {"name": "x" * 300, "resource_account": "a@b.example"}, "name", "Use at most"),
        (RoomUpdate, {"update_ring_id": "not-an-id"}, "update_ring_id", "Choose one of the items offered."),
        (
            AssignmentCreate,
            {"name": "Desk", "members": [], "scope": {"all_rooms": True}},
            "members",
            "Choose at least one.",
        ),
        (RoleCreate, {"name": "Desk", "permissions": ["rooms.fly"]}, "permissions", "Choose one of the"),
        (SettingsUpdate, {"enable_all_tickets_view": "?"}, "enable_all_tickets_view", "Choose yes or no."),
    ],
)
def test_each_refusal_reads_as_a_sentence_for_people(
    model: Any, data: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(FieldErrors) as refused:
        validate(model, data)
    message = refused.value.fields[field]
    assert message.startswith(says), message
    assert message.endswith(".") and not any(word in message for word in MACHINE), message


def test_numbers_and_lists_say_their_bounds() -> None:
    from pydantic import BaseModel, Field

    class Form(BaseModel):
        days: int = Field(1, ge=1, le=60)
        ids: list[uuid.UUID] = Field(default_factory=list, max_length=2)

    for data, says in (
        ({"days": "0"}, "Enter 1 or more."),
        ({"days": "61"}, "Enter 60 or less."),
        ({"days": "many"}, "Enter a whole number."),
    ):
        with pytest.raises(FieldErrors) as refused:
            validate(Form, data)
        assert refused.value.fields["days"] == says
    with pytest.raises(FieldErrors) as refused:
        validate(Form, {"ids": [str(uuid.uuid4()) for _ in range(3)]})
    assert refused.value.fields["ids"] == "Choose at most 2."


def test_countries_read_as_names_with_their_codes(world, app) -> None:  # type: ignore[no-untyped-def]
    """SPEC §1 stores ISO 3166-1 alpha-2 codes; people read "Germany (DE)" (pycountry's data)."""
    from roomwarden.kit import countries
    from tests.portal.helpers import signed_in

    assert countries.label("DE") == "Germany (DE)" and countries.label("KR") == "South Korea (KR)"
    assert len(countries.ISO_3166_ALPHA2) == 249
    t = world.tenant()
    room = world.room(t, "KR", city="Seoul")
    b = signed_in(world, app, t.admin)
    listing = b.get(f"/t/{t.id}/rooms").text
    assert '<option value="KR">South Korea (KR)</option>' in listing
    assert "<td>South Korea (KR)</td>" in listing
    assert "Seoul, South Korea (KR)" in b.get(f"/t/{t.id}/rooms/{room['id']}").text
    form = b.get(f"/t/{t.id}/rooms/new").text
    assert form.index("Germany (DE)") < form.index("South Korea (KR)") < form.index("Zimbabwe (ZW)")
