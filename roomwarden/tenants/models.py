from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base, IdMixin
from roomwarden.kit.time import utcnow


class Tenant(IdMixin, Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(200))
    identity_source: Mapped[str] = mapped_column(String(20), default="local")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


#: every tenant's id: what a view of the whole instance states (``kit.db.state_tenants_of``;
#: one statement object, so that its wrapping is built once)
EVERY_TENANT = select(Tenant.id)


class TenantDomain(Base):
    """A DNS domain owned by a tenant; unique across the whole service."""

    __tablename__ = "tenant_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class TenantSettings(Base):
    __tablename__ = "tenant_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    notification_email: Mapped[str | None] = mapped_column(String(320))
    enable_all_tickets_view: Mapped[bool] = mapped_column(default=False)
    require_mfa_for_partners: Mapped[bool] = mapped_column(default=False)
    #: The time zone of rooms created without one (IANA name).
    default_time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
