"""One statement to state a caller's tenants (PostgreSQL)

Revision ID: 0100
Revises: 0095
Create Date: 2026-12-07 23:10:00

A signed-in caller's transaction states its own tenant and then the tenants live-linked to it
(``roomwarden.identity.tenancy``): the links can only be read once the own tenant is stated,
because the policies of ``partner_links`` and ``partner_invitations`` show a row only to a
stated tenant. That took two statements, one round trip each, on every request.
``roomwarden_state_linked(ids, at)`` does both in order, in one call: it adds ``ids`` to
``roomwarden.tenant_ids``, reads under that the tenants live-linked to them either way and
those whose invitations to them are pending at ``at``, adds those, and returns the setting.

It runs as its caller (``SECURITY INVOKER``, the default): the policies apply to what it
reads, and it can state nothing its caller could not state with ``set_config`` itself. Its
reads are the SQL twins of ``partners.models.live_link`` and ``pending_invitation``;
``tests/kit/test_row_security.py`` checks them against those for links and invitations in
every state.

On SQLite this does nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0100"
down_revision = "0095"
branch_labels = None
depends_on = None

ROLE = "roomwarden_service"

FUNCTION = """
CREATE OR REPLACE FUNCTION roomwarden_state_linked(ids uuid[], at timestamptz) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
    linked text;
BEGIN
    PERFORM set_config('roomwarden.tenant_ids', concat_ws(',',
        nullif(current_setting('roomwarden.tenant_ids', true), ''), array_to_string(ids, ',')), true);
    SELECT string_agg(t::text, ',') INTO linked FROM (
        SELECT l.tenant_id AS t FROM partner_links l
        WHERE l.partner_tenant_id = ANY (ids) AND l.status = 'active'
          AND (l.expires_at IS NULL OR l.expires_at > at)
        UNION
        SELECT l.partner_tenant_id FROM partner_links l
        WHERE l.tenant_id = ANY (ids) AND l.status = 'active'
          AND (l.expires_at IS NULL OR l.expires_at > at)
        UNION
        SELECT i.tenant_id FROM partner_invitations i
        WHERE i.partner_tenant_id = ANY (ids) AND i.status = 'pending' AND i.expires_at > at
    ) found;
    RETURN set_config('roomwarden.tenant_ids', concat_ws(',',
        nullif(current_setting('roomwarden.tenant_ids', true), ''), linked), true);
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION roomwarden_state_linked(uuid[], timestamptz) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION roomwarden_state_linked(uuid[], timestamptz) TO {ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS roomwarden_state_linked(uuid[], timestamptz)")
