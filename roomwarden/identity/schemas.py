from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from roomwarden.kit.schemas import Input, Name, Output, Password, PasswordOwner, Patch, Upn


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class TotpEnrolment(BaseModel):
    secret: str
    otpauth_uri: str


class OtpIn(Input):
    otp: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")]


class UserCreate(PasswordOwner):
    upn: Upn
    display_name: Name
    password: Password
    is_global_admin: bool = False


class UserUpdate(Patch):
    # Defaults of None are not validated: a field may be omitted but not set to null.
    display_name: Name = None  # type: ignore[assignment]
    password: Password = None  # type: ignore[assignment]
    is_global_admin: bool = None  # type: ignore[assignment]
    is_active: bool = None  # type: ignore[assignment]
    #: A Global admin removes a user's lost second factor; it cannot be switched on for someone.
    totp_enabled: Literal[False] = None  # type: ignore[assignment]


class UserRead(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    upn: str
    display_name: str
    is_global_admin: bool
    is_active: bool
    totp_enabled: bool
    created_at: datetime


class GroupCreate(Input):
    name: Name
    member_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10000)


class GroupUpdate(Patch):
    name: Name = None  # type: ignore[assignment]
    member_ids: list[uuid.UUID] = Field(default=None, max_length=10000)  # type: ignore[assignment]


class GroupRead(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    member_ids: list[uuid.UUID]
    created_at: datetime


class TenantRef(BaseModel):
    id: uuid.UUID
    name: str
    relationship: str  # "home" or "customer"
    partner_link_id: uuid.UUID | None = None


class MeRead(BaseModel):
    user: UserRead
    tenant: TenantRef
    tenants: list[TenantRef]
