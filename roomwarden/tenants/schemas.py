from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import EmailStr, Field

from roomwarden.kit.schemas import Domain, Input, Name, Output, Password, Patch, Upn


class AdminCreate(Input):
    upn: Upn
    display_name: Name
    password: Password


class TenantCreate(Input):
    name: Name
    domains: list[Domain] = Field(min_length=1, max_length=20)
    admin: AdminCreate


class TenantRead(Output):
    id: uuid.UUID
    name: str
    domains: list[str]
    created_at: datetime


class TenantCreated(TenantRead):
    admin_user_id: uuid.UUID


class SettingsRead(Output):
    tenant_id: uuid.UUID
    notification_email: str | None
    enable_all_tickets_view: bool
    require_mfa_for_partners: bool
    updated_at: datetime


class SettingsUpdate(Patch):
    notification_email: EmailStr | None = None
    # A default of None is never validated: the field may be omitted, but not set to null.
    enable_all_tickets_view: bool = None  # type: ignore[assignment]
    require_mfa_for_partners: bool = None  # type: ignore[assignment]
