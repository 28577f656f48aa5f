"""Rule-based room groups

Revision ID: 0030
Revises: 0013
Create Date: 2026-12-07 07:40:00

A room group is a list of rooms or a rule over the rooms' fields (SPEC §3). Its members stay
rows of ``room_group_members`` either way, kept exact by the service in the transaction of
every change that can move them, so the scopes naming it (and their materialised rooms)
follow at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("room_groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rule", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("room_groups", schema=None) as batch_op:
        batch_op.drop_column("rule")
