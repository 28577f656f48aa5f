from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base, TenantKeyMixin
from roomwarden.kit.time import utcnow

ROLE_KINDS = ("builtin", "custom", "partner_builtin", "partner_custom")


class Scope(TenantKeyMixin, Base):
    """A set of rooms: every room of the tenant (``all``), or listed rooms plus the current
    members of listed room groups. Owned by exactly one assignment, link or invitation."""

    __tablename__ = "scopes"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        UniqueConstraint("tenant_id", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    all_rooms: Mapped[bool] = mapped_column(default=False)


class ScopeRoom(Base):
    __tablename__ = "scope_rooms"
    __table_args__ = (
        PrimaryKeyConstraint("scope_id", "room_id", "tenant_id"),
        ForeignKeyConstraint(
            ["tenant_id", "scope_id"], ["scopes.tenant_id", "scopes.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"], ondelete="CASCADE"),
        Index("ix_scope_rooms_room_id", "room_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    scope_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    room_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)

    # keyed (scope_id, room_id, tenant_id) in the database, identified by the pair in the ORM
    __mapper_args__ = {"primary_key": [scope_id, room_id]}


class ScopeGroup(Base):
    __tablename__ = "scope_groups"
    __table_args__ = (
        PrimaryKeyConstraint("scope_id", "group_id", "tenant_id"),
        ForeignKeyConstraint(
            ["tenant_id", "scope_id"], ["scopes.tenant_id", "scopes.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["room_groups.tenant_id", "room_groups.id"],
            ondelete="CASCADE",
        ),
        Index("ix_scope_groups_group_id", "group_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    scope_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)

    # keyed (scope_id, group_id, tenant_id) in the database, identified by the pair in the ORM
    __mapper_args__ = {"primary_key": [scope_id, group_id]}


class ScopeEffectiveRoom(Base):
    """The effective rooms of a scope (SPEC §3), materialised: its listed rooms plus the
    current members of its listed groups. A room check is then one primary-key probe and a
    page of a scope one index range scan, whatever the size of the scope or the tenant.

    Written only by database triggers (see ``roomwarden.access.materialise``) on
    ``scope_rooms``, ``scope_groups`` and ``room_group_members``, in the same transaction as
    the change, so no code path can forget it; rows go with their scope or room by cascade.
    """

    __tablename__ = "scope_effective_rooms"
    __table_args__ = (
        PrimaryKeyConstraint("scope_id", "room_id", "tenant_id"),
        ForeignKeyConstraint(
            ["tenant_id", "scope_id"], ["scopes.tenant_id", "scopes.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "room_id"], ["rooms.tenant_id", "rooms.id"], ondelete="CASCADE"),
        Index("ix_scope_effective_rooms_room_id", "room_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    scope_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    room_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)

    # keyed (scope_id, room_id, tenant_id) in the database, identified by the pair in the ORM
    __mapper_args__ = {"primary_key": [scope_id, room_id]}


class Role(TenantKeyMixin, Base):
    __tablename__ = "roles"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint("kind IN ('builtin', 'custom', 'partner_builtin', 'partner_custom')", name="kind"),
        CheckConstraint("(partner_link_id IS NULL) = (kind IN ('builtin', 'custom'))", name="partner_link"),
        ForeignKeyConstraint(
            ["tenant_id", "partner_link_id"],
            ["partner_links.tenant_id", "partner_links.id"],
            ondelete="CASCADE",
        ),
        Index(
            "uq_roles_customer_name",
            "tenant_id",
            "name",
            unique=True,
            sqlite_where=text("partner_link_id IS NULL"),
            postgresql_where=text("partner_link_id IS NULL"),
        ),
        Index(
            "uq_roles_partner_name",
            "partner_link_id",
            "name",
            "tenant_id",
            unique=True,
            sqlite_where=text("partner_link_id IS NOT NULL"),
            postgresql_where=text("partner_link_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[Literal["builtin", "custom", "partner_builtin", "partner_custom"]] = mapped_column(
        String(16)
    )
    partner_link_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: Counts the role's changes: its ETag (``kit.conditional``).
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class RolePermission(Base):
    __tablename__ = "role_permissions"
    __table_args__ = (
        PrimaryKeyConstraint("role_id", "permission", "tenant_id"),
        ForeignKeyConstraint(["tenant_id", "role_id"], ["roles.tenant_id", "roles.id"], ondelete="CASCADE"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    role_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    permission: Mapped[str] = mapped_column(String(40), primary_key=True)

    # keyed (role_id, permission, tenant_id) in the database, identified by the pair in the ORM
    __mapper_args__ = {"primary_key": [role_id, permission]}


class RoleAssignment(TenantKeyMixin, Base):
    __tablename__ = "role_assignments"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "role_id"], ["roles.tenant_id", "roles.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "scope_id"], ["scopes.tenant_id", "scopes.id"]),
        UniqueConstraint("scope_id", "tenant_id"),
        Index("ix_role_assignments_role", "role_id", "id"),
        CheckConstraint("activation IN ('permanent', 'eligible')", name="activation"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    role_id: Mapped[uuid.UUID] = mapped_column()
    scope_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    email_notifications: Mapped[bool] = mapped_column(default=False)
    #: ``eligible`` (partner roles only): the members hold nothing until one activates the
    #: assignment for a while (``partners.models.Elevation``, SPEC §4 "Just-in-time elevation").
    activation: Mapped[Literal["permanent", "eligible"]] = mapped_column(
        String(10), default="permanent", server_default="permanent"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: Counts the assignment's changes: its ETag (``kit.conditional``).
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class AssignmentMember(TenantKeyMixin, Base):
    """A user or security group named by an assignment. For partner roles the member lives
    in the partner tenant, so the member's tenant is stored alongside."""

    __tablename__ = "assignment_members"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        ForeignKeyConstraint(
            ["tenant_id", "assignment_id"],
            ["role_assignments.tenant_id", "role_assignments.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="one_member"),
        UniqueConstraint("assignment_id", "user_id", "tenant_id"),
        UniqueConstraint("assignment_id", "group_id", "tenant_id"),
        Index("ix_assignment_members_user", "user_id", "tenant_id"),
        Index("ix_assignment_members_group", "group_id", "tenant_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    assignment_id: Mapped[uuid.UUID] = mapped_column()
    member_tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("security_groups.id", ondelete="CASCADE"))
