"""Software delivery: the release catalogue, devices' software and install results, paused rings

Revision ID: 0060
Revises: 0050
Create Date: 2026-12-07 10:00:00

Update rings gain ``paused``, and their deferral is bounded to 0-60 days (SPEC §12; a longer
deferral of an existing ring becomes 60).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import roomwarden.kit.db

revision = "0060"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rings = sa.table("update_rings", sa.column("deferral_days", sa.Integer()))
    op.execute(rings.update().where(rings.c.deferral_days > 60).values(deferral_days=60))
    with op.batch_alter_table("update_rings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.drop_constraint(op.f("ck_update_rings_deferral_days"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_update_rings_deferral_days"), "deferral_days >= 0 AND deferral_days <= 60"
        )
    op.create_table(
        "releases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("component", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("version_key", sa.String(length=64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("published_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("component", "version_key", name=op.f("uq_releases_component_version_key")),
    )
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.create_index("ix_releases_published_at", ["published_at"], unique=False)
    op.create_table(
        "device_software",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("component", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=True),
        sa.Column("version_key", sa.String(length=64), nullable=True),
        sa.Column("result_version", sa.String(length=50), nullable=True),
        sa.Column("result_status", sa.String(length=10), nullable=True),
        sa.Column("result_detail", sa.String(length=500), nullable=True),
        sa.Column("result_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "result_status IS NULL OR result_status IN ('installed', 'failed')",
            name=op.f("ck_device_software_result_status"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "room_id"],
            ["rooms.tenant_id", "rooms.id"],
            name=op.f("fk_device_software_tenant_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "room_id", "component", name=op.f("pk_device_software")),
    )
    op.create_table(
        "software_results",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("component", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("reported_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('installed', 'failed')", name=op.f("ck_software_results_status")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "room_id"],
            ["rooms.tenant_id", "rooms.id"],
            name=op.f("fk_software_results_tenant_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_software_results")),
    )
    with op.batch_alter_table("software_results", schema=None) as batch_op:
        batch_op.create_index("ix_software_results_room", ["tenant_id", "room_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("software_results", schema=None) as batch_op:
        batch_op.drop_index("ix_software_results_room")
    op.drop_table("software_results")
    op.drop_table("device_software")
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.drop_index("ix_releases_published_at")
    op.drop_table("releases")
    with op.batch_alter_table("update_rings", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_update_rings_deferral_days"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_update_rings_deferral_days"), "deferral_days >= 0 AND deferral_days <= 365"
        )
        batch_op.drop_column("paused")
