"""Row-level security on every tenant-owned table (PostgreSQL)

Revision ID: 0095
Revises: 0090
Create Date: 2026-12-07 13:00:00

SPEC §10: every table with a ``tenant_id`` column (read from the live catalog, so tables and
columns added by earlier migrations are covered too) gets row-level security enabled *and
forced*, with policies that show and accept only the rows of the tenants the transaction
states in ``roomwarden.tenant_ids``; a table with ``partner_tenant_id`` also shows the rows
addressed to a stated partner tenant; a few tables show the one row a transaction looks up by
a key before it knows the tenant (``roomwarden.kit.db.LOOKUPS``). Unset or empty settings show
nothing.

The service's connections switch to the NOLOGIN role ``roomwarden_service`` (not the owner,
not a superuser, no BYPASSRLS): created here if the cluster does not have it yet (roles are
cluster-wide), granted this database's tables and sequences (and those later migrations
create), and granted to the migrating login. The migrations themselves run as the login.

On SQLite this does nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0095"
down_revision = "0090"
branch_labels = None
depends_on = None

ROLE = "roomwarden_service"
TENANTS = "string_to_array(nullif(current_setting('roomwarden.tenant_ids', true), ''), ',')::uuid[]"
#: (table, column, setting): the rows a lookup before the tenant is known may see, by the
#: comma-separated keys the setting names
LOOKUPS = (
    ("users", "upn", "roomwarden.upn"),
    ("devices", "token_hash", "roomwarden.device_token_hash"),
    ("rooms", "enrollment_key_hash", "roomwarden.enrollment_key_hash"),
    ("web_sessions", "token_hash", "roomwarden.session_token_hash"),
    ("tenant_domains", "domain", "roomwarden.domain"),
)
_COLUMN_TABLES = sa.text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_attribute a ON a.attrelid = c.oid "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
    "AND a.attname = :column AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname"
)


def _tables(column: str) -> list[str]:
    return list(op.get_bind().execute(_COLUMN_TABLES, {"column": column}).scalars())


def _create_role() -> None:
    # Idempotent and safe against a migration of another database on the same server doing
    # the same at the same moment.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                BEGIN
                    CREATE ROLE {ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                END;
            END IF;
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
               AND NOT pg_has_role(current_user, '{ROLE}', 'MEMBER') THEN
                BEGIN
                    EXECUTE format('GRANT {ROLE} TO %I', current_user);
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                END;
            END IF;
        END
        $$
        """
    )


def _grant() -> None:
    op.execute(f"GRANT USAGE ON SCHEMA {_schema()} TO {ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {_schema()} TO {ROLE}")
    op.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {_schema()} TO {ROLE}")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {_schema()} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {_schema()} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {ROLE}"
    )


def _schema() -> str:
    name = op.get_bind().execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one()
    return str(name)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _create_role()
    _grant()
    partner = set(_tables("partner_tenant_id"))
    columns = {(t, c) for c in {c for _, c, _ in LOOKUPS} for t in _tables(c)}
    for table in _tables("tenant_id"):
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
        op.execute(f'DROP POLICY IF EXISTS tenant_rows ON "{table}"')
        op.execute(
            f'CREATE POLICY tenant_rows ON "{table}" USING (tenant_id = ANY ({TENANTS})) '
            f"WITH CHECK (tenant_id = ANY ({TENANTS}))"
        )
        if table in partner:
            op.execute(f'DROP POLICY IF EXISTS partner_rows ON "{table}"')
            op.execute(
                f'CREATE POLICY partner_rows ON "{table}" USING (partner_tenant_id = ANY ({TENANTS})) '
                f"WITH CHECK (partner_tenant_id = ANY ({TENANTS}))"
            )
        for lookup_table, column, setting in LOOKUPS:
            if lookup_table == table and (table, column) in columns:
                op.execute(f'DROP POLICY IF EXISTS lookup_{column} ON "{table}"')
                op.execute(
                    f'CREATE POLICY lookup_{column} ON "{table}" FOR SELECT '
                    f"USING ({column} = ANY (string_to_array(nullif(current_setting('{setting}', true), ''), ',')))"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _tables("tenant_id"):
        for policy in ("tenant_rows", "partner_rows", *(f"lookup_{c}" for t, c, _ in LOOKUPS if t == table)):
            op.execute(f'DROP POLICY IF EXISTS {policy} ON "{table}"')
        op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')
    schema = _schema()
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON SEQUENCES FROM {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA {schema} FROM {ROLE}")
