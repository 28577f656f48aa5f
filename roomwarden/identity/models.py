from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base, IdMixin, TenantKeyMixin
from roomwarden.kit.natural import keep_sort_key, sort_key_column
from roomwarden.kit.time import utcnow


class User(IdMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "oidc_subject"),
        Index("ix_users_tenant_name_key", "tenant_id", "name_key", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # UPNs are stored lower-cased; their domain is one of the tenant's, and domains are
    # unique across the service, so the UPN is too.
    upn: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    #: the display name's natural sort key (kit.natural), kept with it
    name_key: Mapped[str] = sort_key_column("display_name")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_global_admin: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Optional TOTP second factor (RFC 6238): the secret is encrypted at rest; the last
    # accepted time step stops a code from being used twice.
    totp_secret_sealed: Mapped[str | None] = mapped_column(Text)
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    #: the IANA zone the portal shows this person's times in; empty: the tenant's default
    time_zone: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    #: Every token and portal session carries the version it was issued under; raising it
    #: (password change or reset, deactivation, sign-out everywhere) ends them all on the
    #: next request, on every worker.
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")
    #: The OpenID Connect ``sub`` of a federated user, unique within its tenant: federated
    #: users are found by it, never by e-mail.
    oidc_subject: Mapped[str | None] = mapped_column(String(255))

    @property
    def federated(self) -> bool:
        return self.oidc_subject is not None


class SecurityGroup(IdMixin, Base):
    __tablename__ = "security_groups"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        UniqueConstraint("tenant_id", "id"),
        Index("ix_security_groups_tenant_name_key", "tenant_id", "name_key", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = sort_key_column("name")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecurityGroupMember(Base):
    """Membership; the composite foreign keys keep both ends in the same tenant."""

    __tablename__ = "security_group_members"
    __table_args__ = (
        PrimaryKeyConstraint("group_id", "user_id", "tenant_id"),
        ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["security_groups.tenant_id", "security_groups.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
        Index("ix_security_group_members_user_id", "user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)

    # keyed (group_id, user_id, tenant_id) in the database, identified by the pair in the ORM
    __mapper_args__ = {"primary_key": [group_id, user_id]}


class SignInThrottle(Base):
    """A sign-in failure counter for one account or one client address, in a fixed window
    that starts at its first failure. Every worker reads and locks the same row, so the
    limits hold across workers and under concurrency (roomwarden/identity/throttle.py)."""

    __tablename__ = "sign_in_throttles"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(index=True)


class WebSession(TenantKeyMixin, Base):
    """A signed-in browser (the portal). The cookie holds a random token; only its SHA-256
    is stored, so a copy of the database signs nobody in. Rows live in the database, so any
    worker serves any request and ending a session is effective on the next request."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
        Index("ix_web_sessions_user_id", "user_id"),
        Index("ix_web_sessions_expires_at", "expires_at"),
        # a random token's hash: unique over all tenants by its randomness; found before the tenant
        UniqueConstraint("token_hash", "tenant_id"),
    )

    token_hash: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the absolute end, fixed at sign-in whatever the activity
    expires_at: Mapped[datetime] = mapped_column()
    mfa: Mapped[bool] = mapped_column(default=False)
    #: how the user signed in: "password", "password+totp", "oidc"
    method: Mapped[str] = mapped_column(String(20))
    csrf_token: Mapped[str] = mapped_column(String(64))


class RecoveryCode(TenantKeyMixin, Base):
    """A single-use recovery code for a local second factor. Only a SHA-256 digest is kept:
    the codes are long random strings, so a slow hash would add nothing."""

    __tablename__ = "recovery_codes"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
        UniqueConstraint("user_id", "code_hash", "tenant_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column()
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()


keep_sort_key(User.display_name, "name_key")
keep_sort_key(SecurityGroup.name, "name_key")
