"""Background jobs: one table of periodic jobs with leases

Revision ID: 0014
Revises: 0013h
Create Date: 2026-12-07 06:40:00

Every process runs the jobs it knows by taking a lease on a job's row (roomwarden/jobs).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import roomwarden.kit.db

revision = "0014"
down_revision = "0013h"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("due_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_started_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_due", ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_due")
    op.drop_table("jobs")
