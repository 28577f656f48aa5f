"""What the directory asks of the packages above it (``kit.extensions``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

from roomwarden.audit.service import Auditor
from roomwarden.identity.models import SecurityGroup
from roomwarden.kit.extensions import Slot

#: Wraps a change to a tenant's directory that could take a live member away from a partner's
#: Primary admins (deactivating or deleting a user, changing or deleting a security group): it
#: locks what it must first and refuses the change (409) if it left a link without one. The
#: partner rules register it (``partners.primary_admins.keeping_primary_admins``).
DirectoryChange = Callable[[Session, uuid.UUID], AbstractContextManager[None]]
directory_change: Slot[DirectoryChange] = Slot("identity.directory_change")

#: Asked before a security group's members change, with the members wanted and the members
#: now: a partner's group named by a customer's partner role assignments is that customer's
#: ``partner_role.change`` (change control registers it: ``approvals.partner_groups``). It
#: records the change in those customers' logs and answers ``True`` when the change is held
#: for approval, in which case the members are left as they are.
GroupMembersChange = Callable[[Session, Auditor, SecurityGroup, list[uuid.UUID], list[uuid.UUID]], bool]
group_members_change: Slot[GroupMembersChange] = Slot("identity.group_members_change")
