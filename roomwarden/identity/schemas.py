from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from roomwarden.kit.password_policy import check_password
from roomwarden.kit.schemas import Input, Name, Output, Password, PasswordOwner, Patch, SecretBearing, Upn


class TokenResponse(SecretBearing):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class TotpEnrolment(SecretBearing):
    secret: str
    otpauth_uri: str


TotpCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")]
#: a six-digit one-time code or a recovery code (``abcd-efgh-jkmn``)
Code = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, pattern=r"^([0-9]{6}|[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}-?[A-Za-z0-9]{4})$"
    ),
]


class TotpConfirm(Input):
    otp: TotpCode


class OtpIn(Input):
    """A current one-time code, or one of the recovery codes."""

    otp: Code


class TotpBegin(Input):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class RecoveryCodes(SecretBearing):
    #: shown once: only digests are kept
    recovery_codes: list[str]


class PasswordChange(Input):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new_password: Password


class PasswordReset(Input):
    new_password: Password


class OperatorUserRef(Input):
    upn: Upn


class OperatorPasswordReset(Input):
    upn: Upn
    new_password: Password

    @model_validator(mode="after")
    def _not_own_words(self) -> OperatorPasswordReset:
        check_password(self.new_password, [self.upn])
        return self


class UnlockResult(BaseModel):
    user_id: uuid.UUID
    upn: str
    #: failed sign-ins of this account that no longer count
    failures_cleared: int


class UserCreate(PasswordOwner):
    upn: Upn
    display_name: Name
    #: required in a tenant with local accounts; in a tenant that signs in with its identity
    #: provider it may be left out: the person is linked to this account at its first sign-in
    password: Password | None = None
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
    #: linked to a user of the tenant's OpenID Connect provider
    federated: bool = False
    created_at: datetime


class GroupCreate(Input):
    name: Name
    member_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10000)


class GroupUpdate(Patch):
    name: Name = None  # type: ignore[assignment]
    member_ids: list[uuid.UUID] = Field(default=None, max_length=10000)  # type: ignore[arg-type]


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
