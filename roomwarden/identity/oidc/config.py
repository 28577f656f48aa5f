"""A tenant's identity source: read and change it (Global admin), with the provider
checked by discovery before it is saved, the client secret sealed, and the change audited
without the secret."""

from __future__ import annotations

import uuid
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from roomwarden.audit.service import Auditor, Category, Operation
from roomwarden.identity.models import User
from roomwarden.identity.oidc import client, egress
from roomwarden.identity.oidc.models import IdentityProvider
from roomwarden.identity.oidc.schemas import IdentityProviderRead, IdentityProviderUpdate
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.errors import Invalid
from roomwarden.settings import Settings
from roomwarden.tenants.models import Tenant

CALLBACK_PATH = "/auth/oidc/callback"


def redirect_uri(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + CALLBACK_PATH


def provider_of(session: Session, tenant_id: uuid.UUID) -> IdentityProvider | None:
    return session.get(IdentityProvider, tenant_id)


def read(session: Session, settings: Settings, tenant_id: uuid.UUID) -> IdentityProviderRead:
    tenant = session.get_one(Tenant, tenant_id)
    row = provider_of(session, tenant_id)
    source: Literal["local", "oidc"] = "oidc" if tenant.identity_source == "oidc" else "local"
    if row is None:
        return IdentityProviderRead(type=source, redirect_uri=redirect_uri(settings))
    return IdentityProviderRead(
        type=source,
        issuer=row.issuer,
        client_id=row.client_id,
        client_secret_set=bool(row.client_secret_sealed),
        admin_claim=row.admin_claim,
        admin_value=row.admin_value,
        mfa_acr_values=list(row.mfa_acr_values or []),
        trust_preferred_username=bool(row.trust_preferred_username),
        redirect_uri=redirect_uri(settings),
        updated_at=row.updated_at,
    )


def check_provider(settings: Settings, data: IdentityProviderUpdate) -> IdentityProviderUpdate:
    """Refuse (422) an issuer that is not a usable OpenID Connect provider, before anything
    is saved; answer the settings with the issuer spelt as the provider's discovery document
    spells it. Runs outside any database transaction: it waits on the network."""
    if data.type != "oidc":
        return data
    assert data.issuer is not None
    if problem := client.issuer_problem(settings, data.issuer):
        raise Invalid(problem, field="issuer")
    if problem := egress.host_problem(settings, data.issuer):
        raise Invalid(f"the issuer is not acceptable: {problem}", field="issuer")
    try:
        metadata = client.discover(settings, data.issuer, fresh=True)
    except client.ProviderError as exc:
        raise Invalid(
            f"{exc} (from {data.issuer.rstrip('/')}/.well-known/openid-configuration)", field="issuer"
        ) from exc
    for endpoint in (metadata.authorization_endpoint, metadata.token_endpoint, metadata.jwks_uri):
        if problem := egress.host_problem(settings, endpoint.split("?", 1)[0]):
            raise Invalid(
                f"an endpoint of the identity provider is not acceptable: {problem}", field="issuer"
            )
    return data.model_copy(update={"issuer": metadata.issuer})


def update(session: Session, access: Auditor, box: SecretBox, data: IdentityProviderUpdate) -> None:
    tenant = session.get_one(Tenant, access.tenant_id, with_for_update=True)
    row = session.scalar(
        select(IdentityProvider).where(IdentityProvider.tenant_id == access.tenant_id).with_for_update()
    )
    changes: dict[str, object] = {}
    if data.type == "oidc":
        row = _store(session, access.tenant_id, row, box, data, changes)
    if tenant.identity_source != data.type:
        changes["type"] = {"from": tenant.identity_source, "to": data.type}
        tenant.identity_source = data.type
    session.flush()
    access.audit(session, Category.IDENTITY_PROVIDER, Operation.UPDATE, "Identity provider", details=changes)


def _store(
    session: Session,
    tenant_id: uuid.UUID,
    row: IdentityProvider | None,
    box: SecretBox,
    data: IdentityProviderUpdate,
    changes: dict[str, object],
) -> IdentityProvider:
    assert data.issuer is not None and data.client_id is not None
    same_client = row is not None and row.issuer == data.issuer and row.client_id == data.client_id
    if data.client_secret is None and not same_client:
        raise Invalid("client_secret is required for a new issuer or client_id", field="client_secret")
    if row is None:
        row = IdentityProvider(tenant_id=tenant_id, issuer=data.issuer, client_id=data.client_id)
        session.add(row)
    elif row.issuer != data.issuer:
        # A ``sub`` means something only at the issuer that gave it: another provider may hand
        # the same one to someone else. Every account is linked again, once, at its next sign-in
        # through the new provider (by its UPN, as on a first sign-in).
        unlinked = session.execute(
            sql_update(User)
            .where(User.tenant_id == tenant_id, User.oidc_subject.is_not(None))
            .values(oidc_subject=None)
        )
        changes["accounts_unlinked"] = int(cast(CursorResult[Any], unlinked).rowcount or 0)
    fields = {
        "issuer": data.issuer,
        "client_id": data.client_id,
        "admin_claim": data.admin_claim,
        "admin_value": data.admin_value,
        "mfa_acr_values": sorted(set(data.mfa_acr_values)),
        "trust_preferred_username": data.trust_preferred_username,
    }
    for name, value in fields.items():
        old = getattr(row, name, None)
        if old != value:
            changes[name] = {"from": old, "to": value}
            setattr(row, name, value)
    if data.client_secret is not None:
        row.client_secret_sealed = box.seal(data.client_secret.get_secret_value())
        changes["client_secret"] = "replaced"  # never the value
    return row
