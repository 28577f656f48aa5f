"""Devices and monitoring: devices, room signals, monitoring tickets, time zones

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 07:00:00

A room gains the SHA-256 of its enrollment key (an enrolling device finds its room by the key
alone; existing keys are hashed here with the configured ROOMWARDEN_ENCRYPTION_KEY), the time
of its device's last report and its time zone. Tickets gain their source and signal; at most
one monitoring ticket per room and signal is open (a partial unique index).
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

import roomwarden.kit.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

OPEN_MONITORING = "source = 'monitoring' AND status IN ('open', 'in_progress')"


def upgrade() -> None:
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_report_at", roomwarden.kit.db.UTCDateTime(timezone=True)))
        batch_op.add_column(
            sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False)
        )
        batch_op.add_column(sa.Column("enrollment_key_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_rooms_last_report_at", ["last_report_at"], unique=False)
        batch_op.create_index("ix_rooms_enrollment_key_hash", ["enrollment_key_hash"], unique=True)
    _hash_enrollment_keys()
    with op.batch_alter_table("tenant_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("default_time_zone", sa.String(length=64), server_default="UTC", nullable=False)
        )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=12), server_default="customer", nullable=False)
        )
        batch_op.add_column(sa.Column("signal", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("resolved_at", roomwarden.kit.db.UTCDateTime(timezone=True)))
        batch_op.add_column(sa.Column("notified_at", roomwarden.kit.db.UTCDateTime(timezone=True)))
        batch_op.create_check_constraint(op.f("ck_tickets_source"), "source IN ('customer', 'monitoring')")
        batch_op.create_index(
            "uq_tickets_open_monitoring",
            ["tenant_id", "room_id", "signal"],
            unique=True,
            sqlite_where=sa.text(OPEN_MONITORING),
            postgresql_where=sa.text(OPEN_MONITORING),
        )
    op.create_table(
        "devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("serial_number", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("agent_version", sa.String(length=50), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("enrolled_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_report_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_sequence", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "room_id"],
            ["rooms.tenant_id", "rooms.id"],
            name=op.f("fk_devices_tenant_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_devices_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index("uq_devices_room", ["tenant_id", "room_id"], unique=True)
        batch_op.create_index("uq_devices_token_hash", ["token_hash"], unique=True)
    op.create_table(
        "room_signals",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("signal", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("since", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("suppressed_until", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("suppression_reason", sa.Text(), nullable=True),
        sa.Column("suppressed_by_user_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("state IN ('ok', 'warning', 'failed')", name=op.f("ck_room_signals_state")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "room_id"],
            ["rooms.tenant_id", "rooms.id"],
            name=op.f("fk_room_signals_tenant_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "room_id", "signal", name=op.f("pk_room_signals")),
    )


def _hash_enrollment_keys() -> None:
    """Self-contained on purpose: later code changes must not change what this revision did."""
    from cryptography.fernet import Fernet

    from roomwarden.settings import Settings

    fernet = Fernet(Settings().encryption_key.get_secret_value().encode())
    rooms = sa.table(
        "rooms",
        sa.column("id", sa.Uuid()),
        sa.column("enrollment_key_sealed", sa.Text()),
        sa.column("enrollment_key_hash", sa.String()),
    )
    conn = op.get_bind()
    for room_id, sealed in conn.execute(sa.select(rooms.c.id, rooms.c.enrollment_key_sealed)).all():
        key = fernet.decrypt(sealed.encode())
        conn.execute(
            rooms.update()
            .where(rooms.c.id == room_id)
            .values(enrollment_key_hash=hashlib.sha256(key).hexdigest())
        )


def downgrade() -> None:
    op.drop_table("room_signals")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("uq_devices_token_hash")
        batch_op.drop_index("uq_devices_room")
    op.drop_table("devices")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("uq_tickets_open_monitoring")
        batch_op.drop_constraint(op.f("ck_tickets_source"), type_="check")
        batch_op.drop_column("notified_at")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("signal")
        batch_op.drop_column("source")
    with op.batch_alter_table("tenant_settings", schema=None) as batch_op:
        batch_op.drop_column("default_time_zone")
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.drop_index("ix_rooms_enrollment_key_hash")
        batch_op.drop_index("ix_rooms_last_report_at")
        batch_op.drop_column("enrollment_key_hash")
        batch_op.drop_column("time_zone")
        batch_op.drop_column("last_report_at")
