"""Reports: monitoring tickets' open periods, the per-room per-local-day health roll-up, meetings

Revision ID: 0070
Revises: 0060
Create Date: 2026-12-07 10:00:00

The health report reads a roll-up (``room_health_days``) that monitoring keeps up to date as
its tickets open, resolve and reopen (``ticket_periods``); the usage report reads the meetings
devices report, each once per device and start (a unique index).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import roomwarden.kit.db

revision = "0070"
down_revision = "0060"
branch_labels = None
depends_on = None


def _room_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "room_id"],
        ["rooms.tenant_id", "rooms.id"],
        name=op.f(f"fk_{table}_tenant_id_rooms"),
        ondelete="CASCADE",
    )


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "ticket_periods",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("signal", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("opened_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opens", sa.Boolean(), nullable=False),
        sa.Column("started_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("resolve_seconds", sa.Integer(), nullable=True),
        sa.Column("opened_day", sa.Date(), nullable=False),
        sa.Column("ended_day", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at", name=op.f("ck_ticket_periods_ends_after_start")
        ),
        _room_fk("ticket_periods"),
        _tenant_fk("ticket_periods"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "ticket_id"],
            ["tickets.tenant_id", "tickets.id"],
            name=op.f("fk_ticket_periods_tenant_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_ticket_periods")),
    )
    with op.batch_alter_table("ticket_periods", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_periods_room", ["tenant_id", "room_id", "started_at"], unique=False)
        batch_op.create_index(
            "ix_ticket_periods_opened",
            ["tenant_id", "opened_day", "opens", "signal", "ticket_id", "room_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_ticket_periods_ended", ["tenant_id", "ended_day", "resolve_seconds", "room_id"], unique=False
        )
        batch_op.create_index(
            "ix_ticket_periods_ticket", ["tenant_id", "ticket_id", "ended_at"], unique=False
        )
    op.create_table(
        "room_health_days",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("unhealthy_seconds", sa.Integer(), nullable=False),
        sa.CheckConstraint("unhealthy_seconds >= 0", name=op.f("ck_room_health_days_seconds")),
        _room_fk("room_health_days"),
        sa.PrimaryKeyConstraint("tenant_id", "room_id", "day", name=op.f("pk_room_health_days")),
    )
    with op.batch_alter_table("room_health_days", schema=None) as batch_op:
        batch_op.create_index(
            "ix_room_health_days_day", ["tenant_id", "day", "room_id", "unhealthy_seconds"], unique=False
        )
    op.create_table(
        "meetings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.CheckConstraint("ended_at > started_at", name=op.f("ck_meetings_ends_after_start")),
        sa.CheckConstraint("participants >= 0", name=op.f("ck_meetings_participants")),
        _room_fk("meetings"),
        _tenant_fk("meetings"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_meetings")),
    )
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.create_index(
            "uq_meetings_device_started", ["tenant_id", "device_id", "started_at"], unique=True
        )
        batch_op.create_index("ix_meetings_day", ["tenant_id", "day", "room_id"], unique=False)


def downgrade() -> None:
    op.drop_table("meetings")
    op.drop_table("room_health_days")
    op.drop_table("ticket_periods")
