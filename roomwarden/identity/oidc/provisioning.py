"""From a validated ID token to a Roomwarden user of the tenant.

A user is found by the token's ``sub`` within the tenant, never by e-mail. On the first
sign-in it is linked or provisioned by its UPN, and the UPN comes only from an address the
token vouches for: ``email`` with ``email_verified`` true, or ``preferred_username`` when the
tenant declares that claim trustworthy for its issuer (``trust_preferred_username``, off by
default; Entra ID's names the person but sends no ``email_verified``). An unverified address
— or a ``preferred_username`` beside a verified e-mail elsewhere — links and provisions
nothing: anyone may type any address at many providers. The UPN's domain must be one of the
tenant's, so an e-mail of another domain or tenant grants nothing. Linking finds a local
account of the same tenant with that UPN that was never linked (typically the Global admin
who configured the provider). Later sign-ins keep UPN and display name in step with the
claims (a sign-in without a vouched address keeps the UPN it has), and the admin claim, when
the tenant names one, decides Global admin on every sign-in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.audit.service import Actor, Category, Operation, record
from roomwarden.identity.domains import domains_of
from roomwarden.identity.models import User
from roomwarden.identity.oidc.models import IdentityProvider
from roomwarden.kit.db import state_lookup
from roomwarden.kit.schemas import _upn

#: ``amr`` values (RFC 8176) that mean more than one factor was used (SPEC §7)
MFA_METHODS = frozenset({"mfa", "otp", "hwk", "swk", "fido"})


class SignInRefused(Exception):
    """The person proved who it is at its provider but may not sign in here. The message is
    shown to it and written to the tenant's audit log."""


@dataclass(frozen=True, slots=True)
class FederatedSignIn:
    user: User
    mfa: bool
    created: bool


def is_multi_factor(claims: dict[str, Any], accepted_acr: Iterable[str]) -> bool:
    amr = claims.get("amr")
    methods = {m for m in amr if isinstance(m, str)} if isinstance(amr, list) else set()
    acr = claims.get("acr")
    return bool(methods & MFA_METHODS) or (isinstance(acr, str) and acr in set(accepted_acr))


def claims_admin(claims: dict[str, Any], claim: str, value: str) -> bool:
    held = claims.get(claim)
    if isinstance(held, list):
        return any(isinstance(v, str | int | bool) and str(v) == value for v in held)
    if isinstance(held, bool):
        return str(held).lower() == value.lower()
    return isinstance(held, str | int) and str(held) == value


def email_verified(claims: dict[str, Any]) -> bool:
    """The token vouches for its ``email``: ``email_verified`` is JSON true or the string
    ``"true"`` some providers send. Absent, false, ``"false"`` or anything else vouches for
    nothing."""
    verified = claims.get("email_verified")
    if verified is True:
        return True
    return isinstance(verified, str) and verified.strip().lower() == "true"


def _in_domains(raw: object, domains: list[str]) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        upn = _upn(raw)
    except ValueError:
        return None
    return upn if upn.rsplit("@", 1)[1] in domains else None


def vouched_upn(claims: dict[str, Any], domains: list[str], *, trust_preferred_username: bool) -> str | None:
    """The UPN the token vouches for in one of the tenant's ``domains``, or ``None``."""
    if email_verified(claims) and (upn := _in_domains(claims.get("email"), domains)):
        return upn
    if trust_preferred_username and (upn := _in_domains(claims.get("preferred_username"), domains)):
        return upn
    return None


def _no_vouched_address(domains: list[str], trust_preferred_username: bool) -> SignInRefused:
    what = "a verified e-mail address" + (" or a username" if trust_preferred_username else "")
    return SignInRefused(
        f"your identity provider did not vouch for {what} in one of this organisation's domains "
        f"({', '.join(domains)}); ask its Global admin"
    )


def display_name_from(claims: dict[str, Any], upn: str) -> str:
    name = claims.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()[:200]
    return upn


