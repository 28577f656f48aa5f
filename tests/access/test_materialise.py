"""The materialised scope membership equals its definition after any sequence of changes:
rooms and groups added to and removed from scopes, rooms joining and leaving groups, groups
and rooms deleted, scopes deleted — through whatever path writes the tables, since the
triggers sit in the database."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from roomwarden.access import materialise
from roomwarden.access.models import Scope, ScopeEffectiveRoom, ScopeGroup, ScopeRoom
from roomwarden.kit.db import Database
from roomwarden.rooms.models import Room, RoomGroup, RoomGroupMember
from tests.factories import World, expect

N_ROOMS, N_GROUPS, N_SCOPES = 6, 3, 3

change = st.one_of(
    st.tuples(st.just("scope_room"), st.integers(0, N_SCOPES - 1), st.integers(0, N_ROOMS - 1)),
    st.tuples(st.just("scope_group"), st.integers(0, N_SCOPES - 1), st.integers(0, N_GROUPS - 1)),
    st.tuples(st.just("member"), st.integers(0, N_GROUPS - 1), st.integers(0, N_ROOMS - 1)),
    st.tuples(st.just("delete_group"), st.integers(0, N_GROUPS - 1), st.just(0)),
    st.tuples(st.just("delete_room"), st.integers(0, N_ROOMS - 1), st.just(0)),
    st.tuples(st.just("delete_scope"), st.integers(0, N_SCOPES - 1), st.just(0)),
)


def _toggle(session, model, **key) -> None:  # type: ignore[no-untyped-def]
    cols = [getattr(model, k) == v for k, v in key.items() if k != "tenant_id"]
    if session.execute(select(model).where(*cols)).first():
        session.execute(delete(model).where(*cols))
    else:
        session.execute(insert(model).values(**key))


def _effective(session, tenant_id: uuid.UUID) -> set[tuple[uuid.UUID, uuid.UUID]]:  # type: ignore[no-untyped-def]
    return set(
        session.execute(
            select(ScopeEffectiveRoom.scope_id, ScopeEffectiveRoom.room_id).where(
                ScopeEffectiveRoom.tenant_id == tenant_id
            )
        ).all()
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(change, min_size=1, max_size=14))
def test_materialisation_equals_definition_after_any_changes(world: World, db: Database, steps) -> None:  # type: ignore[no-untyped-def]
    t = world.tenant()
    tid = uuid.UUID(t.id)
    rooms = [uuid.UUID(world.room(t)["id"]) for _ in range(N_ROOMS)]
    groups = [uuid.UUID(world.room_group(t, [])["id"]) for _ in range(N_GROUPS)]
    with world.transaction() as session:
        scopes = []
        for _ in range(N_SCOPES):
            s = Scope(tenant_id=tid, all_rooms=False)
            session.add(s)
            session.flush()
            scopes.append(s.id)
    gone: set[uuid.UUID] = set()
    for kind, a, b in steps:
        with world.transaction() as session:
            if kind == "scope_room" and scopes[a] not in gone and rooms[b] not in gone:
                _toggle(session, ScopeRoom, tenant_id=tid, scope_id=scopes[a], room_id=rooms[b])
            elif kind == "scope_group" and scopes[a] not in gone and groups[b] not in gone:
                _toggle(session, ScopeGroup, tenant_id=tid, scope_id=scopes[a], group_id=groups[b])
            elif kind == "member" and groups[a] not in gone and rooms[b] not in gone:
                _toggle(session, RoomGroupMember, tenant_id=tid, group_id=groups[a], room_id=rooms[b])
            elif kind == "delete_group" and groups[a] not in gone:
                session.execute(delete(RoomGroup).where(RoomGroup.id == groups[a]))
                gone.add(groups[a])
            elif kind == "delete_room" and rooms[a] not in gone:
                session.execute(delete(Room).where(Room.id == rooms[a]))
                gone.add(rooms[a])
            elif kind == "delete_scope" and scopes[a] not in gone:
                session.execute(delete(Scope).where(Scope.id == scopes[a]))
                gone.add(scopes[a])
        with world.transaction(write=False) as session:
            drift = materialise.check(session, tid)
            assert drift.ok, (kind, a, b, drift)
            want = {(s, r) for _t, s, r in session.execute(materialise.definition(tid)).all()}
            assert _effective(session, tid) == want


def test_check_finds_and_repairs_hand_edits(world: World, db: Database) -> None:
    t = world.tenant()
    tid = uuid.UUID(t.id)
    a, b = world.room(t), world.room(t)
    group = world.room_group(t, [b["id"]])
    role = world.role(t, ["rooms.view"])
    world.assign(t, role, users=[world.user(t)], scope={"rooms": [a["id"]], "room_groups": [group["id"]]})
    with world.transaction(write=False) as session:
        assert materialise.check(session, tid).ok
        assert len(_effective(session, tid)) == 2
    c = world.room(t)
    with world.transaction() as session:  # someone edits the table by hand
        session.execute(delete(ScopeEffectiveRoom).where(ScopeEffectiveRoom.room_id == uuid.UUID(a["id"])))
        scope_id = next(iter(_effective(session, tid)))[0]
        session.execute(
            insert(ScopeEffectiveRoom).values(tenant_id=tid, scope_id=scope_id, room_id=uuid.UUID(c["id"]))
        )
    with world.transaction() as session:
        drift = materialise.check(session, tid)
        assert [p[2] for p in drift.missing] == [uuid.UUID(a["id"])]
        assert [p[2] for p in drift.extra] == [uuid.UUID(c["id"])]
        materialise.repair(session, drift)
    with world.transaction(write=False) as session:
        assert materialise.check(session, tid).ok


def test_group_membership_change_reaches_a_scoped_user_on_the_next_request(world: World) -> None:
    t = world.tenant()
    a, b = world.room(t), world.room(t)
    group = world.room_group(t, [a["id"]])
    user = world.user(t)
    world.assign(t, world.role(t, ["rooms.view"]), users=[user], scope={"room_groups": [group["id"]]})
    base = f"/api/v1/tenants/{t.id}"
    assert world.client.get(f"{base}/rooms/{b['id']}", headers=user.headers).status_code == 404
    expect(
        world.client.patch(
            f"{base}/room-groups/{group['id']}", json={"room_ids": [b["id"]]}, headers=t.admin.headers
        ),
        200,
    )
    assert world.client.get(f"{base}/rooms/{b['id']}", headers=user.headers).status_code == 200
    assert world.client.get(f"{base}/rooms/{a['id']}", headers=user.headers).status_code == 404


def _race(world: World, first, second) -> None:  # type: ignore[no-untyped-def]
    """``first`` writes and holds its transaction open while ``second`` writes and commits;
    then ``first`` commits. Without the triggers' row locks ``second`` would not see
    ``first``'s half of the change on PostgreSQL (read committed), and the pair it makes
    together would be missing or stale."""
    import threading
    import time

    wrote = threading.Event()
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with world.transaction() as session:
                first(session)
                session.flush()
                wrote.set()
                time.sleep(0.5)  # second is now blocked on our locks (or, without them, done)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            wrote.set()

    def two() -> None:
        wrote.wait(10)
        try:
            with world.transaction() as session:
                second(session)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one), threading.Thread(target=two)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not errors, errors


def _bare_scope(db: Database, tid: uuid.UUID) -> uuid.UUID:
    with db.transaction(tenants=[tid]) as session:
        s = Scope(tenant_id=tid, all_rooms=False)
        session.add(s)
        session.flush()
        return s.id


def test_room_joins_a_group_while_the_group_joins_a_scope(world: World, db: Database) -> None:
    t = world.tenant()
    tid = uuid.UUID(t.id)
    room = uuid.UUID(world.room(t)["id"])
    group = uuid.UUID(world.room_group(t, [])["id"])
    scope = _bare_scope(db, tid)
    _race(
        world,
        lambda s: s.execute(insert(RoomGroupMember).values(tenant_id=tid, group_id=group, room_id=room)),
        lambda s: s.execute(insert(ScopeGroup).values(tenant_id=tid, scope_id=scope, group_id=group)),
    )
    with world.transaction(write=False) as session:
        assert materialise.check(session, tid).ok
        assert (scope, room) in _effective(session, tid)


def test_room_leaves_a_group_while_it_leaves_the_scope_list(world: World, db: Database) -> None:
    t = world.tenant()
    tid = uuid.UUID(t.id)
    room = uuid.UUID(world.room(t)["id"])
    group = uuid.UUID(world.room_group(t, [str(room)])["id"])
    scope = _bare_scope(db, tid)
    with world.transaction() as session:
        session.execute(insert(ScopeRoom).values(tenant_id=tid, scope_id=scope, room_id=room))
        session.execute(insert(ScopeGroup).values(tenant_id=tid, scope_id=scope, group_id=group))
    _race(
        world,
        lambda s: s.execute(
            delete(RoomGroupMember).where(RoomGroupMember.group_id == group, RoomGroupMember.room_id == room)
        ),
        lambda s: s.execute(delete(ScopeRoom).where(ScopeRoom.scope_id == scope, ScopeRoom.room_id == room)),
    )
    with world.transaction(write=False) as session:
        assert materialise.check(session, tid).ok
        assert (scope, room) not in _effective(session, tid)


def test_deleting_a_group_withdraws_its_rooms_from_every_scope_naming_it(world: World) -> None:
    """Deleting a group removes its members and its place in every scope at once (foreign-key
    cascades, both of the same statement): the rooms it brought into a scope leave it. On
    PostgreSQL the two cascades' triggers ran only after both child tables were emptied, so
    each found nothing left to withdraw and the user kept the deleted group's rooms."""
    t = world.tenant()
    room = world.room(t)
    kept = world.room(t)
    group = world.room_group(t, [room["id"]])
    user = world.user(t)
    role = world.role(t, ["rooms.view"])
    world.assign(t, role, users=[user], scope={"room_groups": [group["id"]], "rooms": [kept["id"]]})
    url = f"/api/v1/tenants/{t.id}/rooms/{room['id']}"
    expect(world.client.get(url, headers=user.headers), 200)
    gone = world.client.delete(f"/api/v1/tenants/{t.id}/room-groups/{group['id']}", headers=t.admin.headers)
    expect(gone, 204)
    expect(world.client.get(url, headers=user.headers), 404)
    expect(world.client.get(f"/api/v1/tenants/{t.id}/rooms/{kept['id']}", headers=user.headers), 200)
    with world.transaction(write=False) as session:
        assert materialise.check(session, uuid.UUID(t.id)).ok
