"""Just-in-time elevation

Revision ID: 0045
Revises: 0040
Create Date: 2026-12-07 10:00:00

A partner role assignment is ``permanent`` (as before) or ``eligible``: its members then hold
nothing until one activates it for a while (SPEC §4 "Just-in-time elevation"). A link caps how
long (``max_elevation_minutes``); each activation is a row of ``elevations``, at most one
active per member and assignment.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import roomwarden.kit.db

revision = "0045"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("role_assignments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("activation", sa.String(length=10), server_default="permanent", nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_role_assignments_activation"), "activation IN ('permanent', 'eligible')"
        )
    with op.batch_alter_table("partner_links", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("max_elevation_minutes", sa.Integer(), server_default="60", nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_partner_links_max_elevation"),
            "max_elevation_minutes >= 5 AND max_elevation_minutes <= 480",
        )
    op.create_table(
        "elevations",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("assignment_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("starts_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("end_reason", sa.String(length=200), nullable=True),
        sa.Column("approved_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("approved_by_upn", sa.String(length=320), nullable=True),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("minutes >= 5 AND minutes <= 480", name=op.f("ck_elevations_minutes")),
        sa.CheckConstraint("status IN ('active', 'ended')", name=op.f("ck_elevations_status")),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["partner_links.id"],
            name=op.f("fk_elevations_link_id_partner_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "assignment_id"],
            ["role_assignments.tenant_id", "role_assignments.id"],
            name=op.f("fk_elevations_tenant_id_role_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_elevations_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_elevations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elevations")),
    )
    with op.batch_alter_table("elevations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_elevations_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_elevations_link", ["link_id", "status"], unique=False)
        batch_op.create_index("ix_elevations_user", ["user_id", "assignment_id", "status"], unique=False)
        batch_op.create_index(
            "uq_elevations_active",
            ["assignment_id", "user_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("elevations", schema=None) as batch_op:
        batch_op.drop_index("uq_elevations_active")
        batch_op.drop_index("ix_elevations_user")
        batch_op.drop_index("ix_elevations_link")
        batch_op.drop_index(batch_op.f("ix_elevations_tenant_id"))
    op.drop_table("elevations")
    with op.batch_alter_table("partner_links", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_partner_links_max_elevation"), type_="check")
        batch_op.drop_column("max_elevation_minutes")
    # An eligible assignment has no place in the older schema: it goes (it granted nothing).
    op.execute("DELETE FROM role_assignments WHERE activation = 'eligible'")
    with op.batch_alter_table("role_assignments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_role_assignments_activation"), type_="check")
        batch_op.drop_column("activation")
