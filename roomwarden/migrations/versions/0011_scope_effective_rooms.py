"""Materialised effective rooms of every scope, kept by triggers

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 19:55:00

A scope's effective rooms (SPEC §3) are its listed rooms plus the current members of its
listed groups. ``scope_effective_rooms`` holds them, one row per (scope, room), so that a
room check is one primary-key probe and a page of a scope an index range scan.

The rows are written only by the triggers below, fired by every insert and delete on
``scope_rooms``, ``scope_groups`` and ``room_group_members`` (foreign-key cascades included),
inside the transaction that made the change. On PostgreSQL each trigger first locks the rows
that order concurrent writers of the same pairs — the room group, then the scopes naming it,
in id order — so two transactions that each see only their own half of a change (a room
joining a group while the group joins a scope; a room leaving a group while it leaves the
scope's list) are serialised instead of leaving a stale or missing row. SQLite has one
writer at a time and needs no locks.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLE = "scope_effective_rooms"

# The rows of one (scope, room) pair that are no longer justified by the definition.
_UNJUSTIFIED = """
      AND NOT EXISTS (SELECT 1 FROM scope_rooms sr
                      WHERE sr.scope_id = scope_effective_rooms.scope_id AND sr.room_id = scope_effective_rooms.room_id)
      AND NOT EXISTS (SELECT 1 FROM scope_groups sg
                      JOIN room_group_members m ON m.group_id = sg.group_id
                      WHERE sg.scope_id = scope_effective_rooms.scope_id AND m.room_id = scope_effective_rooms.room_id)"""

# name -> (table, event, body). ``{lock_scope}``/``{lock_group}``/``{lock_group_scopes}`` are
# PostgreSQL row locks, empty on SQLite; ``R`` is NEW or OLD.
_TRIGGERS = {
    "scope_rooms_ins": (
        "scope_rooms",
        "INSERT",
        """{lock_scope}
    INSERT INTO scope_effective_rooms (tenant_id, scope_id, room_id)
    VALUES (R.tenant_id, R.scope_id, R.room_id)
    ON CONFLICT DO NOTHING;""",
    ),
    "scope_rooms_del": (
        "scope_rooms",
        "DELETE",
        """{lock_scope}
    DELETE FROM scope_effective_rooms
    WHERE scope_effective_rooms.scope_id = R.scope_id AND scope_effective_rooms.room_id = R.room_id"""
        + _UNJUSTIFIED
        + ";",
    ),
    "scope_groups_ins": (
        "scope_groups",
        "INSERT",
        """{lock_group}{lock_scope}
    INSERT INTO scope_effective_rooms (tenant_id, scope_id, room_id)
    SELECT R.tenant_id, R.scope_id, m.room_id FROM room_group_members m
    WHERE m.group_id = R.group_id
    ON CONFLICT DO NOTHING;""",
    ),
    "scope_groups_del": (
        "scope_groups",
        "DELETE",
        """{lock_group}{lock_scope}
    DELETE FROM scope_effective_rooms
    WHERE scope_effective_rooms.scope_id = R.scope_id
      AND scope_effective_rooms.room_id IN (SELECT m.room_id FROM room_group_members m WHERE m.group_id = R.group_id)"""
        + _UNJUSTIFIED
        + ";",
    ),
    "group_members_ins": (
        "room_group_members",
        "INSERT",
        """{lock_group}{lock_group_scopes}
    INSERT INTO scope_effective_rooms (tenant_id, scope_id, room_id)
    SELECT R.tenant_id, sg.scope_id, R.room_id FROM scope_groups sg
    WHERE sg.group_id = R.group_id
    ON CONFLICT DO NOTHING;""",
    ),
    "group_members_del": (
        "room_group_members",
        "DELETE",
        """{lock_group}{lock_group_scopes}
    DELETE FROM scope_effective_rooms
    WHERE scope_effective_rooms.room_id = R.room_id
      AND scope_effective_rooms.scope_id IN (SELECT sg.scope_id FROM scope_groups sg WHERE sg.group_id = R.group_id)"""
        + _UNJUSTIFIED
        + ";",
    ),
}

_PG_LOCKS = {
    "lock_scope": "\n    PERFORM 1 FROM scopes WHERE id = R.scope_id FOR NO KEY UPDATE;",
    "lock_group": "\n    PERFORM 1 FROM room_groups WHERE id = R.group_id FOR NO KEY UPDATE;",
    "lock_group_scopes": (
        "\n    PERFORM 1 FROM scopes WHERE id IN "
        "(SELECT scope_id FROM scope_groups WHERE group_id = R.group_id) ORDER BY id FOR NO KEY UPDATE;"
    ),
}


def _body(template: str, row: str, locks: dict[str, str]) -> str:
    return template.format(**locks).replace("R.", f"{row}.")


def _create_triggers(dialect: str) -> None:
    for name, (table, event, template) in _TRIGGERS.items():
        row = "NEW" if event == "INSERT" else "OLD"
        if dialect == "postgresql":
            body = _body(template, row, _PG_LOCKS)
            op.execute(
                f"CREATE FUNCTION rw_{name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN{body}\n    RETURN NULL;\nEND $$"
            )
            op.execute(
                f"CREATE TRIGGER rw_{name} AFTER {event} ON {table} FOR EACH ROW EXECUTE FUNCTION rw_{name}()"
            )
        else:
            body = _body(template, row, dict.fromkeys(_PG_LOCKS, ""))
            op.execute(f"CREATE TRIGGER rw_{name} AFTER {event} ON {table} FOR EACH ROW BEGIN{body}\nEND")


def _drop_triggers(dialect: str) -> None:
    for name, (table, _event, _template) in _TRIGGERS.items():
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS rw_{name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS rw_{name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS rw_{name}")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("scope_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "room_id"],
            ["rooms.tenant_id", "rooms.id"],
            name=op.f("fk_scope_effective_rooms_tenant_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "scope_id"],
            ["scopes.tenant_id", "scopes.id"],
            name=op.f("fk_scope_effective_rooms_tenant_id_scopes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scope_id", "room_id", name=op.f("pk_scope_effective_rooms")),
    )
    op.create_index("ix_scope_effective_rooms_room_id", TABLE, ["room_id"], unique=False)
    dialect = op.get_bind().dialect.name
    _create_triggers(dialect)
    op.execute(
        f"INSERT INTO {TABLE} (tenant_id, scope_id, room_id) "
        "SELECT tenant_id, scope_id, room_id FROM scope_rooms "
        "UNION SELECT sg.tenant_id, sg.scope_id, m.room_id FROM scope_groups sg "
        "JOIN room_group_members m ON m.group_id = sg.group_id"
    )


def downgrade() -> None:
    _drop_triggers(op.get_bind().dialect.name)
    op.drop_index("ix_scope_effective_rooms_room_id", table_name=TABLE)
    op.drop_table(TABLE)
