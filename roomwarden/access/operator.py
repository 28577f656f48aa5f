"""The service operator acting inside one tenant (the command line's room and ring commands):
every permission over all rooms, like the tenant's Global admin, and recorded in the tenant's
audit log as the service operator rather than as any user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from roomwarden.access.permissions import ALL_PERMISSIONS
from roomwarden.access.resolver import Access, Grant
from roomwarden.audit.service import OPERATOR_ACTOR, Actor, record
from roomwarden.identity.principal import Principal

OPERATOR_ROLE = "Service operator"


@dataclass(frozen=True, slots=True)
class OperatorAccess(Access):
    @property
    def actor(self) -> Actor:
        return OPERATOR_ACTOR

    def audit(
        self,
        session: Session,
        category: Any,
        operation: Any,
        object_name: str,
        object_id: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
        *,
        permission: Any = None,
    ) -> None:
        record(
            session,
            tenant_id=self.tenant_id,
            actor=OPERATOR_ACTOR,
            category=category,
            operation=operation,
            object_name=object_name,
            object_id=object_id,
            details=details,
            allowed_by=OPERATOR_ROLE,
        )


def operator_access(tenant_id: uuid.UUID) -> Access:
    """Every permission over all rooms of ``tenant_id``, acted as the service operator."""
    principal = Principal(
        user_id=uuid.UUID(int=0),
        tenant_id=tenant_id,
        upn="",
        display_name=OPERATOR_ACTOR.display_name or OPERATOR_ROLE,
        is_global_admin=True,
    )
    return OperatorAccess(tenant_id, principal, {p: Grant(all_rooms=True) for p in ALL_PERMISSIONS})
