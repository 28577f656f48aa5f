from __future__ import annotations

import uuid
from dataclasses import dataclass

from roomwarden.audit.service import Actor


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
