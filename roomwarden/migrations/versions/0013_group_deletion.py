"""Deleting a room group withdraws its rooms from the scopes naming it, on PostgreSQL too

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 07:10:00

A group's deletion cascades to both ``scope_groups`` and ``room_group_members`` in the same
statement. On PostgreSQL the row triggers of those cascades (migration 0011) run only once
both cascades are done, when neither table says any more which scopes the group reached nor
which rooms it held: each trigger withdrew nothing, and every scope naming the group kept its
rooms in ``scope_effective_rooms`` — access to a deleted group's rooms stayed granted. (SQLite
fires each cascade's triggers row by row, while the other table still holds its rows.)

A trigger before the group's row is deleted, while both tables still hold it, withdraws every
(scope, room) pair that the group alone justified.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The pairs this group justified and nothing else does: not a listed room of the scope, nor a
# member of another group the scope names.
_WITHDRAW = """
    DELETE FROM scope_effective_rooms
    WHERE scope_effective_rooms.scope_id IN (SELECT sg.scope_id FROM scope_groups sg WHERE sg.group_id = OLD.id)
      AND scope_effective_rooms.room_id IN (SELECT m.room_id FROM room_group_members m WHERE m.group_id = OLD.id)
      AND NOT EXISTS (SELECT 1 FROM scope_rooms sr
                      WHERE sr.scope_id = scope_effective_rooms.scope_id AND sr.room_id = scope_effective_rooms.room_id)
      AND NOT EXISTS (SELECT 1 FROM scope_groups sg
                      JOIN room_group_members m ON m.group_id = sg.group_id
                      WHERE sg.scope_id = scope_effective_rooms.scope_id AND m.room_id = scope_effective_rooms.room_id
                        AND sg.group_id <> OLD.id);"""

# The same locks as the other triggers of the group (0011): the group, then its scopes in id order.
_PG_LOCKS = """
    PERFORM 1 FROM room_groups WHERE id = OLD.id FOR NO KEY UPDATE;
    PERFORM 1 FROM scopes WHERE id IN (SELECT scope_id FROM scope_groups WHERE group_id = OLD.id)
      ORDER BY id FOR NO KEY UPDATE;"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION rw_room_groups_del() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN{_PG_LOCKS}{_WITHDRAW}\n    RETURN OLD;\nEND $$"
        )
        op.execute(
            "CREATE TRIGGER rw_room_groups_del BEFORE DELETE ON room_groups "
            "FOR EACH ROW EXECUTE FUNCTION rw_room_groups_del()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER rw_room_groups_del BEFORE DELETE ON room_groups FOR EACH ROW BEGIN{_WITHDRAW}\nEND"
        )
    # Repair what the missing trigger left behind: pairs no longer justified by the definition.
    op.execute(
        """DELETE FROM scope_effective_rooms
    WHERE NOT EXISTS (SELECT 1 FROM scope_rooms sr
                      WHERE sr.scope_id = scope_effective_rooms.scope_id AND sr.room_id = scope_effective_rooms.room_id)
      AND NOT EXISTS (SELECT 1 FROM scope_groups sg
                      JOIN room_group_members m ON m.group_id = sg.group_id
                      WHERE sg.scope_id = scope_effective_rooms.scope_id AND m.room_id = scope_effective_rooms.room_id)"""
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS rw_room_groups_del ON room_groups")
        op.execute("DROP FUNCTION IF EXISTS rw_room_groups_del()")
    else:
        op.execute("DROP TRIGGER IF EXISTS rw_room_groups_del")
