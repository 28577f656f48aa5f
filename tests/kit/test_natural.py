"""Natural sort keys (kit.natural): numbers by value, letter case and accents folded, the
same order on SQLite and PostgreSQL whatever the database's locale."""

from __future__ import annotations

import random
import uuid

from sqlalchemy import select

from roomwarden.kit.natural import natural_key
from roomwarden.rooms.models import Room, RoomGroup

NAMES = ["Aurora", "aurora 1", "Aurora2", "aurora10", "Aurora10b", "Aurora100", "Émile 3", "emile 20", "Zulu"]


def test_numbers_sort_by_value_and_letters_by_folded_case() -> None:
    shuffled = random.Random(7).sample(NAMES, len(NAMES))
    assert sorted(shuffled, key=natural_key) == NAMES
    assert natural_key("Room 007") == natural_key("room 7")
    assert natural_key("Aurora2") < natural_key("Aurora10") < natural_key("Aurora100")


def test_the_stored_key_follows_the_name_and_orders_in_the_database(world) -> None:
    t = world.tenant()
    made = [world.room(t, "DE", name=name) for name in reversed(NAMES)]
    group = world.room_group(t, [made[0]["id"]], name="Group 10")
    with world.transaction() as s:
        ordered = s.scalars(
            select(Room.name).where(Room.tenant_id == uuid.UUID(str(t.id))).order_by(Room.name_key, Room.id)
        )
        assert list(ordered) == NAMES
        renamed = s.get_one(RoomGroup, uuid.UUID(group["id"]))
        renamed.name = "Group 9"
    with world.transaction() as s:
        key = s.scalar(select(RoomGroup.name_key).where(RoomGroup.id == uuid.UUID(group["id"])))
        assert key == natural_key("Group 9") == "group 019"
