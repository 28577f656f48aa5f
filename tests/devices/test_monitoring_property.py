"""A property of monitoring: whatever sequence of snapshots, suppressions (set, ended,
expired) and silences a room goes through, it has at most one open monitoring ticket per
signal, a ticket open exactly for each counted signal that is not ok, and its health is always
the function (devices.rules.derive_health) of its latest snapshot."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from roomwarden.devices.models import RoomSignal
from roomwarden.devices.monitor import raise_offline
from roomwarden.devices.rules import derive_health
from roomwarden.kit.time import utcnow
from roomwarden.rooms.models import OPEN_STATUSES, Room, Ticket
from tests.devices.helpers import enroll, report
from tests.factories import World, expect
from tests.rooms.helpers import base, get

SIGNALS = ("display", "calendar", "camera")
STATES = st.sampled_from(("ok", "warning", "failed"))
snapshot = st.dictionaries(st.sampled_from(SIGNALS), STATES, max_size=3).map(lambda d: ("snapshot", d))
step = st.one_of(
    snapshot,
    st.tuples(st.just("suppress"), st.sampled_from(SIGNALS)),
    st.tuples(st.just("unsuppress"), st.sampled_from(SIGNALS)),
    st.tuples(st.just("expire"), st.sampled_from(SIGNALS)),
    st.just(("silence",)),
)


class Model:
    def __init__(self) -> None:
        self.reported = False
        self.offline = False
        self.states: dict[str, str] = {}
        self.suppressed: set[str] = set()
        self.expired: set[str] = set()

    def health(self) -> str:
        return derive_health(
            reported=self.reported, offline=self.offline, states=self.states, suppressed=self.suppressed
        )

    def counted_failing(self) -> set[str]:
        failing = {s for s, st_ in self.states.items() if st_ != "ok" and s not in self.suppressed}
        return failing | ({"offline"} if self.offline else set())


def _open_per_signal(world: World, room_id: str) -> dict[str, int]:
    with world.transaction(write=False) as session:
        rows = session.execute(
            select(Ticket.signal, func.count())
            .where(
                Ticket.room_id == uuid.UUID(room_id),
                Ticket.source == "monitoring",
                Ticket.status.in_(OPEN_STATUSES),
            )
            .group_by(Ticket.signal)
        ).all()
    return {signal: n for signal, n in rows}


def _apply(world: World, t: Any, room_id: str, device: Any, model: Model, op: tuple) -> None:  # type: ignore[type-arg]
    url = f"{base(t)}/rooms/{room_id}/suppressions"
    if op[0] == "snapshot":
        report(world, device, op[1])
        model.reported, model.offline = True, False
        model.states = {s: st_ for s, st_ in op[1].items()}
        model.suppressed -= model.expired
        model.expired = set()
    elif op[0] == "suppress":
        body = {"reason": "planned", "until": (utcnow() + timedelta(days=2)).isoformat()}
        expect(world.client.put(f"{url}/{op[1]}", json=body, headers=t.admin.headers), 200)
        model.suppressed.add(op[1])
        model.expired.discard(op[1])
    elif op[0] == "unsuppress":
        active = op[1] in model.suppressed and op[1] not in model.expired
        code = world.client.delete(f"{url}/{op[1]}", headers=t.admin.headers).status_code
        assert code == 204
        if active:
            model.suppressed.discard(op[1])
    elif op[0] == "expire":
        if op[1] in model.suppressed:
            with world.transaction() as session:
                # it ran out just now, after the last report (had it run out before, that
                # report would have counted the signal already)
                last = session.scalar(select(Room.last_report_at).where(Room.id == uuid.UUID(room_id)))
                ran_out = utcnow() - timedelta(seconds=1)
                if last is not None:
                    ran_out = max(ran_out, last + timedelta(microseconds=1))
                session.execute(
                    update(RoomSignal)
                    .where(RoomSignal.room_id == uuid.UUID(room_id), RoomSignal.signal == op[1])
                    .values(suppressed_until=ran_out)
                )
            model.expired.add(op[1])  # counts again from the next report
    elif op[0] == "silence" and model.reported:
        with world.transaction() as session:
            session.execute(
                update(Room)
                .where(Room.id == uuid.UUID(room_id))
                .values({Room.last_report_at: utcnow() - timedelta(seconds=600)})
            )
            raise_offline(session, utcnow(), limit=100_000)
        model.offline = True


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# a suppression that expired after the last report, then another signal's suppression: the
# expired one must not count in health before the report that also opens its ticket
@example(
    steps=[
        ("suppress", "camera"),
        ("snapshot", {"camera": "warning", "display": "ok"}),
        ("expire", "camera"),
        ("suppress", "display"),
    ]
)
@given(steps=st.lists(step, min_size=1, max_size=10))
def test_one_open_ticket_per_signal_and_health_follows_the_latest_snapshot(world: World, steps: list) -> None:  # type: ignore[type-arg]
    t = world.tenant()
    room = world.room(t)
    device = enroll(world, t, room["id"])
    model = Model()
    for op in steps:
        _apply(world, t, room["id"], device, model, op)
        open_tickets = _open_per_signal(world, room["id"])
        assert all(n == 1 for n in open_tickets.values()), (op, open_tickets)
        assert set(open_tickets) == model.counted_failing(), (op, open_tickets)
        assert get(world, t, f"/rooms/{room['id']}")["health_state"] == model.health(), op
