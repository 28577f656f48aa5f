from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from roomwarden.access.permissions import Permission
from roomwarden.kit.schemas import Input, Output, Patch, ShortName, Text

IdList = Annotated[list[uuid.UUID], Field(max_length=10000)]


class ScopeIn(Input):
    """``{"all": true}``, or ``{"rooms": [...], "room_groups": [...]}``."""

    all: bool = False
    rooms: IdList = Field(default_factory=list)
    room_groups: IdList = Field(default_factory=list)

    @model_validator(mode="after")
    def all_or_listed(self) -> ScopeIn:
        if self.all and (self.rooms or self.room_groups):
            raise ValueError("a scope is either all rooms or listed rooms and groups, not both")
        return self


class ScopeRead(BaseModel):
    all: bool
    rooms: list[uuid.UUID]
    room_groups: list[uuid.UUID]


class RoleCreate(Input):
    name: ShortName
    description: Text = ""
    permissions: list[Permission] = Field(min_length=1, max_length=len(Permission))


class RoleUpdate(Patch):
    name: ShortName = None  # type: ignore[assignment]
    description: Text = None  # type: ignore[assignment]
    permissions: list[Permission] = Field(default=None, min_length=1, max_length=len(Permission))  # type: ignore[arg-type]


class RoleRead(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    description: str
    kind: Literal["builtin", "custom", "partner_builtin", "partner_custom"]
    partner_link_id: uuid.UUID | None
    partner_name: str | None = Field(None, description="for a partner role: the partner tenant's name")
    permissions: list[Permission]
    created_at: datetime
    updated_at: datetime
    version: int = Field(
        description='counts the changes; the `ETag` is `"v{version}"` (send it as `If-Match`)'
    )


class MemberRef(Input):
    type: Literal["user", "group"]
    id: uuid.UUID


Activation = Literal["permanent", "eligible"]


class AssignmentCreate(Input):
    name: ShortName
    description: Text = ""
    email_notifications: bool = False
    members: list[MemberRef] = Field(min_length=1, max_length=1000)
    scope: ScopeIn
    #: ``eligible`` (a partner's own roles only): members hold nothing until one activates it.
    activation: Activation = "permanent"


class AssignmentUpdate(Patch):
    name: ShortName = None  # type: ignore[assignment]
    description: Text = None  # type: ignore[assignment]
    email_notifications: bool = None  # type: ignore[assignment]
    members: list[MemberRef] = Field(default=None, min_length=1, max_length=1000)  # type: ignore[arg-type]
    scope: ScopeIn = None  # type: ignore[assignment]
    activation: Activation = None  # type: ignore[assignment]


class MemberRead(BaseModel):
    type: Literal["user", "group"]
    id: uuid.UUID
    upn: str | None = Field(None, description="a user member's UPN")
    display_name: str | None = Field(None, description="a user member's display name")
    name: str | None = Field(None, description="a group member's name")


class AssignmentRead(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    role_id: uuid.UUID
    name: str
    description: str
    email_notifications: bool
    activation: Activation = "permanent"
    members: list[MemberRead]
    scope: ScopeRead
    created_at: datetime
    updated_at: datetime
    version: int = Field(
        description='counts the changes; the `ETag` is `"v{version}"` (send it as `If-Match`)'
    )


# -- effective access --------------------------------------------------------------------------


class Named(BaseModel):
    type: Literal["user", "group", "assignment", "room_group", "elevation"]
    id: uuid.UUID
    name: str


class ExplainRole(BaseModel):
    id: uuid.UUID | None  # None for the directory role Global admin
    name: str
    kind: Literal["builtin", "custom", "partner_builtin", "partner_custom", "global_admin"]


class ExplainScope(BaseModel):
    """How an assignment's scope reaches the room: all rooms, the room listed itself, and/or
    room groups that currently hold it."""

    all: bool
    room: bool = False
    room_groups: list[Named] = Field(default_factory=list)


class ExplainReason(BaseModel):
    role: ExplainRole
    assignment: Named | None
    scope: ExplainScope
    via: Named  # the user itself, or the security group through which it is a member
    link_id: uuid.UUID | None
    permissions: list[Permission]


class ExplainUser(BaseModel):
    id: uuid.UUID
    upn: str
    display_name: str
    tenant_id: uuid.UUID
    is_active: bool
    is_global_admin: bool


class ExplainRoom(BaseModel):
    id: uuid.UUID
    name: str


class ExplainLink(BaseModel):
    """The partner link a partner user acts through: every permission is cut to its scope
    and to the Partner admin column."""

    id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str
    room_in_scope: bool
    requires_mfa: bool


class Explanation(BaseModel):
    user: ExplainUser
    room: ExplainRoom
    permission: Permission | None
    allowed: bool
    permissions: list[Permission]
    reasons: list[ExplainReason]
    link: ExplainLink | None
