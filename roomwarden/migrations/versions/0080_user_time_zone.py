"""A person's own time zone for the portal's times

Revision ID: 0080
Revises: 0070
Create Date: 2026-12-07 11:15:00

Empty: the portal shows times in the tenant's ``default_time_zone``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0080"
down_revision = "0070"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("time_zone")
