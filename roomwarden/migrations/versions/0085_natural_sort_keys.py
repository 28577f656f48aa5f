"""Natural sort keys for names, and the indexes that keep the portal's pages independent of
a tenant's size

Revision ID: 0085
Revises: 0080
Create Date: 2026-12-07 13:10:00

``name_key`` (kit.natural) beside the names of rooms, room groups, users and security groups,
indexed per tenant with the id, so a list in name order reads its page from the index; filled
here for the existing rows. ``ix_rooms_tenant_report`` counts a tenant's rooms offline by
their last report from the index alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roomwarden.kit.natural import key_type, natural_key

revision = "0085"
down_revision = "0080"
branch_labels = None
depends_on = None

#: table, the column named, the index of its key
KEYS = (
    ("rooms", "name", "ix_rooms_tenant_name_key"),
    ("room_groups", "name", "ix_room_groups_tenant_name_key"),
    ("users", "display_name", "ix_users_tenant_name_key"),
    ("security_groups", "name", "ix_security_groups_tenant_name_key"),
)
BATCH = 1000


def _fill(table: str, source: str) -> None:
    conn = op.get_bind()
    t = sa.table(table, sa.column("id"), sa.column(source), sa.column("name_key"))
    last = None
    while True:
        stmt = sa.select(t.c.id, t.c[source]).order_by(t.c.id).limit(BATCH)
        if last is not None:
            stmt = stmt.where(t.c.id > last)
        rows = conn.execute(stmt).all()
        if not rows:
            return
        for row_id, name in rows:
            conn.execute(sa.update(t).where(t.c.id == row_id).values(name_key=natural_key(name)))
        last = rows[-1][0]


def upgrade() -> None:
    for table, source, index in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("name_key", key_type(), nullable=True))
        _fill(table, source)
        with op.batch_alter_table(table) as batch:
            batch.alter_column("name_key", existing_type=key_type(), nullable=False)
        op.create_index(index, table, ["tenant_id", "name_key", "id"])
    op.create_index("ix_rooms_tenant_report", "rooms", ["tenant_id", "last_report_at", "health_state"])


def downgrade() -> None:
    op.drop_index("ix_rooms_tenant_report", table_name="rooms")
    for table, _source, index in reversed(KEYS):
        op.drop_index(index, table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("name_key")
