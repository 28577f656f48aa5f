"""What roles and assignments ask of the packages above access (``kit.extensions``).

A link's Primary admins are partner rules (``partners.primary_admins``), but every change of a
role or an assignment must ask them first, and the customer's edit of the Primary admins'
scope is a change of the link's delegation (``partners.links``). Access declares the
questions here; the partner package answers them at start-up."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from roomwarden.access.models import Role
from roomwarden.access.resolver import Access
from roomwarden.access.schemas import MemberRef, ScopeIn
from roomwarden.kit.extensions import Slot


class PartnerRoles(Protocol):
    """The rules about a link's Primary admins, asked by every role and assignment change."""

    def is_primary_admins(self, role: Role) -> bool: ...
    def refuse_role_edit(self, role: Role) -> None: ...
    def refuse_role_deletion(self, access: Access, role: Role) -> None: ...
    def refuse_second_assignment(self, role: Role) -> None: ...
    def refuse_assignment_deletion(self, role: Role) -> None: ...
    def refuse_scope_change(self, role: Role) -> None: ...
    def lock_directory(self, session: Session, tenant_id: uuid.UUID) -> None: ...
    def require_primary_admin(self, session: Session, access: Access, role: Role) -> None: ...
    def change_members(
        self, session: Session, access: Access, role: Role, members: Sequence[MemberRef]
    ) -> None: ...


partner_roles: Slot[PartnerRoles] = Slot("access.partner_roles")

#: The customer replaces the scope of a link's delegation (its Primary admins' scope).
DelegationChange = Callable[[Session, Access, uuid.UUID, ScopeIn], None]
delegation_change: Slot[DelegationChange] = Slot("access.delegation_change")
