"""Migration 0090 re-keys a database that holds data: every row is kept, every foreign key
holds, the distribution check passes; and its downgrade gives the old keys back, rows kept.

The rows are written at the head revision through the services (the demo data set) and the
models, then the database is taken down to the revision before 0090 and upgraded again, so
the test holds whatever columns other migrations add."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from sqlalchemy import func, inspect, select, table, text

from roomwarden.access.models import RoleAssignment
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.demo import build_demo
from roomwarden.devices.models import Device
from roomwarden.identity.models import RecoveryCode, SecurityGroup, SecurityGroupMember, User, WebSession
from roomwarden.kit import distribution
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import Database
from roomwarden.kit.migrate import alembic_config, current_revision, upgrade
from roomwarden.kit.time import utcnow
from roomwarden.partners.models import Elevation, LinkReminder, PartnerLink
from roomwarden.rooms.models import Room
from tests.conftest import DB_KIND
from tests.pg import postgres_database

REVISION = "0090"


@pytest.fixture
def scratch_db(tmp_path: Path) -> Iterator[Database]:
    if DB_KIND == "postgresql":
        with postgres_database() as url:
            db = Database(url)
            yield db
            db.dispose()
    else:
        db = Database(f"sqlite:///{tmp_path / 'rekey.db'}")
        yield db
        db.dispose()


def _previous() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    previous = script.get_revision(REVISION).down_revision
    assert isinstance(previous, str)
    return previous


def _downgrade(db: Database, revision: str) -> None:
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
        return {n: conn.execute(select(func.count()).select_from(table(n))).scalar_one() for n in names}


def _dangling(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        if DB_KIND == "postgresql":
            query = "SELECT conname FROM pg_constraint WHERE contype = 'f' AND NOT convalidated"
        else:
            query = "PRAGMA foreign_key_check"
        return list(conn.execute(text(query)).all())


def _offending(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return distribution.check(conn).offending


def _fill(db: Database) -> None:
    """The demo data set, and a row in each re-keyed table that the demo leaves empty."""
    demo = build_demo(db, SecretBox(Fernet.generate_key().decode()), rooms_per_site=2)
    now = utcnow()
    with db.transaction() as s:
        admin = s.scalars(select(User).where(User.tenant_id == demo.customer_id).order_by(User.upn)).first()
        helpdesk = s.scalars(select(User).where(User.tenant_id == demo.partner_id).order_by(User.upn)).first()
        room = s.scalars(select(Room).where(Room.tenant_id == demo.customer_id)).first()
        link = s.scalars(select(PartnerLink).where(PartnerLink.tenant_id == demo.customer_id)).one()
        assignment = s.scalars(
            select(RoleAssignment).where(
                RoleAssignment.tenant_id == demo.customer_id, RoleAssignment.name == "Help desk"
            )
        ).one()
        assert admin and helpdesk and room
        tenant = demo.customer_id
        s.add(
            Device(
                tenant_id=tenant,
                room_id=room.id,
                serial_number="SN1",
                model="M",
                agent_version="1",
                token_hash=uuid.uuid4().hex,
            )
        )
        s.add(
            WebSession(
                token_hash=uuid.uuid4().hex,
                tenant_id=tenant,
                user_id=admin.id,
                expires_at=now + timedelta(hours=1),
                method="password",
                csrf_token="c",
            )
        )
        s.add(RecoveryCode(tenant_id=tenant, user_id=admin.id, code_hash=uuid.uuid4().hex))
        group = SecurityGroup(tenant_id=tenant, name="Facilities")
        s.add(group)
        s.flush()
        s.add(SecurityGroupMember(tenant_id=tenant, group_id=group.id, user_id=admin.id))
        s.add(
            LinkReminder(
                link_id=link.id, expires_at=now + timedelta(days=30), days=30, tenant_id=tenant, sent=True
            )
        )
        # a partner's user elevated in the customer's assignment: its user_id crosses tenants
        s.add(
            Elevation(
                tenant_id=tenant,
                link_id=link.id,
                assignment_id=assignment.id,
                user_id=helpdesk.id,
                minutes=30,
                justification="ticket 1",
                starts_at=now,
                ends_at=now + timedelta(minutes=30),
            )
        )
        s.add(
            ApprovalRequest(
                tenant_id=tenant,
                link_id=link.id,
                partner_tenant_id=demo.partner_id,
                requester_user_id=helpdesk.id,
                requester_upn=helpdesk.upn,
                requester_name="H",
                event="rooms.update",
                action="update",
                target_type="room",
                target_name=room.name,
                change={},
                expires_at=now + timedelta(days=7),
            )
        )


def test_rekeying_a_database_with_rows_keeps_them_and_their_foreign_keys(scratch_db: Database) -> None:
    upgrade(scratch_db)
    _fill(scratch_db)
    rows = _counts(scratch_db)
    rekeyed = (
        "rooms",
        "room_group_members",
        "scope_effective_rooms",
        "role_permissions",
        "assignment_members",
        "partner_links",
        "partner_invitations",
        "roles",
        "audit_records",
        "tickets",
        "ticket_updates",
        "devices",
        "web_sessions",
        "recovery_codes",
        "security_group_members",
        "partner_link_reminders",
        "elevations",
        "approval_requests",
    )
    assert all(rows[name] > 0 for name in rekeyed), {n: rows[n] for n in rekeyed}
    assert _offending(scratch_db) == []

    _downgrade(scratch_db, _previous())
    assert current_revision(scratch_db) == _previous()
    assert _counts(scratch_db) == rows and _dangling(scratch_db) == []
    assert "rooms" in _offending(scratch_db)  # the old keys are back

    # a row whose parent is in another tenant has no parent once keyed by tenant: the migration
    # fails and leaves the database as it was
    with scratch_db.engine.begin() as conn:
        reminder = conn.execute(text("SELECT link_id, tenant_id FROM partner_link_reminders")).one()
        partner = conn.execute(
            text("SELECT partner_tenant_id FROM partner_links WHERE id = :id"), {"id": reminder.link_id}
        ).scalar_one()
        conn.execute(text("UPDATE partner_link_reminders SET tenant_id = :t"), {"t": partner})
    with pytest.raises(Exception, match=r"partner_link_reminders|foreign key|violates"):
        upgrade(scratch_db)
    assert current_revision(scratch_db) == _previous()
    assert _counts(scratch_db) == rows and "rooms" in _offending(scratch_db)
    with scratch_db.engine.begin() as conn:
        conn.execute(text("UPDATE partner_link_reminders SET tenant_id = :t"), {"t": reminder.tenant_id})

    upgrade(scratch_db)
    assert _counts(scratch_db) == rows
    assert _dangling(scratch_db) == []
    assert _offending(scratch_db) == []
    # the foreign keys still cascade: a link's end takes its roles, requests and elevations along
    with scratch_db.transaction() as s:
        link = s.scalars(select(PartnerLink)).one()
        s.execute(text("UPDATE partner_invitations SET link_id = NULL"))
        s.delete(link)
    after = _counts(scratch_db)
    assert after["elevations"] == after["approval_requests"] == after["partner_link_reminders"] == 0
    assert after["roles"] < rows["roles"] and _dangling(scratch_db) == []
