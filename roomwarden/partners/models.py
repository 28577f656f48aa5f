from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base, TenantKeyMixin
from roomwarden.kit.time import utcnow

LINK_STATUSES = ("active", "expired", "ended")
#: An expired link keeps its scope, roles, assignments and Primary admins this long: renewable.
RENEWAL_GRACE = timedelta(days=30)


class PartnerLink(TenantKeyMixin, Base):
    """An established customer-partner relationship. ``tenant_id`` is the customer: the link
    and everything inside it belong to the customer tenant."""

    __tablename__ = "partner_links"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        CheckConstraint("status IN ('active', 'expired', 'ended')", name="status"),
        CheckConstraint("tenant_id <> partner_tenant_id", name="distinct_tenants"),
        Index(
            "uq_partner_links_active_pair",
            "tenant_id",
            "partner_tenant_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_partner_links_partner", "partner_tenant_id", "status"),
        Index("ix_partner_links_expiry", "status", "expires_at"),
        CheckConstraint(
            "approval_expires_in_days >= 1 AND approval_expires_in_days <= 90", name="approval_expiry"
        ),
        CheckConstraint("max_elevation_minutes >= 5 AND max_elevation_minutes <= 480", name="max_elevation"),
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("scope_id", "tenant_id"),
        ForeignKeyConstraint(["tenant_id", "scope_id"], ["scopes.tenant_id", "scopes.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    partner_tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    #: ``active`` is stored until the expiry's bookkeeping runs; past ``expires_at`` the link is
    #: expired whatever this says (``live_link``, ``PartnerLink.state``).
    status: Mapped[Literal["active", "expired", "ended"]] = mapped_column(String(10), default="active")
    scope_id: Mapped[uuid.UUID] = mapped_column()
    approval_policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: How long a held partner action waits for the customer's decision (SPEC §5).
    approval_expires_in_days: Mapped[int] = mapped_column(default=7, server_default="7")
    #: Counts the link's changes: its ETag (``kit.conditional``).
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    #: The link's end (SPEC §4 "Expiry and renewal"): no partner access from this instant on.
    expires_at: Mapped[datetime | None] = mapped_column()
    #: When the expiry's bookkeeping ran (pending requests ended, the audit record written).
    expired_at: Mapped[datetime | None] = mapped_column()
    #: The longest an eligible partner assignment may be activated for, in minutes.
    max_elevation_minutes: Mapped[int] = mapped_column(default=60, server_default="60")

    def state(self, now: datetime) -> Literal["active", "expired", "ended"]:
        """The status as of ``now``: an active link past its end is expired."""
        if self.status == "active" and self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return self.status

    def live(self, now: datetime) -> bool:
        return self.state(now) == "active"


def live_link(now: Any) -> ColumnElement[bool]:
    """The SQL twin of ``PartnerLink.live``: active and not past its end at ``now`` (a
    datetime or a bound parameter). Every partner access decision reads links through it."""
    return and_(
        PartnerLink.status == "active", or_(PartnerLink.expires_at.is_(None), PartnerLink.expires_at > now)
    )


def link_state_is(state: str, now: datetime) -> ColumnElement[bool]:
    """Links whose ``PartnerLink.state(now)`` is ``state`` (the lists' ``?status=`` filter)."""
    if state == "active":
        return live_link(now)
    if state == "expired":
        return or_(
            PartnerLink.status == "expired",
            and_(PartnerLink.status == "active", PartnerLink.expires_at <= now),
        )
    return PartnerLink.status == state


class LinkReminder(Base):
    """One expiry reminder of a link (30, 7 or 1 days before ``expires_at``): sent, or skipped
    because a nearer one was due when it came up. The key makes each at most once per end."""

    __tablename__ = "partner_link_reminders"
    __table_args__ = (
        PrimaryKeyConstraint("link_id", "expires_at", "days", "tenant_id"),
        CheckConstraint("days IN (30, 7, 1)", name="days"),
        ForeignKeyConstraint(
            ["tenant_id", "link_id"], ["partner_links.tenant_id", "partner_links.id"], ondelete="CASCADE"
        ),
    )

    link_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(primary_key=True)
    days: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    sent: Mapped[bool] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # keyed (link_id, expires_at, days, tenant_id) in the database; the ORM's identity is as before
    __mapper_args__ = {"primary_key": [link_id, expires_at, days]}


class Elevation(TenantKeyMixin, Base):
    """One activation of an eligible partner assignment by one of its members (SPEC §4
    "Just-in-time elevation"): from ``starts_at`` (the approval, or the request under ``auto``)
    to ``ends_at``, or until ``ended_at`` when ended early. Past ``ends_at`` it grants nothing,
    whatever ``status`` still says (``live_elevation``). At most one is active per member and
    assignment (a partial unique index)."""

    __tablename__ = "elevations"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        ForeignKeyConstraint(
            ["tenant_id", "assignment_id"],
            ["role_assignments.tenant_id", "role_assignments.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("status IN ('active', 'ended')", name="status"),
        CheckConstraint("minutes >= 5 AND minutes <= 480", name="minutes"),
        Index(
            "uq_elevations_active",
            "assignment_id",
            "user_id",
            "tenant_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_elevations_user", "user_id", "assignment_id", "status"),
        Index("ix_elevations_link", "link_id", "status"),
        ForeignKeyConstraint(
            ["tenant_id", "link_id"], ["partner_links.tenant_id", "partner_links.id"], ondelete="CASCADE"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    link_id: Mapped[uuid.UUID] = mapped_column()
    assignment_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    minutes: Mapped[int] = mapped_column()
    justification: Mapped[str] = mapped_column(Text)
    status: Mapped[Literal["active", "ended"]] = mapped_column(String(10), default="active")
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    ended_by_user_id: Mapped[uuid.UUID | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(200))
    approved_by_user_id: Mapped[uuid.UUID | None] = mapped_column()
    approved_by_upn: Mapped[str | None] = mapped_column(String(320))
    request_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def live(self, now: datetime) -> bool:
        return self.status == "active" and self.starts_at <= now < self.ends_at


def live_elevation(now: Any) -> ColumnElement[bool]:
    """The SQL twin of ``Elevation.live`` (``now`` a datetime or a bound parameter)."""
    return and_(Elevation.status == "active", Elevation.starts_at <= now, Elevation.ends_at > now)


def pending_invitation(now: Any) -> ColumnElement[bool]:
    """Invitations still open at ``now`` (a datetime or a bound parameter): pending and not
    past their expiry, whether or not the sweep has marked them expired yet."""
    return and_(PartnerInvitation.status == "pending", PartnerInvitation.expires_at > now)


INVITATION_STATUSES = ("pending", "accepted", "denied", "revoked", "expired")


class PartnerInvitation(TenantKeyMixin, Base):
    """A customer's offer to a partner tenant. ``tenant_id`` is the customer. A pending
    invitation past ``expires_at`` is expired, whether or not a job has marked it yet."""

    __tablename__ = "partner_invitations"
    __table_args__ = (
        PrimaryKeyConstraint("id", "tenant_id"),
        CheckConstraint("status IN ('pending', 'accepted', 'denied', 'revoked', 'expired')", name="status"),
        CheckConstraint("tenant_id <> partner_tenant_id", name="distinct_tenants"),
        Index(
            "uq_partner_invitations_pending_pair",
            "tenant_id",
            "partner_tenant_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_partner_invitations_partner", "partner_tenant_id", "status"),
        CheckConstraint("link_duration_days >= 1 AND link_duration_days <= 730", name="link_duration"),
        UniqueConstraint("scope_id", "tenant_id"),
        ForeignKeyConstraint(["tenant_id", "scope_id"], ["scopes.tenant_id", "scopes.id"]),
        ForeignKeyConstraint(["tenant_id", "link_id"], ["partner_links.tenant_id", "partner_links.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, primary_key=True
    )
    partner_tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[Literal["pending", "accepted", "denied", "revoked", "expired"]] = mapped_column(
        String(10), default="pending"
    )
    expires_at: Mapped[datetime] = mapped_column()
    approval_policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scope_id: Mapped[uuid.UUID] = mapped_column()
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by_user_id: Mapped[uuid.UUID | None] = mapped_column()
    link_id: Mapped[uuid.UUID | None] = mapped_column()
    # The domain the customer addressed (the partner may own several).
    partner_domain: Mapped[str | None] = mapped_column(String(253))
    #: The established link ends this many days after acceptance (none: no end).
    link_duration_days: Mapped[int | None] = mapped_column()


class TenantManager(Base):
    """A partner-side user who may review invitations without managing rooms."""

    __tablename__ = "tenant_managers"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
