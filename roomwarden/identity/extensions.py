"""What the directory asks of the packages above it (``kit.extensions``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

from roomwarden.kit.extensions import Slot

#: Wraps a change to a tenant's directory that could take a live member away from a partner's
#: Primary admins (deactivating or deleting a user, changing or deleting a security group): it
#: locks what it must first and refuses the change (409) if it left a link without one. The
#: partner rules register it (``partners.primary_admins.keeping_primary_admins``).
DirectoryChange = Callable[[Session, uuid.UUID], AbstractContextManager[None]]
directory_change: Slot[DirectoryChange] = Slot("identity.directory_change")
