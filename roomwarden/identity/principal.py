"""Who is calling: the signed-in user as every request re-reads it (``Principal``), and the
rule that a verified token's bearer is still current (``caller_principal``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from roomwarden.audit.service import Actor
from roomwarden.identity.models import User
from roomwarden.kit.errors import Unauthenticated


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user, re-read from the database on every request."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    upn: str
    display_name: str
    is_global_admin: bool
    mfa: bool = False

    @property
    def actor(self) -> Actor:
        """This user as the actor of an audit record (in whichever tenant it acts)."""
        return Actor(self.user_id, self.tenant_id, self.upn, self.display_name)


#: The caller's columns, read on every request (plain columns, no ORM object).
CALLER_COLUMNS = (
    User.tenant_id,
    User.upn,
    User.display_name,
    User.is_global_admin,
    User.is_active,
    User.token_version,
)


def caller_principal(
    row: Any, *, user_id: uuid.UUID, home_tenant_id: uuid.UUID, token_version: int, mfa: bool
) -> Principal:
    """The bearer of a verified token, from its user's row (``CALLER_COLUMNS`` first), or 401:
    the user must still exist, be active, belong to the token's tenant and carry the token's
    version. Every request re-reads the row, so revocation applies on the next request."""
    if row is None:
        raise Unauthenticated("the access token is invalid or expired")
    tenant, upn, display_name, is_global_admin, active, version = row[: len(CALLER_COLUMNS)]
    if not active or tenant != home_tenant_id or version != token_version:
        raise Unauthenticated("the access token is invalid or expired")
    return Principal(
        user_id=user_id,
        tenant_id=tenant,
        upn=upn,
        display_name=display_name,
        is_global_admin=is_global_admin,
        mfa=mfa,
    )
