"""Partner invitations keep the domain they were addressed to

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partner_invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partner_domain", sa.String(length=253), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("partner_invitations", schema=None) as batch_op:
        batch_op.drop_column("partner_domain")
