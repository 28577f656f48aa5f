"""Federated sign-in hardening: a trusted username claim, single-use sign-in flows

Revision ID: 0013h
Revises: 0030
Create Date: 2026-12-07 06:50:00

``identity_providers.trust_preferred_username``: the tenant declares that its provider's
``preferred_username`` names the person (Entra ID's does); off by default, so an account is
linked or provisioned only from an ``email`` the token marks verified.

``oidc_used_flows``: the ``state`` of every federated sign-in that came back (only its
SHA-256), until its flow cookie would have expired anyway, so a callback is accepted once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roomwarden.kit.db import UTCDateTime

revision = "0013h"
# after main's current head (0030, rule-based room groups), so that this branch has one
# head; re-chained at merge
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identity_providers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trust_preferred_username", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "oidc_used_flows",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("state_digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_oidc_used_flows_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "state_digest", name=op.f("pk_oidc_used_flows")),
    )
    with op.batch_alter_table("oidc_used_flows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_used_flows_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_used_flows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_used_flows_expires_at"))
    op.drop_table("oidc_used_flows")
    with op.batch_alter_table("identity_providers", schema=None) as batch_op:
        batch_op.drop_column("trust_preferred_username")
