from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base
from roomwarden.kit.time import utcnow


class IdentityProvider(Base):
    """A tenant's OpenID Connect provider. The row outlives a switch back to local sign-in
    (``tenants.identity_source``), so switching again needs no new secret; the client secret
    is sealed with ``ROOMWARDEN_ENCRYPTION_KEY`` and never returned."""

    __tablename__ = "identity_providers"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_sealed: Mapped[str] = mapped_column(Text)
    admin_claim: Mapped[str | None] = mapped_column(String(100))
    admin_value: Mapped[str | None] = mapped_column(String(200))
    mfa_acr_values: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
