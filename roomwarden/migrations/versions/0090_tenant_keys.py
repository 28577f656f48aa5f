"""Every tenant-owned table keyed by tenant: composite primary keys, unique constraints and
foreign keys that include tenant_id, so the schema can be distributed by tenant

Revision ID: 0090
Revises: 0085
Create Date: 2026-12-07 13:00:00

What ``roomwarden db check`` (``roomwarden.kit.distribution``) requires of a table
distributed by ``tenant_id`` (docs/operations.md, "Towards Citus"):

- primary keys on ``id`` become ``(id, tenant_id)``; those on pairs gain ``tenant_id`` last.
  ``id`` stays first, so that a lookup by id alone is still a probe of the primary key, and
  the ORM's identity stays on ``id``;
- unique constraints and unique indexes gain ``tenant_id``: per tenant by meaning, or random
  tokens whose global uniqueness is their randomness (``token_hash``, the enrollment key);
- single-column foreign keys inside a tenant become ``(tenant_id, x_id)`` to
  ``(tenant_id, id)``; ``partner_links`` gains the unique ``(tenant_id, id)`` they refer to.

``users`` and ``security_groups`` are reference tables (``REFERENCE_TABLES`` in
``roomwarden.kit.distribution``): their keys do not change, and the foreign keys of a partner's
members in a customer's assignments and elevations keep referring to them across tenants.

Tables are changed by reflection, never from a copy of their definitions, so columns that
other migrations add are kept. On PostgreSQL the constraints are altered in place: the old
foreign keys are dropped first, then primary and unique keys are replaced, then the new
foreign keys are added, each validated against the rows present. On SQLite each table is
rebuilt (``batch_alter_table``) with foreign keys off — rebuilding a referenced table with
them on would cascade its ``DROP`` to the referencing rows — and ``legacy_alter_table`` on, so
that renaming the rebuilt table does not re-check the triggers of other tables; the triggers
of a rebuilt table are created again, and ``PRAGMA foreign_key_check`` must then find nothing
dangling, or the migration fails and its changes are rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import sqlalchemy as sa
from alembic import op

revision = "0090"
down_revision = "0085"
branch_labels = None
depends_on = None

TENANT = "tenant_id"

#: table -> (primary key before, primary key after)
PRIMARY_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    **{
        t: (("id",), ("id", TENANT))
        for t in (
            "approval_requests",
            "assignment_members",
            "audit_records",
            "devices",
            "elevations",
            "outgoing_mail",
            "partner_invitations",
            "partner_links",
            "recovery_codes",
            "role_assignments",
            "roles",
            "room_groups",
            "rooms",
            "scopes",
            "ticket_updates",
            "tickets",
            "update_rings",
            "web_sessions",
        )
    },
    "partner_link_reminders": (("link_id", "expires_at", "days"), ("link_id", "expires_at", "days", TENANT)),
    "role_permissions": (("role_id", "permission"), ("role_id", "permission", TENANT)),
    "room_group_members": (("group_id", "room_id"), ("group_id", "room_id", TENANT)),
    "scope_effective_rooms": (("scope_id", "room_id"), ("scope_id", "room_id", TENANT)),
    "scope_groups": (("scope_id", "group_id"), ("scope_id", "group_id", TENANT)),
    "scope_rooms": (("scope_id", "room_id"), ("scope_id", "room_id", TENANT)),
    "security_group_members": (("group_id", "user_id"), ("group_id", "user_id", TENANT)),
}


class Unique(NamedTuple):
    """A unique key before and after: a constraint (named by the naming convention after its
    columns) or a unique index (keeping its name), partial where ``where`` says."""

    table: str
    before: tuple[str, ...] | None  # None: new
    after: tuple[str, ...]
    index_name: str | None = None
    where: str | None = None

    def name(self, columns: tuple[str, ...]) -> str:
        return self.index_name or f"uq_{self.table}_{'_'.join(columns)}"


UNIQUES = (
    Unique("assignment_members", ("assignment_id", "user_id"), ("assignment_id", "user_id", TENANT)),
    Unique("assignment_members", ("assignment_id", "group_id"), ("assignment_id", "group_id", TENANT)),
    Unique("devices", ("token_hash",), ("token_hash", TENANT), index_name="uq_devices_token_hash"),
    Unique(
        "elevations",
        ("assignment_id", "user_id"),
        ("assignment_id", "user_id", TENANT),
        index_name="uq_elevations_active",
        where="status = 'active'",
    ),
    Unique("partner_invitations", ("scope_id",), ("scope_id", TENANT)),
    Unique("partner_links", ("scope_id",), ("scope_id", TENANT)),
    Unique("partner_links", None, (TENANT, "id")),
    Unique("recovery_codes", ("user_id", "code_hash"), ("user_id", "code_hash", TENANT)),
    Unique("role_assignments", ("scope_id",), ("scope_id", TENANT)),
    Unique(
        "roles",
        ("partner_link_id", "name"),
        ("partner_link_id", "name", TENANT),
        index_name="uq_roles_partner_name",
        where="partner_link_id IS NOT NULL",
    ),
    Unique(
        "rooms",
        ("enrollment_key_hash",),
        ("enrollment_key_hash", TENANT),
        index_name="ix_rooms_enrollment_key_hash",
    ),
    Unique("web_sessions", ("token_hash",), ("token_hash", TENANT)),
)


class ForeignKey(NamedTuple):
    """``table.column -> referred.id`` becomes ``(tenant_id, column) -> referred (tenant_id, id)``."""

    table: str
    column: str
    referred: str
    ondelete: str | None

    def name(self, first: str) -> str:
        return f"fk_{self.table}_{first}_{self.referred}"


FOREIGN_KEYS = (
    ForeignKey("approval_requests", "link_id", "partner_links", "CASCADE"),
    ForeignKey("elevations", "link_id", "partner_links", "CASCADE"),
    ForeignKey("partner_invitations", "link_id", "partner_links", None),
    ForeignKey("partner_invitations", "scope_id", "scopes", None),
    ForeignKey("partner_link_reminders", "link_id", "partner_links", "CASCADE"),
    ForeignKey("partner_links", "scope_id", "scopes", None),
    ForeignKey("roles", "partner_link_id", "partner_links", "CASCADE"),
)


def upgrade() -> None:
    _apply(up=True)


def downgrade() -> None:
    _apply(up=False)


# -- the changes, in either direction -------------------------------------------------------


#: a foreign key to create: its name, the referred table, local and remote columns, ondelete
_NewForeignKey = tuple[str, str, list[str], list[str], str | None]


class _Change(NamedTuple):
    """What to do to one table; the names of what is dropped are read from the database."""

    table: str
    drop_fks: list[str]
    primary: tuple[str, str, tuple[str, ...]] | None  # name before, name after, columns after
    drop_uniques: list[Unique]
    add_uniques: list[Unique]
    add_fks: list[_NewForeignKey]


def _changes(up: bool) -> list[_Change]:
    insp = sa.inspect(op.get_bind())
    tables = set(PRIMARY_KEYS) | {u.table for u in UNIQUES} | {f.table for f in FOREIGN_KEYS}
    changes = []
    for table in sorted(tables):
        keys = PRIMARY_KEYS.get(table)
        primary = None
        if keys is not None:
            primary = (
                insp.get_pk_constraint(table)["name"] or f"pk_{table}",
                f"pk_{table}",
                keys[1 if up else 0],
            )
        drop_fks: list[str] = []
        add_fks: list[_NewForeignKey] = []
        for fk in (f for f in FOREIGN_KEYS if f.table == table):
            old_cols = [fk.column] if up else [TENANT, fk.column]
            new_cols = [TENANT, fk.column] if up else [fk.column]
            drop_fks.append(_foreign_key_name(insp, table, old_cols, fk.referred))
            remote = [TENANT, "id"] if up else ["id"]
            add_fks.append((fk.name(new_cols[0]), fk.referred, new_cols, remote, fk.ondelete))
        uniques = [u for u in UNIQUES if u.table == table]
        changes.append(
            _Change(
                table,
                drop_fks,
                primary,
                [u for u in uniques if (u.before if up else u.after) is not None],
                [u for u in uniques if (u.after if up else u.before) is not None],
                add_fks,
            )
        )
    return changes


def _foreign_key_name(insp: Any, table: str, columns: list[str], referred: str) -> str:
    for fk in insp.get_foreign_keys(table):
        if fk["referred_table"] == referred and fk["constrained_columns"] == columns:
            if not fk["name"]:
                raise RuntimeError(f"the foreign key {table} ({', '.join(columns)}) has no name")
            return str(fk["name"])
    raise RuntimeError(f"no foreign key {table} ({', '.join(columns)}) -> {referred}")


def _apply(*, up: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with _sqlite_rebuilding(bind):
            for change in _changes(up):
                with op.batch_alter_table(change.table, recreate="always") as batch:
                    _alter(batch, change, up)
    else:
        changes = _changes(up)
        for change in changes:
            for name in change.drop_fks:
                op.drop_constraint(name, change.table, type_="foreignkey")
        for change in changes:
            _alter(op, change, up, foreign_keys=False)
        for change in changes:
            for name, referred, local, remote, ondelete in change.add_fks:
                op.create_foreign_key(name, change.table, referred, local, remote, ondelete=ondelete)


def _alter(target: Any, change: _Change, up: bool, *, foreign_keys: bool = True) -> None:
    """Apply ``change`` through ``target``: a batch (one table, SQLite) or ``op`` itself."""
    batch = target is not op
    args: tuple[str, ...] = () if batch else (change.table,)
    if foreign_keys:
        for name in change.drop_fks:
            target.drop_constraint(name, *args, type_="foreignkey")
    if change.primary is not None:
        before, after, key = change.primary
        target.drop_constraint(before, *args, type_="primary")
        target.create_primary_key(after, *args, list(key))
    for u in change.drop_uniques:
        dropped = u.before if up else u.after
        assert dropped is not None
        if u.index_name:
            target.drop_index(u.index_name, **({} if batch else {"table_name": change.table}))
        else:
            target.drop_constraint(u.name(dropped), *args, type_="unique")
    for u in change.add_uniques:
        added = u.after if up else u.before
        assert added is not None
        if u.index_name:
            where = (
                {}
                if u.where is None
                else {"sqlite_where": sa.text(u.where), "postgresql_where": sa.text(u.where)}
            )
            target.create_index(u.index_name, *args, list(added), unique=True, **where)
        else:
            target.create_unique_constraint(u.name(added), *args, list(added))
    if foreign_keys:
        for name, referred, local, remote, ondelete in change.add_fks:
            target.create_foreign_key(name, referred, local, remote, ondelete=ondelete)


# -- SQLite: rebuilding tables with foreign keys off -----------------------------------------


@contextmanager
def _sqlite_rebuilding(bind: sa.Connection) -> Iterator[None]:
    """Foreign keys off and ``legacy_alter_table`` on while tables are rebuilt; the triggers of
    rebuilt tables (dropped with them) created again; nothing left dangling.

    ``PRAGMA foreign_keys`` is a no-op inside a transaction, so the transaction the migrations
    run in is committed first (the revisions before this one, stamped), a new one is begun for
    the rebuild, and it is committed only once ``PRAGMA foreign_key_check`` is clean. A failure
    rolls the rebuild back and leaves the database at the previous revision."""
    raw = bind.connection.dbapi_connection
    assert raw is not None
    triggers = raw.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    enforced = raw.execute("PRAGMA foreign_keys").fetchone()[0]
    if raw.in_transaction:
        raw.execute("COMMIT")
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute("PRAGMA legacy_alter_table=ON")
    raw.execute("BEGIN")
    try:
        yield
        present = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        for name, sql in triggers:
            if name not in present:
                raw.execute(sql)
        dangling = raw.execute("PRAGMA foreign_key_check").fetchall()
        if dangling:
            shown = ", ".join(
                f"{table} row {rowid} -> {parent}" for table, rowid, parent, _fk in dangling[:10]
            )
            raise RuntimeError(f"re-keying left {len(dangling)} rows without their parent: {shown}")
        raw.execute("COMMIT")
    except BaseException:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise
    finally:
        raw.execute("PRAGMA legacy_alter_table=OFF")
        raw.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
        raw.execute("BEGIN")
