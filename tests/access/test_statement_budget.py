"""How many statements, and on PostgreSQL how many round trips, an authorised request costs.
Not a timing: the count is what ``docs/performance.md`` argues from, so a change that adds a
round trip to every request fails here rather than only showing up in a benchmark. The
caller's row is read in the decision's own statement (``resolve_caller``), and the room's
device and signals in the room's (``rooms.service.visible_room_read``), so a room fetch costs
two SELECTs whoever asks; on PostgreSQL the transaction's ``BEGIN`` and the stating of the
caller's tenants ride in the decision's round trip (``kit.pipelined``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import pytest
from sqlalchemy import event

from tests.conftest import DB_KIND, SERVER_WORKERS
from tests.factories import World, expect
from tests.kit.round_trips import round_trips
from tests.partners.helpers import link

pytestmark = pytest.mark.skipif(SERVER_WORKERS > 0, reason="counts this process's statements")


@contextmanager
def selects(world: World) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(statement)

    engines = {world.db.engine, getattr(world.db, "write_engine", world.db.engine)}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


def test_an_authorised_room_fetch_costs_two_statements(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    room = world.room(c)
    group = world.room_group(c, [room["id"]])["id"]
    link(world, c, p, {"rooms": [], "room_groups": [group]})
    scoped = world.user(c)
    world.assign(c, c.roles["Site Tech"], users=[scoped], scope={"rooms": [room["id"]]})
    url = f"/api/v1/tenants/{c.id}/rooms/{room['id']}"
    for who in (c.admin, scoped, p.admin):
        expect(world.client.get(url, headers=who.headers), 200)  # warm: statements compiled
        with (
            selects(world) as seen,
            round_trips(world.db) if DB_KIND == "postgresql" else nullcontext() as trips,
        ):
            expect(world.client.get(url, headers=who.headers), 200)
        # the decision with the caller's row, then the room with its device and its signals
        assert len(seen) == 2, (who.upn, seen)
        if DB_KIND == "postgresql":
            # BEGIN, the statement that states the caller's tenant and its live links (row-level
            # security, docs/operations.md) and the decision in one round trip; the room with
            # its details; COMMIT
            assert trips is not None
            assert trips.count == 3, (who.upn, trips.messages)


def test_me_costs_three_statements(world: World) -> None:
    """``GET /me``: the caller's row (re-read on every request), the user with its home tenant,
    and the live customers whose links give it a role."""
    c, p = world.tenant(), world.tenant()
    link(world, c, p, {"rooms": [], "room_groups": []})
    for who in (c.admin, p.admin):
        expect(world.client.get("/api/v1/me", headers=who.headers), 200)  # warm
        with selects(world) as seen:
            me = expect(world.client.get("/api/v1/me", headers=who.headers), 200)
        assert len(seen) == 3, (who.upn, seen)
        assert me["tenant"]["relationship"] == "home" and me["user"]["upn"] == who.upn
