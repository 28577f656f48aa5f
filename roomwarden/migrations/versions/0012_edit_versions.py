"""Edit versions of partner links, roles and role assignments (ETag / If-Match)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 01:05:00

Each row counts its changes: the API answers its ``version`` as a strong ``ETag`` and refuses
a change whose ``If-Match`` names an older one (412), so two admins editing at once cannot
silently overwrite each other. The version is incremented in the transaction of the change,
under the row lock the change already takes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("partner_links", "roles", "role_assignments")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("version")
