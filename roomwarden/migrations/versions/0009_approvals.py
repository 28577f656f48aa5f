"""Change control: approval requests, and the expiry of held actions per partner link

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 19:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partner_links", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approval_expires_in_days", sa.Integer(), nullable=False, server_default="7")
        )
        batch_op.create_check_constraint(
            "approval_expiry", "approval_expires_in_days >= 1 AND approval_expires_in_days <= 90"
        )
    op.create_table(
        "approval_requests",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("partner_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("requester_user_id", sa.Uuid(), nullable=False),
        sa.Column("requester_upn", sa.String(length=320), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("requester_mfa", sa.Boolean(), nullable=False),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("target_type", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=True),
        sa.Column("target_name", sa.String(length=400), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=True),
        sa.Column("change", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=True),
        sa.Column("proposed", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("decided_by_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("decided_by_upn", sa.String(length=320), nullable=True),
        sa.Column("result_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'cancelled', 'expired', 'failed')",
            name=op.f("ck_approval_requests_status"),
        ),
        sa.CheckConstraint(
            "tenant_id <> partner_tenant_id", name=op.f("ck_approval_requests_distinct_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["partner_links.id"],
            name=op.f("fk_approval_requests_link_id_partner_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_approval_requests_partner_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_approval_requests_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
    )
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.create_index("ix_approval_requests_link_status", ["link_id", "status"], unique=False)
        batch_op.create_index("ix_approval_requests_partner", ["partner_tenant_id", "id"], unique=False)
        batch_op.create_index("ix_approval_requests_status_expiry", ["status", "expires_at"], unique=False)
        batch_op.create_index(
            "ix_approval_requests_tenant_status", ["tenant_id", "status", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_approval_requests_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_requests_tenant_id"))
        batch_op.drop_index("ix_approval_requests_tenant_status")
        batch_op.drop_index("ix_approval_requests_status_expiry")
        batch_op.drop_index("ix_approval_requests_partner")
        batch_op.drop_index("ix_approval_requests_link_status")
    op.drop_table("approval_requests")
    with op.batch_alter_table("partner_links", schema=None) as batch_op:
        batch_op.drop_constraint("approval_expiry", type_="check")
        batch_op.drop_column("approval_expires_in_days")
