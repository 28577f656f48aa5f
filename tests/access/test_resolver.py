"""The single access decision: ``RoomSet`` and ``Access`` rules, ``resolve_access`` on real
worlds, and revocation seen by another worker on its very next request."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.access.models import RolePermission
from roomwarden.access.permissions import PARTNER_ADMIN, TENANT_LEVEL, Permission
from roomwarden.access.resolver import Access, Grant, LinkInfo, RoomSet, resolve_access
from roomwarden.app import create_app
from roomwarden.identity.principal import Principal
from roomwarden.kit.db import Database
from roomwarden.kit.errors import Forbidden, NotFound
from roomwarden.rooms.models import Room, RoomGroup
from tests.factories import TenantH, UserH, World, expect
from tests.partners.helpers import link

P = Permission
T = uuid.uuid4()
SCOPE = frozenset({uuid.uuid4()})


def principal(*, tenant: uuid.UUID = T, ga: bool = False) -> Principal:
    return Principal(uuid.uuid4(), tenant, "someone@example.com", "Someone", ga)


def partner_link(all_rooms: bool = False) -> LinkInfo:
    return LinkInfo(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), all_rooms)


# -- RoomSet and Access, without a database ----------------------------------------------------


@pytest.mark.parametrize(
    ("grant", "link", "empty", "everything"),
    [
        (None, None, True, False),
        (None, partner_link(all_rooms=True), True, False),
        (Grant(all_rooms=True), None, False, True),
        (Grant(scope_ids=SCOPE), None, False, False),
        (Grant(all_rooms=True), partner_link(all_rooms=True), False, True),
        (Grant(all_rooms=True), partner_link(all_rooms=False), False, False),  # cut to the link
        (Grant(scope_ids=SCOPE), partner_link(all_rooms=True), False, False),
    ],
    ids=[
        "no grant",
        "no grant, whole link",
        "all",
        "scoped",
        "all, whole link",
        "all, scoped link",
        "scoped, link",
    ],
)
def test_room_set_is_everything_only_when_grant_and_link_are_both_all(
    grant: Grant | None, link: LinkInfo | None, empty: bool, everything: bool
) -> None:
    rooms = RoomSet(T, grant, link)
    assert (rooms.is_empty, rooms.is_everything) == (empty, everything)
    assert (rooms.effective_ids() is None) == everything


def test_an_empty_room_set_matches_nothing_and_a_whole_one_everything() -> None:
    column = Room.__table__.c.id
    assert str(RoomSet(T, None).clause(column).compile()) in ("false", "0 = 1")
    assert str(RoomSet(T, Grant(all_rooms=True)).clause(column).compile()) in ("true", "1 = 1")
    assert "scope_effective_rooms" in str(RoomSet(T, Grant(scope_ids=SCOPE)).clause(column).compile())


def test_tenant_wide_needs_an_all_scope_and_has_any_scope() -> None:
    access = Access(
        T, principal(), {P.SETTINGS_VIEW: Grant(all_rooms=True), P.ROLES_VIEW: Grant(scope_ids=SCOPE)}
    )
    assert access.tenant_wide(P.SETTINGS_VIEW) and access.has(P.SETTINGS_VIEW)
    assert not access.tenant_wide(P.ROLES_VIEW) and access.has(P.ROLES_VIEW)
    assert not access.tenant_wide(P.AUDIT_EXPORT) and not access.has(P.AUDIT_EXPORT)
    access.require_tenant_wide(P.SETTINGS_VIEW)
    for perm in (P.ROLES_VIEW, P.AUDIT_EXPORT):
        with pytest.raises(Forbidden):  # the tenant's own users: visible, not permitted
            access.require_tenant_wide(perm)


@pytest.mark.parametrize("perm", sorted(TENANT_LEVEL))
def test_tenant_level_surfaces_hide_from_partners_outside_their_column(perm: Permission) -> None:
    grants = {p: Grant(all_rooms=True) for p in PARTNER_ADMIN}  # all a partner is ever granted
    partner = Access(T, principal(tenant=uuid.uuid4()), grants, partner_link(all_rooms=True))
    if perm in PARTNER_ADMIN:
        partner.require_tenant_wide(perm)
    else:
        with pytest.raises(NotFound):
            partner.require_tenant_wide(perm)
        with pytest.raises(Forbidden):  # a surface the partner does see: creation refused
            partner.require_tenant_wide(perm, partner_visible=True)


def test_a_partner_grant_over_a_scoped_link_is_not_tenant_wide() -> None:
    partner = Access(
        T, principal(tenant=uuid.uuid4()), {P.RINGS_MODIFY: Grant(all_rooms=True)}, partner_link()
    )
    assert partner.has(P.RINGS_MODIFY) and not partner.tenant_wide(P.RINGS_MODIFY)
    with pytest.raises(Forbidden):
        partner.require_tenant_wide(P.RINGS_MODIFY)


# -- resolve_access on real worlds -------------------------------------------------------------


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.transaction(write=False) as s:
        yield s


def as_principal(session: Session, user: UserH) -> Principal:
    from roomwarden.identity.models import User

    row = session.get_one(User, uuid.UUID(user.id))
    return Principal(row.id, row.tenant_id, row.upn, row.display_name, row.is_global_admin)


def rooms_of(session: Session, rooms: RoomSet) -> set[uuid.UUID]:
    stmt = select(Room.id).where(Room.tenant_id == rooms.tenant_id, rooms.clause(Room.id))
    return set(session.scalars(stmt))


def three_ways(session: Session, rooms: RoomSet) -> set[uuid.UUID]:
    """The set's rooms by ``clause``, by ``effective_ids`` and by ``first_ids`` pages, which
    must agree."""
    by_clause = rooms_of(session, rooms)
    ids = rooms.effective_ids()
    if ids is not None:
        assert set(session.scalars(select(ids.subquery().c.room_id))) == by_clause
    paged: set[uuid.UUID] = set()
    after = None
    while True:  # keyset pages of two, as the list endpoints walk them
        stmt = select(Room.id).where(Room.tenant_id == rooms.tenant_id, rooms.first_ids(Room.id, after, 3))
        if after is not None:
            stmt = stmt.where(Room.id > after)
        page = list(session.scalars(stmt.order_by(Room.id).limit(3)))
        paged |= set(page[:2])
        if len(page) < 3:
            break
        after = page[1]
    assert paged == by_clause
    return by_clause


def ids(*items: str) -> set[uuid.UUID]:
    return {uuid.UUID(i) for i in items}


def test_grants_unite_scopes_per_permission_and_all_scope_wins(world: World, db: Database) -> None:
    t = world.tenant()
    r1, r2, r3 = (world.room(t)["id"] for _ in range(3))
    group = world.room_group(t, [r2])["id"]
    user = world.user(t)
    world.assign(t, t.roles["Site Tech"], users=[user], scope={"rooms": [r1]})
    world.assign(
        t, t.roles["Site Tech"], groups=[world.security_group(t, [user])], scope={"room_groups": [group]}
    )
    world.assign(t, world.role(t, ["reports.view"]), users=[user], scope={"all": True})
    with world.transaction(write=False) as session:
        access = resolve_access(session, as_principal(session, user), uuid.UUID(t.id))
        assert three_ways(session, access.rooms(P.ROOMS_VIEW)) == ids(r1, r2)
        assert three_ways(session, access.rooms(P.REPORTS_VIEW)) >= ids(r1, r2, r3)
        assert access.tenant_wide(P.REPORTS_VIEW) and not access.tenant_wide(P.ROOMS_VIEW)
        assert three_ways(session, access.rooms(P.ROOMS_CREATE)) == set()
        named = select(RoomGroup.id).where(
            RoomGroup.tenant_id == uuid.UUID(t.id), access.rooms(P.ROOMS_VIEW).group_named(RoomGroup.id)
        )
        assert set(session.scalars(named)) == ids(group)
        admin = resolve_access(session, as_principal(session, t.admin), uuid.UUID(t.id))
        assert all(admin.tenant_wide(p) for p in Permission)


def test_a_tenant_is_invisible_to_others_unless_a_link_role_is_held(world: World, db: Database) -> None:
    t, stranger = world.tenant(), world.tenant()
    with world.transaction(write=False) as session:
        for tenant_id in (uuid.UUID(t.id), uuid.uuid4()):
            with pytest.raises(NotFound):
                resolve_access(session, as_principal(session, stranger.admin), tenant_id)


def _grant_directly(db: Database, tenant: TenantH, role_id: str, *perms: str) -> None:
    """Write permissions into a role behind the API's back, as a faulty migration or a
    hand-edited database could."""
    with db.transaction(tenants=[uuid.UUID(tenant.id)]) as session:
        session.add_all(
            RolePermission(tenant_id=uuid.UUID(tenant.id), role_id=uuid.UUID(role_id), permission=p)
            for p in perms
        )


def test_partner_permissions_are_cut_to_the_partner_admin_column(world: World, db: Database) -> None:
    customer, partner = world.tenant(), world.tenant()
    inside, outside = world.room(customer)["id"], world.room(customer)["id"]
    group = world.room_group(customer, [inside])["id"]
    established = link(world, customer, partner, scope={"room_groups": [group]})
    primary = established["primary_admins_role_id"]
    _grant_directly(db, customer, primary, "rooms.reset_key", "settings.view", "rooms.teleport")
    with world.transaction(write=False) as session:
        access = resolve_access(session, as_principal(session, partner.admin), uuid.UUID(customer.id))
        assert access.is_partner and set(access.grants) == PARTNER_ADMIN
        assert three_ways(session, access.rooms(P.ROOMS_VIEW)) == ids(inside)
        assert not access.tenant_wide(P.ROOMS_VIEW)  # all of the link, not all of the tenant
    base = f"/api/v1/tenants/{customer.id}"
    headers = partner.admin.headers
    assert world.client.post(f"{base}/rooms/{inside}/reset-key", headers=headers).status_code == 403
    assert world.client.post(f"{base}/rooms/{outside}/reset-key", headers=headers).status_code == 404
    assert world.client.get(f"{base}/settings", headers=headers).status_code == 404


def test_customer_roles_keep_every_permission_and_retired_ones_grant_nothing(
    world: World, db: Database
) -> None:
    t = world.tenant()
    room = world.room(t)["id"]
    role = world.role(t, ["rooms.view"])
    _grant_directly(db, t, role, "rooms.reset_key", "rooms.teleport")
    user = world.user(t)
    world.assign(t, role, users=[user], scope={"rooms": [room]})
    with world.transaction(write=False) as session:
        access = resolve_access(session, as_principal(session, user), uuid.UUID(t.id))
        assert set(access.grants) == {P.ROOMS_VIEW, P.ROOMS_RESET_KEY}
    assert (
        world.client.post(f"/api/v1/tenants/{t.id}/rooms/{room}/reset-key", headers=user.headers).status_code
        == 200
    )
    listed = expect(world.client.get(f"/api/v1/tenants/{t.id}/roles/{role}", headers=t.admin.headers), 200)
    assert listed["permissions"] == ["rooms.view", "rooms.reset_key"]


def test_a_partner_role_scope_is_intersected_with_a_narrowed_link(world: World, db: Database) -> None:
    customer, partner = world.tenant(), world.tenant()
    r1, r2 = world.room(customer)["id"], world.room(customer)["id"]
    g1, g2 = world.room_group(customer, [r1])["id"], world.room_group(customer, [r2])["id"]
    established = link(world, customer, partner, scope={"room_groups": [g1, g2]})
    helper = world.user(partner)
    role = expect(
        world.post(
            customer,
            "/roles",
            {"name": "Desk", "permissions": ["rooms.view", "groups.view"]},
            as_=partner.admin,
        ),
        201,
    )["id"]
    body = {"name": "Desk", "members": [{"type": "user", "id": helper.id}], "scope": {"room_groups": [g2]}}
    expect(world.post(customer, f"/roles/{role}/assignments", body, as_=partner.admin), 201)
    url = f"/api/v1/tenants/{customer.id}/partners/{established['id']}"
    expect(
        world.client.patch(url, json={"scope": {"room_groups": [g1]}}, headers=customer.admin.headers), 200
    )
    with world.transaction(write=False) as session:
        access = resolve_access(session, as_principal(session, helper), uuid.UUID(customer.id))
        assert three_ways(session, access.rooms(P.ROOMS_VIEW)) == set()
        named = select(RoomGroup.id).where(
            RoomGroup.tenant_id == uuid.UUID(customer.id),
            access.rooms(P.GROUPS_VIEW).group_named(RoomGroup.id),
        )
        assert set(session.scalars(named)) == set()  # g2: named by the grant, no longer by the link
        primary = resolve_access(session, as_principal(session, partner.admin), uuid.UUID(customer.id))
        assert three_ways(session, primary.rooms(P.ROOMS_VIEW)) == ids(r1)
        named_for_primary = select(RoomGroup.id).where(
            RoomGroup.tenant_id == uuid.UUID(customer.id),
            primary.rooms(P.GROUPS_VIEW).group_named(RoomGroup.id),
        )
        assert set(session.scalars(named_for_primary)) == ids(g1)
    room = f"/api/v1/tenants/{customer.id}/rooms/{r2}"
    assert world.client.get(room, headers=helper.headers).status_code == 404


# -- two workers share only the database -------------------------------------------------------


@pytest.fixture
def second_worker(world: World) -> Iterator[TestClient]:
    other_db = Database(world.settings.database_url)
    try:
        with TestClient(create_app(world.settings, other_db)) as client:
            yield client
    finally:
        other_db.dispose()


def test_revocations_apply_on_the_next_request_of_every_worker(
    world: World, second_worker: TestClient
) -> None:
    t = world.tenant()
    room = world.room(t)
    room_group = world.room_group(t, [room["id"]])["id"]
    tech, lead, promoted, viewer = world.user(t), world.user(t), world.user(t, ga=True), world.user(t)
    viewing = world.role(t, ["rooms.view", "tickets.view"])
    world.assign(t, viewing, users=[viewer], scope={"all": True})
    direct = world.assign(t, t.roles["Site Tech"], users=[tech], scope={"rooms": [room["id"]]})
    team = world.security_group(t, [lead])
    world.assign(t, t.roles["Site Lead"], groups=[team], scope={"room_groups": [room_group]})
    base = f"/api/v1/tenants/{t.id}"
    url = f"{base}/rooms/{room['id']}"

    def status(user: UserH, path: str = url) -> set[int]:
        return {c.get(path, headers=user.headers).status_code for c in (second_worker, world.client)}

    assert status(tech) == status(lead) == status(promoted) == status(viewer) == {200}
    assert status(promoted, f"{base}/settings") == {200}

    expect(world.client.delete(f"{base}/assignments/{direct['id']}", headers=t.admin.headers), 204)
    assert status(tech) == {404}

    expect(
        world.client.patch(
            f"{base}/security-groups/{team}", json={"member_ids": []}, headers=t.admin.headers
        ),
        200,
    )
    assert status(lead) == {404}

    expect(
        world.client.patch(
            f"{base}/users/{promoted.id}", json={"is_global_admin": False}, headers=t.admin.headers
        ),
        200,
    )
    assert status(promoted, f"{base}/settings") == {403} and status(promoted) == {404}

    expect(
        world.client.patch(
            f"{base}/room-groups/{room_group}", json={"room_ids": []}, headers=t.admin.headers
        ),
        200,
    )
    world.assign(t, t.roles["Site Lead"], users=[lead], scope={"room_groups": [room_group]})
    assert status(lead) == {404}  # the group no longer holds the room

    body = {"permissions": ["tickets.view"]}
    expect(world.client.patch(f"{base}/roles/{viewing}", json=body, headers=t.admin.headers), 200)
    assert status(viewer) == {404}
