from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, false
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
    #: the tenant declares that this issuer's ``preferred_username`` names the person (as
    #: Entra ID's does): accounts may then be linked and provisioned from it, not only from
    #: an ``email`` the token marks verified. Off by default; reset by a change of issuer.
    trust_preferred_username: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OidcUsedFlow(Base):
    """A federated sign-in that came back to the callback: the SHA-256 of its ``state``,
    kept until its flow cookie expires anyway. A flow is completed at most once, on any
    worker: a replayed callback never reaches the provider again."""

    __tablename__ = "oidc_used_flows"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    state_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
