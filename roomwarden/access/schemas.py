from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from roomwarden.access.permissions import Permission
from roomwarden.kit.schemas import Input, Output, ShortName, Text

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


class RoleUpdate(Input):
    name: ShortName = None  # type: ignore[assignment]
    description: Text = None  # type: ignore[assignment]
    permissions: list[Permission] = Field(default=None, min_length=1, max_length=len(Permission))  # type: ignore[assignment]


class RoleRead(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    description: str
    kind: Literal["builtin", "custom", "partner_builtin", "partner_custom"]
    partner_link_id: uuid.UUID | None
    permissions: list[Permission]
    created_at: datetime
    updated_at: datetime


class MemberRef(Input):
    type: Literal["user", "group"]
    id: uuid.UUID


class AssignmentCreate(Input):
    name: ShortName
    description: Text = ""
    email_notifications: bool = False
    members: list[MemberRef] = Field(min_length=1, max_length=1000)
    scope: ScopeIn


class AssignmentUpdate(Input):
    name: ShortName = None  # type: ignore[assignment]
    description: Text = None  # type: ignore[assignment]
    email_notifications: bool = None  # type: ignore[assignment]
    members: list[MemberRef] = Field(default=None, min_length=1, max_length=1000)  # type: ignore[assignment]
    scope: ScopeIn = None  # type: ignore[assignment]


class MemberRead(BaseModel):
    type: Literal["user", "group"]
    id: uuid.UUID


class AssignmentRead(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID
    role_id: uuid.UUID
    name: str
    description: str
    email_notifications: bool
    members: list[MemberRead]
    scope: ScopeRead
    created_at: datetime
    updated_at: datetime
