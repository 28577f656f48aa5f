"""Row-level security on PostgreSQL (SPEC §10): every tenant-owned table has it enabled and
forced, the service's statements run as a role it applies to, and a query that forgets its
tenant filter sees only the tenants its transaction stated — none when it stated none."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, make_url, select, text, union, update
from sqlalchemy.exc import ProgrammingError

from roomwarden.access.deps import AccessDep
from roomwarden.access.mfa import customers_requiring
from roomwarden.app import create_app
from roomwarden.identity.tenancy import state_linked
from roomwarden.kit.api import SessionDep
from roomwarden.kit.db import SERVICE_ROLE, TENANT_IDS, Database, PoolSize, state_tenants, stated_tenants
from roomwarden.kit.routing import router
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import PartnerInvitation, PartnerLink, live_link, pending_invitation
from roomwarden.rooms.models import Room
from roomwarden.settings import Settings
from tests.conftest import DB_KIND
from tests.factories import World, expect, owner_engine
from tests.kit.round_trips import round_trips
from tests.partners.helpers import invite, link

pytestmark = pytest.mark.skipif(DB_KIND != "postgresql", reason="row-level security is PostgreSQL's")

#: a route that deliberately forgets the tenant filter
unfiltered = router()


@unfiltered.get("/api/v1/tenants/{tenant_id}/unfiltered-rooms")
def unfiltered_rooms(access: AccessDep, session: SessionDep) -> dict[str, list[str]]:
    return {"tenants": sorted({str(t) for t in session.scalars(select(Room.tenant_id))})}


@pytest.fixture(scope="module")
def secured(settings: Settings, db: Database) -> Iterator[Database]:
    """The test database as the service sees it with row-level security on, whatever the run's
    ``ROOMWARDEN_DATABASE_ROW_SECURITY`` (``db``: once migrated)."""
    database = Database(settings.database_url, row_security=True)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def forgetful(settings: Settings, secured: Database) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"database_row_security": True}), secured)
    app.include_router(unfiltered)
    with TestClient(app) as client:
        yield client


def test_every_table_with_tenant_id_has_forced_row_security_with_policies(secured: Database) -> None:
    with secured.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " JOIN pg_attribute a ON a.attrelid = c.oid"
                " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                " AND a.attname = 'tenant_id' AND NOT a.attisdropped"
            )
        ).all()
    assert len(rows) > 30
    assert [r[0] for r in rows if not (r[1] and r[2] and r[3] > 0)] == []


def test_the_service_runs_as_a_role_row_security_applies_to(secured: Database) -> None:
    with secured.transaction(write=False) as session:
        user, super_, bypass = session.execute(
            text("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        owner = session.scalar(text("SELECT tableowner FROM pg_tables WHERE tablename = 'rooms'"))
    assert user == SERVICE_ROLE and not super_ and not bypass and owner != SERVICE_ROLE


def test_with_no_tenant_stated_nothing_is_visible(world: World, secured: Database) -> None:
    db = secured
    t = world.tenant()
    world.room(t)
    with db.transaction(write=False) as session:
        assert session.scalar(text("SELECT current_setting('roomwarden.tenant_ids', true)")) in (None, "")
        assert session.scalar(select(func.count()).select_from(Room)) == 0
        state_tenants(session, [])  # an empty statement is no tenant either
        assert session.scalar(select(func.count()).select_from(Room)) == 0
    with db.transaction(write=False, tenants=[uuid.UUID(t.id)]) as session:
        assert session.scalar(select(func.count()).select_from(Room)) == 1


def test_a_tenant_cannot_write_a_row_of_a_tenant_it_did_not_state(world: World, secured: Database) -> None:
    db = secured
    a, b = world.tenant(), world.tenant()
    room = world.room(a)
    moved = text("UPDATE rooms SET tenant_id = :b WHERE id = :id")
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        db.transaction(tenants=[uuid.UUID(a.id)]) as session,
    ):
        session.execute(moved, {"b": b.id, "id": room["id"]})
    with db.transaction(tenants=[uuid.UUID(b.id)]) as session:  # nor touch it from another one
        changed = session.execute(text("UPDATE rooms SET name = 'taken' WHERE id = :id"), {"id": room["id"]})
        assert changed.rowcount == 0  # type: ignore[attr-defined]


def test_an_unfiltered_query_in_a_request_sees_only_the_allowed_tenants(
    world: World, forgetful: TestClient
) -> None:
    customer, partner, unlinked, stranger = world.tenant(), world.tenant(), world.tenant(), world.tenant()
    for t in (customer, partner, unlinked, stranger):
        world.room(t)
    link(world, customer, partner)
    link(world, unlinked, stranger)  # a link that does not involve the partner

    def seen(tenant_id: str, headers: dict[str, str]) -> set[str]:
        answer = forgetful.get(f"/api/v1/tenants/{tenant_id}/unfiltered-rooms", headers=headers)
        return set(expect(answer, 200)["tenants"])

    # a tenant and those it has a live link with, either way; never another tenant's
    assert seen(customer.id, customer.admin.headers) == {customer.id, partner.id}
    assert seen(customer.id, partner.admin.headers) == {customer.id, partner.id}
    assert seen(partner.id, partner.admin.headers) == {customer.id, partner.id}
    assert seen(stranger.id, stranger.admin.headers) == {stranger.id, unlinked.id}
    assert seen(unlinked.id, unlinked.admin.headers) == {stranger.id, unlinked.id}
    loner = world.tenant()
    world.room(loner)
    assert seen(loner.id, loner.admin.headers) == {loner.id}
    # a tenant the caller may not act in answers like a missing one
    refused = forgetful.get(f"/api/v1/tenants/{unlinked.id}/unfiltered-rooms", headers=partner.admin.headers)
    assert refused.status_code == 404


def test_a_pending_invitation_opens_the_inviter_to_the_invited_partner_and_not_the_other_way(
    world: World, forgetful: TestClient
) -> None:
    """Anyone may invite any tenant by its domain: the invitation lets the invited partner read
    the offer's customer, and never lets the inviter read the invited tenant's rows; once it
    is no longer pending, neither side is stated for the other."""
    customer, partner = world.tenant(), world.tenant()
    for t in (customer, partner):
        world.room(t)
    inv = invite(world, customer, partner)

    def seen(tenant_id: str, headers: dict[str, str]) -> set[str]:
        answer = forgetful.get(f"/api/v1/tenants/{tenant_id}/unfiltered-rooms", headers=headers)
        return set(expect(answer, 200)["tenants"])

    assert seen(customer.id, customer.admin.headers) == {customer.id}
    assert seen(partner.id, partner.admin.headers) == {customer.id, partner.id}
    revoked = forgetful.delete(
        f"/api/v1/tenants/{customer.id}/partner-invitations/{inv['id']}", headers=customer.admin.headers
    )
    assert revoked.status_code == 204, revoked.text
    assert seen(partner.id, partner.admin.headers) == {partner.id}
    assert seen(customer.id, customer.admin.headers) == {customer.id}


def test_one_statement_states_exactly_what_the_link_rules_say(world: World, secured: Database) -> None:
    """``roomwarden_state_linked`` (migration 0100) states a tenant and then, under it, the
    tenants its links and pending invitations open: the same set the models' rules
    (``live_link``, ``pending_invitation``) give, for links and invitations in every state."""
    me = world.tenant()
    o = [world.tenant() for _ in range(9)]
    past = utcnow() - timedelta(minutes=1)
    link(world, o[0], me)  # I am its partner
    link(world, me, o[1])  # my partner
    expired = link(world, o[2], me)
    ended = link(world, o[3], me)
    link(world, me, o[4])
    invite(world, o[5], me)  # a pending invitation to me opens its customer
    stale = invite(world, o[6], me)
    invite(world, me, o[7])  # mine to another opens nothing
    withdrawn = invite(world, o[8], me)
    with owner_engine(secured).begin() as conn:
        conn.execute(update(PartnerLink).where(PartnerLink.id == expired["id"]).values(expires_at=past))
        conn.execute(update(PartnerLink).where(PartnerLink.id == ended["id"]).values(status="ended"))
        later = utcnow() + timedelta(days=3)
        conn.execute(update(PartnerLink).where(PartnerLink.tenant_id == me.id).values(expires_at=later))
        conn.execute(
            update(PartnerInvitation).where(PartnerInvitation.id == stale["id"]).values(expires_at=past)
        )
        conn.execute(
            update(PartnerInvitation).where(PartnerInvitation.id == withdrawn["id"]).values(status="revoked")
        )
        now, ids = utcnow(), [uuid.UUID(me.id)]
        rules = union(
            select(PartnerLink.tenant_id).where(PartnerLink.partner_tenant_id.in_(ids), live_link(now)),
            select(PartnerLink.partner_tenant_id).where(PartnerLink.tenant_id.in_(ids), live_link(now)),
            select(PartnerInvitation.tenant_id).where(
                PartnerInvitation.partner_tenant_id.in_(ids), pending_invitation(now)
            ),
        )
        by_rules = {str(t) for t in conn.execute(rules).scalars()}
    assert by_rules == {o[0].id, o[1].id, o[4].id, o[5].id}
    with secured.transaction(write=False) as session, round_trips(secured) as trips:
        state_linked(session, ids)
        # one statement, sent with BEGIN in one round trip as the value is read back
        assert stated_tenants(session) == {me.id} | by_rules
        visible = {str(t) for t in session.scalars(select(PartnerLink.tenant_id).distinct())}
        assert me.id in visible and o[7].id not in visible
    # the stating, with BEGIN, as its value was read back; the read (COMMIT is after the count)
    assert trips.count == 2
    assert len([m for m in trips.messages if "roomwarden_state_linked(" in m]) == 1


def test_a_customer_whose_settings_cannot_be_read_counts_as_requiring_a_second_factor(
    world: World, secured: Database
) -> None:
    """Fail closed: a path that forgot to state a customer reads none of its settings; the
    second-factor rule then refuses a partner user rather than lets one through."""
    lenient, strict, partner = world.tenant(), world.tenant(), world.tenant()
    expect(
        world.client.patch(
            f"/api/v1/tenants/{strict.id}/settings",
            json={"require_mfa_for_partners": True},
            headers=strict.admin.headers,
        ),
        200,
    )
    ids = [uuid.UUID(lenient.id), uuid.UUID(strict.id)]
    with secured.transaction(write=False, tenants=[uuid.UUID(partner.id)]) as session:
        assert customers_requiring(session, ids) == set(ids)  # neither is stated: both refuse
    with secured.transaction(write=False, tenants=[uuid.UUID(partner.id), *ids]) as session:
        assert customers_requiring(session, ids) == {uuid.UUID(strict.id)}


def test_a_pooled_connection_reused_by_another_tenant_sees_nothing_of_the_first(
    world: World, settings: Settings
) -> None:
    a, b = world.tenant(), world.tenant()
    world.room(a)
    single = Database(settings.database_url, pool=PoolSize(size=1, overflow=0), row_security=True)
    try:
        with single.transaction(write=False, tenants=[uuid.UUID(a.id)]) as session:
            first = session.scalar(text("SELECT pg_backend_pid()"))
            assert session.scalar(select(func.count()).select_from(Room)) == 1
        with single.transaction(write=False) as session:
            assert session.scalar(text("SELECT pg_backend_pid()")) == first  # the same connection
            assert session.scalar(text(f"SELECT current_setting('{TENANT_IDS}', true)")) in (None, "")
            assert session.scalar(select(func.count()).select_from(Room)) == 0
            state_tenants(session, [uuid.UUID(b.id)])
            assert session.scalar(select(func.count()).select_from(Room)) == 0
            assert session.scalar(select(func.count()).select_from(Room).where(Room.tenant_id == a.id)) == 0
    finally:
        single.dispose()


def test_a_login_subject_to_row_security_refuses_to_serve_with_it_off(
    settings: Settings, db: Database
) -> None:
    """With ROOMWARDEN_DATABASE_ROW_SECURITY off the service states no tenants: a login that is
    neither a superuser nor BYPASSRLS would read no rows, every tenant empty. It refuses to
    start instead, naming the setting; a superuser login, or the setting on, serves."""
    with owner_engine(db).begin() as conn:
        conn.execute(
            text(
                "DO $$ BEGIN CREATE ROLE roomwarden_test_plain LOGIN NOSUPERUSER NOBYPASSRLS;"
                " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        )
    plain_url = make_url(settings.database_url).set(username="roomwarden_test_plain", password=None)
    plain_url = plain_url.render_as_string(hide_password=False)
    plain = Database(plain_url)
    try:
        problem = plain.login_problem()
        assert problem is not None and "roomwarden_test_plain" in problem
        assert "ROOMWARDEN_DATABASE_ROW_SECURITY=true" in problem
        app = create_app(settings.model_copy(update={"database_url": plain_url}), plain)
        with pytest.raises(RuntimeError, match="row-level security"), TestClient(app):
            pass
    finally:
        plain.dispose()
    for fine in (Database(settings.database_url), Database(plain_url, row_security=True)):
        try:  # the superuser login; any login with the setting on
            assert fine.login_problem() is None
        finally:
            fine.dispose()


def test_a_sign_in_name_with_a_comma_names_no_account(forgetful: TestClient, world: World) -> None:
    """A lookup's keys are comma-separated in their setting: a name with a comma is left out
    (no UPN holds one), never split into other names, and the sign-in is refused as any unknown
    name is, not answered 500."""
    t = world.tenant()
    for name in ("a,b@example.com", f"x,{t.admin.upn}", ","):
        answer = forgetful.post("/api/v1/auth/token", data={"username": name, "password": "not-it-0123"})
        assert answer.status_code in (400, 401), (name, answer.status_code, answer.text)
