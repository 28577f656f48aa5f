"""Link expiry and renewal

Revision ID: 0040
Revises: 0015
Create Date: 2026-12-07 09:45:00

A partner link may have an end (``expires_at``), past which it is expired (SPEC §4 "Expiry and
renewal"): the status gains ``expired`` and the link records when the expiry's bookkeeping ran.
An invitation may carry the duration of the link it establishes. Each expiry reminder of a link
(30, 7 and 1 days before its end) is a row, so it is sent at most once per end.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import roomwarden.kit.db

revision = "0040"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partner_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", roomwarden.kit.db.UTCDateTime(timezone=True)))
        batch_op.add_column(sa.Column("expired_at", roomwarden.kit.db.UTCDateTime(timezone=True)))
        batch_op.drop_constraint(batch_op.f("ck_partner_links_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_partner_links_status"), "status IN ('active', 'expired', 'ended')"
        )
        batch_op.create_index("ix_partner_links_expiry", ["status", "expires_at"], unique=False)
    with op.batch_alter_table("partner_invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_duration_days", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            batch_op.f("ck_partner_invitations_link_duration"),
            "link_duration_days >= 1 AND link_duration_days <= 730",
        )
    op.create_table(
        "partner_link_reminders",
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.Column("created_at", roomwarden.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("days IN (30, 7, 1)", name=op.f("ck_partner_link_reminders_days")),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["partner_links.id"],
            name=op.f("fk_partner_link_reminders_link_id_partner_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_partner_link_reminders_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("link_id", "expires_at", "days", name=op.f("pk_partner_link_reminders")),
    )
    with op.batch_alter_table("partner_link_reminders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_link_reminders_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("partner_link_reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_link_reminders_tenant_id"))
    op.drop_table("partner_link_reminders")
    with op.batch_alter_table("partner_invitations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_partner_invitations_link_duration"), type_="check")
        batch_op.drop_column("link_duration_days")
    # An expired link has no place in the older schema: it ends (its roles stay until removed).
    op.execute("UPDATE partner_links SET status = 'ended', ended_at = expires_at WHERE status = 'expired'")
    with op.batch_alter_table("partner_links", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_links_expiry")
        batch_op.drop_constraint(batch_op.f("ck_partner_links_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_partner_links_status"), "status IN ('active', 'ended')"
        )
        batch_op.drop_column("expired_at")
        batch_op.drop_column("expires_at")
