"""Outgoing mail: a link, the reason it was queued (dropped at send time once passed), and
the 'dropped' status

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 20:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import roomwarden.kit.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outgoing_mail", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("reason_table", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reason_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("reason_status", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("reason_until", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.drop_constraint(batch_op.f("ck_outgoing_mail_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_outgoing_mail_status"), "status IN ('pending', 'sent', 'failed', 'dropped')"
        )


def downgrade() -> None:
    op.execute("UPDATE outgoing_mail SET status = 'failed' WHERE status = 'dropped'")
    with op.batch_alter_table("outgoing_mail", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_outgoing_mail_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_outgoing_mail_status"), "status IN ('pending', 'sent', 'failed')"
        )
        batch_op.drop_column("reason_until")
        batch_op.drop_column("reason_status")
        batch_op.drop_column("reason_id")
        batch_op.drop_column("reason_table")
        batch_op.drop_column("link")
