"""The distribution check (``roomwarden db check``): can this schema be distributed by tenant?

Read from the live database's catalog (SQLAlchemy's inspector, so it runs on SQLite and
PostgreSQL alike), never from the models. A table with a ``tenant_id`` column is
*tenant-owned*, to be distributed by ``tenant_id`` (e.g. with Citus), unless it is declared
a reference table below. What Citus needs of a distributed table, and what is checked:

- its primary key includes ``tenant_id``;
- every unique constraint and unique index includes ``tenant_id`` (a shard can only enforce
  uniqueness among its own rows);
- every foreign key to another tenant-owned table maps ``tenant_id`` to that table's
  ``tenant_id`` (both rows on the same shard). A foreign key to a reference table (``tenants``)
  is always possible.

A reference table (copied to every node) must not reference a tenant-owned table.

On PostgreSQL it also reports each tenant-owned table's row-level security: enabled, forced
and its number of policies (SPEC §10); ``require_rls`` makes a table without both an offence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

TENANT = "tenant_id"

#: Tables that hold a ``tenant_id`` but are global lookups, to be replicated to every node
#: rather than distributed, and why. Tables without ``tenant_id`` (``tenants``,
#: ``sign_in_throttles``, ``alembic_version``) are reference (or local) tables anyway.
REFERENCE_TABLES: dict[str, str] = {
    "tenant_domains": "a domain names one tenant across all of them: sign-in finds the tenant by it",
    "users": (
        "sign-in finds an account by its UPN before the tenant is known, and the UPN is unique over"
        " all tenants; a partner's users are named in its customers' assignments, elevations and"
        " tenant_managers, whose foreign keys cross tenants. Small (a tenant's room administrators,"
        " not its staff) and rarely written (account changes; a TOTP sign-in's last step), so a copy"
        " on every node costs little; it refers to no tenant-owned table"
    ),
    "security_groups": (
        "a partner's groups are named in its customers' assignments (assignment_members.group_id"
        " crosses tenants); a few names per tenant, written only when an administrator edits them;"
        " it refers to no tenant-owned table (its members are distributed with their tenant)"
    ),
}


@dataclass
class RLS:
    enabled: bool
    forced: bool
    policies: int

    @property
    def ok(self) -> bool:
        return self.enabled and self.forced and self.policies > 0


@dataclass
class TableReport:
    name: str
    kind: str  # "distributed" (tenant-owned), "reference"
    problems: list[str] = field(default_factory=list)
    rls: RLS | None = None


@dataclass
class Report:
    dialect: str
    tables: list[TableReport]
    require_rls: bool = False

    def offences(self, table: TableReport) -> list[str]:
        problems = list(table.problems)
        if self.require_rls and table.kind == "distributed" and (table.rls is None or not table.rls.ok):
            problems.append("row-level security is not enabled and forced with a policy")
        return problems

    @property
    def offending(self) -> list[str]:
        return [t.name for t in self.tables if self.offences(t)]

    @property
    def ok(self) -> bool:
        return not self.offending

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "database": self.dialect,
            "offending": self.offending,
            "tables": [
                {**asdict(t), "problems": self.offences(t), "rls": asdict(t.rls) if t.rls else None}
                for t in self.tables
            ],
        }


def check(conn: Connection, *, require_rls: bool = False) -> Report:
    insp = inspect(conn)
    names = sorted(n for n in insp.get_table_names() if n != "alembic_version")
    columns = {n: {c["name"] for c in insp.get_columns(n)} for n in names}
    owned = {n for n in names if TENANT in columns[n] and n not in REFERENCE_TABLES}
    rls = _row_security(conn, owned) if conn.dialect.name == "postgresql" else {}
    tables = []
    for name in names:
        if name in owned:
            report = TableReport(name, "distributed", _distributed_problems(insp, name, owned), rls.get(name))
        else:
            report = TableReport(name, "reference", _reference_problems(insp, name, owned))
        tables.append(report)
    return Report(conn.dialect.name, tables, require_rls)


def _distributed_problems(insp: Any, name: str, owned: set[str]) -> list[str]:
    problems = []
    pk = insp.get_pk_constraint(name)
    if TENANT not in pk["constrained_columns"]:
        problems.append(f"primary key ({', '.join(pk['constrained_columns'])}) lacks tenant_id")
    for cols, what in _uniques(insp, name):
        if TENANT not in cols:
            problems.append(f"unique {what} ({', '.join(cols)}) lacks tenant_id")
    for fk in insp.get_foreign_keys(name):
        target = fk["referred_table"]
        if target not in owned:
            continue
        pairs = dict(zip(fk["constrained_columns"], fk["referred_columns"], strict=True))
        if pairs.get(TENANT) != TENANT:
            problems.append(
                f"foreign key ({', '.join(fk['constrained_columns'])}) -> {target} "
                f"({', '.join(fk['referred_columns'])}) does not map tenant_id to tenant_id"
            )
    return problems


def _reference_problems(insp: Any, name: str, owned: set[str]) -> list[str]:
    return [
        f"reference table refers to the distributed table {fk['referred_table']}"
        for fk in insp.get_foreign_keys(name)
        if fk["referred_table"] in owned
    ]


def _uniques(insp: Any, name: str) -> Iterable[tuple[list[str], str]]:
    seen = set()
    for uq in insp.get_unique_constraints(name):
        seen.add(tuple(uq["column_names"]))
        yield list(uq["column_names"]), f"constraint {uq['name']}"
    for ix in insp.get_indexes(name):
        if ix.get("unique") and tuple(ix["column_names"]) not in seen:
            yield [c for c in ix["column_names"] if c is not None], f"index {ix['name']}"


def _row_security(conn: Connection, tables: set[str]) -> dict[str, RLS]:
    rows = conn.execute(
        text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
            " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        )
    )
    return {name: RLS(bool(on), bool(forced), int(n)) for name, on, forced, n in rows if name in tables}
