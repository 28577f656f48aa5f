from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import EmailStr, Field

from roomwarden.kit.schemas import Domain, Input, Name, Output, Password, PasswordOwner, Patch, TimeZone, Upn


class AdminCreate(PasswordOwner):
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
    default_time_zone: str
    updated_at: datetime


class SettingsUpdate(Patch):
    notification_email: EmailStr | None = None
    # A default of None is never validated: the field may be omitted, but not set to null.
    enable_all_tickets_view: bool = None  # type: ignore[assignment]
    require_mfa_for_partners: bool = None  # type: ignore[assignment]
    default_time_zone: TimeZone = None  # type: ignore[assignment]


class OperatorTenantRead(TenantRead):
    """A tenant as the service operator sees it: no customer data, only its size."""

    identity_source: str
    users: int = Field(description="local and provisioned user accounts")
    rooms: int
    partners: int = Field(description="active links in which this tenant is the customer")
    customers: int = Field(description="active links in which this tenant is the partner")


class OperatorTenantUpdate(Input):
    """Rename a tenant or change its domains: ``domains`` replaces the whole list,
    ``add_domains``/``remove_domains`` change it without knowing it."""

    # A default of None is never validated: the field may be omitted, but not set to null.
    name: Name = None  # type: ignore[assignment]
    domains: list[Domain] = Field(None, min_length=1, max_length=20)  # type: ignore[arg-type]
    add_domains: list[Domain] = Field(default_factory=list, max_length=20)
    remove_domains: list[Domain] = Field(default_factory=list, max_length=20)


class DomainAdd(Input):
    domain: Domain
