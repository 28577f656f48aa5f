"""Keyed audit chain, readable actor fields, signed chain heads

Records keep their plain SHA-256 links up to the head's ``legacy_seq`` (the epoch at which
the chain became keyed); every head is signed here with the configured
``ROOMWARDEN_AUDIT_KEY``, and every record written from now on carries an HMAC under it. The
signed head seals the legacy prefix: the first keyed record's MAC covers the last legacy
hash, and until then the head's signature does. Set the production key *before* running
this migration (docs/operations.md).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 19:40:00
"""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_upn", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("user_display_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("partner_tenant_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("allowed_by", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
        batch_op.alter_column(
            "details", existing_type=sa.JSON(), type_=sa.Text(), postgresql_using="details::text"
        )
        batch_op.create_index("ix_audit_records_tenant_user", ["tenant_id", "user_id", "seq"], unique=False)
        batch_op.create_index(
            "ix_audit_records_tenant_user_tenant", ["tenant_id", "user_tenant_id", "seq"], unique=False
        )
    with op.batch_alter_table("audit_chain_heads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legacy_seq", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("base_seq", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("base_hash", sa.String(length=64), nullable=False, server_default=GENESIS)
        )
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("signature", sa.String(length=64), nullable=True))
    _mark_epoch_and_sign_heads()


def _mark_epoch_and_sign_heads() -> None:
    """Every existing record is legacy (``legacy_seq = last_seq``); each head is signed with
    the configured key. Self-contained on purpose: later code changes must not change what
    this revision did."""
    from roomwarden.settings import Settings

    key = Settings().audit_key
    secret = str(getattr(key, "get_secret_value", lambda: key)())
    kid = hmac.new(secret.encode(), b"roomwarden-audit-key-id", hashlib.sha256).hexdigest()[:16]
    heads = sa.table(
        "audit_chain_heads",
        sa.column("tenant_id", sa.Uuid()),
        sa.column("last_seq", sa.Integer()),
        sa.column("last_hash", sa.String()),
        sa.column("legacy_seq", sa.Integer()),
        sa.column("key_id", sa.String()),
        sa.column("signature", sa.String()),
    )
    conn = op.get_bind()
    for tenant_id, last_seq, last_hash in conn.execute(
        sa.select(heads.c.tenant_id, heads.c.last_seq, heads.c.last_hash)
    ).all():
        message = f"head|{tenant_id}|{last_seq}|{last_hash}|{last_seq}|0|{GENESIS}".encode()
        signature = hmac.digest(secret.encode(), message, "sha256").hex()
        conn.execute(
            heads.update()
            .where(heads.c.tenant_id == tenant_id)
            .values(legacy_seq=last_seq, key_id=kid, signature=signature)
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_chain_heads", schema=None) as batch_op:
        batch_op.drop_column("signature")
        batch_op.drop_column("key_id")
        batch_op.drop_column("base_hash")
        batch_op.drop_column("base_seq")
        batch_op.drop_column("legacy_seq")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_tenant_user_tenant")
        batch_op.drop_index("ix_audit_records_tenant_user")
        batch_op.alter_column(
            "details", existing_type=sa.Text(), type_=sa.JSON(), postgresql_using="details::json"
        )
        batch_op.drop_column("key_id")
        batch_op.drop_column("allowed_by")
        batch_op.drop_column("partner_tenant_name")
        batch_op.drop_column("user_display_name")
        batch_op.drop_column("user_upn")