def sign_in(session: Session, provider: IdentityProvider, claims: dict[str, Any]) -> FederatedSignIn:
    tenant_id = provider.tenant_id
    domains = domains_of(session, tenant_id)
    trusted = bool(provider.trust_preferred_username)
    upn = vouched_upn(claims, domains, trust_preferred_username=trusted)
    # Lock order as in every Global-admin change: the tenant's admins, then the user's row.
    admins = _lock_admins(session, tenant_id) if provider.admin_claim else []
    user = session.scalar(
        select(User).where(User.tenant_id == tenant_id, User.oidc_subject == claims["sub"]).with_for_update()
    )
    created = user is None
    if user is None:
        if upn is None:  # nobody is linked or provisioned from an address nobody vouched for
            raise _no_vouched_address(domains, trusted)
        user = _link_or_create(session, tenant_id, claims, upn)
    if not user.is_active:
        raise SignInRefused("your account is deactivated in this organisation; ask its Global admin")
    _keep_in_step(session, provider, user, claims, upn or user.upn, admins)
    return FederatedSignIn(
        user=user, mfa=is_multi_factor(claims, provider.mfa_acr_values or []), created=created
    )


def _link_or_create(session: Session, tenant_id: uuid.UUID, claims: dict[str, Any], upn: str) -> User:
    # a UPN is unique across tenants: another tenant's user of it is found by the UPN alone
    state_lookup(session, "roomwarden.upn", upn)
    elsewhere = session.scalar(select(User.tenant_id).where(User.upn == upn, User.tenant_id != tenant_id))
    if elsewhere is not None:
        raise SignInRefused(f"another account already uses {upn}; ask this organisation's Global admin")
    existing = session.scalar(select(User).where(User.upn == upn).with_for_update())
    actor_name = display_name_from(claims, upn)
    if existing is not None:
        linkable = existing.tenant_id == tenant_id and existing.oidc_subject is None
        if not linkable:
            raise SignInRefused(f"another account already uses {upn}; ask this organisation's Global admin")
        existing.oidc_subject = claims["sub"]
        session.flush()
        _audit(session, existing, Operation.UPDATE, {"linked_to_identity_provider": True})
        return existing
    user = User(
        tenant_id=tenant_id,
        upn=upn,
        display_name=actor_name,
        password_hash=None,
        oidc_subject=claims["sub"],
    )
    session.add(user)
    session.flush()
    _audit(session, user, Operation.CREATE, {"display_name": user.display_name, "provisioned_by": "oidc"})
    return user


def _keep_in_step(
    session: Session,
    provider: IdentityProvider,
    user: User,
    claims: dict[str, Any],
    upn: str,
    admins: list[uuid.UUID],
) -> None:
    changes: dict[str, object] = {}
    name = display_name_from(claims, upn)
    if user.display_name != name:
        changes["display_name"] = {"from": user.display_name, "to": name}
        user.display_name = name
    if user.upn != upn:
        if session.scalar(select(User.id).where(User.upn == upn, User.id != user.id)) is not None:
            raise SignInRefused(f"another account already uses {upn}; ask this organisation's Global admin")
        changes["upn"] = {"from": user.upn, "to": upn}
        user.upn = upn
    if provider.admin_claim and provider.admin_value:
        admin = claims_admin(claims, provider.admin_claim, provider.admin_value)
        # The claim never takes the tenant's last active Global admin away.
        if admin != user.is_global_admin and (admin or any(a != user.id for a in admins)):
            changes["is_global_admin"] = {"from": user.is_global_admin, "to": admin}
            user.is_global_admin = admin
    if changes:
        session.flush()
        _audit(session, user, Operation.UPDATE, {**changes, "from_claims": True})


def _lock_admins(session: Session, tenant_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(User.id)
            .where(User.tenant_id == tenant_id, User.is_global_admin, User.is_active)
            .order_by(User.id)
            .with_for_update()
        )
    )


def _audit(session: Session, user: User, operation: Operation, details: dict[str, object]) -> None:
    record(
        session,
        tenant_id=user.tenant_id,
        actor=Actor(user.id, user.tenant_id, upn=user.upn, display_name=user.display_name),
        category=Category.USER,
        operation=operation,
        object_name=user.upn,
        object_id=user.id,
        details=details,
    )
