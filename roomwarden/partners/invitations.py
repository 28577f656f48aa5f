"""Partner invitations (SPEC §4): every transition of an invitation lives here — invite (with
its review step), revoke, deny, and accept, which establishes the link.

State machine: ``pending`` → ``accepted`` | ``denied`` | ``revoked``; a pending invitation
past its expiry is ``expired`` at that very moment (checked when it is read or acted on, not
only by a job). Two requests racing over one customer-partner pair are ordered by locking
the customer's tenant row; the partial unique index on pending invitations backs it up.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from roomwarden.access.mfa import require_second_factor
from roomwarden.access.models import Scope, ScopeGroup, ScopeRoom
from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access, resolve_access
from roomwarden.access.schemas import MemberRef
from roomwarden.access.scopes import create_scope, read_scopes, validate_scope
from roomwarden.access.service import check_members
from roomwarden.audit.service import Category, Operation, record
from roomwarden.events import service as outbox
from roomwarden.identity.domains import tenant_by_domain
from roomwarden.identity.models import User
from roomwarden.identity.principal import Principal
from roomwarden.kit.db import state_tenants
from roomwarden.kit.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests
from roomwarden.kit.time import utcnow
from roomwarden.notifications.service import LINK, Reason, queue_mail
from roomwarden.partners import primary_admins
from roomwarden.partners.models import PartnerInvitation, PartnerLink, TenantManager
from roomwarden.partners.primary_admins import lock_tenants
from roomwarden.partners.schemas import (
    AcceptInvitation,
    InvitationCreate,
    InvitationRead,
    InvitationStatus,
    PartnerInvitationRead,
    ScopeSize,
)
from roomwarden.settings import Settings, get_settings
from roomwarden.tenants.models import Tenant, TenantDomain


def effective_status(inv: PartnerInvitation) -> InvitationStatus:
    if inv.status == "pending" and inv.expires_at <= utcnow():
        return "expired"
    return inv.status


def status_is(status: str) -> ColumnElement[bool]:
    """SQL for ``effective_status(inv) == status``."""
    now = utcnow()
    if status == "pending":
        return and_(PartnerInvitation.status == "pending", PartnerInvitation.expires_at > now)
    if status == "expired":
        return or_(
            PartnerInvitation.status == "expired",
            and_(PartnerInvitation.status == "pending", PartnerInvitation.expires_at <= now),
        )
    return PartnerInvitation.status == status


def lock_tenant(session: Session, tenant_id: uuid.UUID) -> None:
    """Serialise everything that decides one customer's invitations: creating, accepting,
    denying and revoking lock the customer's tenant row first, then the invitation. Tenant rows
    are one lock class (``primary_admins.lock_tenants``: ``FOR NO KEY UPDATE``, in id order)."""
    lock_tenants(session, tenant_id)


# -- customer side ---------------------------------------------------------------------------


def _resolve_partner(session: Session, access: Access, domain: str) -> Tenant:
    partner = tenant_by_domain(session, domain)
    if partner is None:
        raise Invalid("no tenant with that domain")
    if partner.id == access.tenant_id:
        raise Invalid("a tenant cannot invite itself")
    return partner


def preview(session: Session, access: Access, data: InvitationCreate) -> InvitationRead:
    """The review step: everything the customer is about to send, nothing stored. It does not
    say whether the domain belongs to a tenant, nor which: a partner's identity is revealed
    only once an invitation exists (issue 9, L9), and sending is rate-limited and audited."""
    access.require_tenant_wide(P.PARTNERS_MANAGE, "partner")
    if data.partner_domain in domains_for(session, access.tenant_id):
        raise Invalid("a tenant cannot invite itself")
    scope_read = validate_scope(session, access.tenant_id, data.scope)
    return InvitationRead(
        id=None,
        status="draft",
        customer_id=access.tenant_id,
        partner_id=None,
        partner_name=None,
        partner_domain=data.partner_domain,
        expires_at=utcnow() + timedelta(days=data.expires_in_days),
        approval_policy=data.approval_policy.as_dict(),
        scope=scope_read,
        created_at=None,
        link_duration_days=data.link_duration_days,
    )


def _within_rate(session: Session, customer_id: uuid.UUID, partner_id: uuid.UUID, settings: Settings) -> None:
    """Invitations sent (whatever became of them) over the window, per customer and per
    customer-partner pair: an invite-and-revoke loop cannot mail a partner without end.
    Counted under the customer's lock, so racing sends cannot both take the last one."""
    since = utcnow() - timedelta(seconds=settings.invitation_window_seconds)
    sent = select(func.count()).where(
        PartnerInvitation.tenant_id == customer_id, PartnerInvitation.created_at > since
    )
    if (session.scalar(sent) or 0) >= settings.invitations_per_customer:
        raise TooManyRequests(
            f"at most {settings.invitations_per_customer} partner invitations may be sent per "
            f"{_span(settings)}; try again later",
            retry_after=settings.invitation_window_seconds,
        )
    to_partner = sent.where(PartnerInvitation.partner_tenant_id == partner_id)
    if (session.scalar(to_partner) or 0) >= settings.invitations_per_partner:
        raise TooManyRequests(
            f"at most {settings.invitations_per_partner} invitations may be sent to one partner per "
            f"{_span(settings)}; try again later",
            retry_after=settings.invitation_window_seconds,
        )


def _span(settings: Settings) -> str:
    seconds = settings.invitation_window_seconds
    return f"{seconds // 3600} hours" if seconds % 3600 == 0 else f"{seconds} seconds"


def create_invitation(
    session: Session, access: Access, data: InvitationCreate, settings: Settings | None = None
) -> PartnerInvitation:
    access.require_tenant_wide(P.PARTNERS_MANAGE, "partner")
    partner = _resolve_partner(session, access, data.partner_domain)
    # the invited partner's rows are reached from here on (row-level security): its
    # reviewers, to whom the invitation is mailed, and its mail queue
    state_tenants(session, [partner.id])
    lock_tenant(session, access.tenant_id)
    _within_rate(session, access.tenant_id, partner.id, settings or get_settings())
    pending = session.scalar(
        select(PartnerInvitation).where(
            PartnerInvitation.tenant_id == access.tenant_id,
            PartnerInvitation.partner_tenant_id == partner.id,
            PartnerInvitation.status == "pending",
        )
    )
    if pending is not None and effective_status(pending) == "expired":
        pending.status = "expired"
        invitation_event(session, pending)
        session.flush()
    elif pending is not None:
        raise Conflict("a pending invitation to this partner already exists")
    if active_link_between(session, access.tenant_id, partner.id) is not None:
        raise Conflict("this partner is already linked")
    scope = create_scope(session, access.tenant_id, data.scope)
    inv = PartnerInvitation(
        tenant_id=access.tenant_id,
        partner_tenant_id=partner.id,
        status="pending",
        expires_at=utcnow() + timedelta(days=data.expires_in_days),
        approval_policy=data.approval_policy.as_dict(),
        scope_id=scope.id,
        created_by_user_id=access.principal.user_id,
        partner_domain=data.partner_domain,
        link_duration_days=data.link_duration_days,
    )
    session.add(inv)
    session.flush()
    access.audit(
        session,
        Category.PARTNER_INVITATION,
        Operation.CREATE,
        partner.name,
        inv.id,
        {
            "partner_tenant_id": str(partner.id),
            "expires_at": inv.expires_at.isoformat(),
            "approval_policy": inv.approval_policy,
            "scope": data.scope.model_dump(mode="json"),
        },
    )
    invitation_event(session, inv)
    _notify_partner(session, access, partner, inv)
    return inv


def invitation_event(session: Session, inv: PartnerInvitation) -> None:
    """``partner.invitation.*`` for the invitation's new status, to the customer and the
    invited partner."""
    kind = "created" if inv.status == "pending" else inv.status
    data: dict[str, outbox.Value] = {"invitation_id": inv.id, "partner_tenant_id": inv.partner_tenant_id}
    if kind == "created":
        data["expires_at"] = inv.expires_at
    if kind == "accepted":
        data["link_id"] = inv.link_id
    outbox.emit(
        session,
        f"partner.invitation.{kind}",
        tenant_id=inv.tenant_id,
        link_id=inv.link_id,
        partner_tenant_id=inv.partner_tenant_id,
        data=data,
    )


def expire_overdue(session: Session, limit: int = 500) -> int:
    """Pending invitations past their expiry become ``expired`` (reads showed them expired
    already): the sweep that says so once, with its event. Rows others hold are skipped."""
    overdue = session.scalars(
        select(PartnerInvitation)
        .where(PartnerInvitation.status == "pending", PartnerInvitation.expires_at <= utcnow())
        .order_by(PartnerInvitation.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for inv in overdue:
        inv.status = "expired"
        invitation_event(session, inv)
    session.flush()
    return len(overdue)


def _notify_partner(session: Session, access: Access, partner: Tenant, inv: PartnerInvitation) -> None:
    admins = session.scalars(
        select(User.upn).where(User.tenant_id == partner.id, User.is_active, User.is_global_admin)
    ).all()
    managers = session.scalars(
        select(User.upn)
        .join(TenantManager, TenantManager.user_id == User.id)
        .where(TenantManager.tenant_id == partner.id, User.is_active)
    ).all()
    customer = session.get_one(Tenant, access.tenant_id)
    body = (
        f"{customer.name} invites {partner.name} to manage some of its meeting rooms in Roomwarden.\n\n"
        f"The invitation expires at {inv.expires_at:%Y-%m-%d %H:%M} UTC. Review it under "
        f"Partner > Invitations: {LINK}\n\n"
        f"(API: GET /api/v1/partner/invitations, invitation {inv.id}.)\n"
    )
    queue_mail(
        session,
        partner.id,
        [*admins, *managers],
        f"Partner invitation from {customer.name}",
        body,
        link="/partner/invitations",
        # Sent only while the invitation is pending: a revoked or expired one sends nothing.
        reason=Reason("partner_invitations", inv.id, "pending", inv.expires_at),
    )


def active_link_between(
    session: Session, customer_id: uuid.UUID, partner_id: uuid.UUID
) -> PartnerLink | None:
    return session.scalar(
        select(PartnerLink).where(
            PartnerLink.tenant_id == customer_id,
            PartnerLink.partner_tenant_id == partner_id,
            PartnerLink.status == "active",
        )
    )


def invitations_query(access: Access) -> Select[PartnerInvitation]:
    access.require_tenant_wide(P.PARTNERS_MANAGE, "partner")
    return select(PartnerInvitation).where(PartnerInvitation.tenant_id == access.tenant_id)


def customer_invitation(
    session: Session, access: Access, inv_id: uuid.UUID, *, lock: bool = False
) -> PartnerInvitation:
    stmt = invitations_query(access).where(PartnerInvitation.id == inv_id)
    if lock:  # re-read under the lock, whatever this session loaded before
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    inv = session.scalar(stmt)
    if inv is None:
        raise NotFound("invitation not found")
    return inv


def invitation_reads(session: Session, items: list[PartnerInvitation]) -> list[InvitationRead]:
    scopes = read_scopes(session, [i.scope_id for i in items])
    names = tenant_names(session, {i.partner_tenant_id for i in items})
    first_domains = dict(
        session.execute(
            select(TenantDomain.tenant_id, func.min(TenantDomain.domain))
            .where(TenantDomain.tenant_id.in_({i.partner_tenant_id for i in items}))
            .group_by(TenantDomain.tenant_id)
        ).all()
    )
    return [
        InvitationRead(
            id=i.id,
            status=effective_status(i),
            customer_id=i.tenant_id,
            partner_id=i.partner_tenant_id,
            partner_name=names[i.partner_tenant_id],
            partner_domain=i.partner_domain or first_domains.get(i.partner_tenant_id),
            expires_at=i.expires_at,
            approval_policy=i.approval_policy,
            scope=scopes[i.scope_id],
            created_at=i.created_at,
            link_id=i.link_id,
            link_duration_days=i.link_duration_days,
        )
        for i in items
    ]


def tenant_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {
        tid: name for tid, name in session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(ids)))
    }


def revoke(session: Session, access: Access, inv_id: uuid.UUID) -> PartnerInvitation:
    customer_invitation(session, access, inv_id)  # 404 before any lock
    lock_tenant(session, access.tenant_id)
    inv = customer_invitation(session, access, inv_id, lock=True)
    if effective_status(inv) != "pending":
        raise Conflict(f"the invitation is {effective_status(inv)} and cannot be revoked")
    inv.status = "revoked"
    inv.decided_at = utcnow()
    inv.decided_by_user_id = access.principal.user_id
    invitation_event(session, inv)
    session.flush()
    access.audit(
        session,
        Category.PARTNER_INVITATION,
        Operation.DELETE,
        tenant_names(session, {inv.partner_tenant_id})[inv.partner_tenant_id],
        inv.id,
        {"status": "revoked"},
    )
    return inv


# -- partner side ------------------------------------------------------------------------------


def is_pro_manager(session: Session, principal: Principal) -> bool:
    """Global admin, or holds partners.manage over all rooms in its own tenant (an MSA)."""
    own = resolve_access(session, principal, principal.tenant_id)
    return own.tenant_wide(P.PARTNERS_MANAGE)


def is_reviewer(session: Session, principal: Principal) -> bool:
    if is_pro_manager(session, principal):
        return True
    return session.get(TenantManager, (principal.tenant_id, principal.user_id)) is not None


def require_reviewer(session: Session, principal: Principal) -> None:
    if not is_reviewer(session, principal):
        raise Forbidden("only Global admins, Pro managers and tenant managers review invitations")


def partner_invitations_query(session: Session, principal: Principal) -> Select[PartnerInvitation]:
    require_reviewer(session, principal)
    return select(PartnerInvitation).where(PartnerInvitation.partner_tenant_id == principal.tenant_id)


def partner_invitation_reads(session: Session, items: list[PartnerInvitation]) -> list[PartnerInvitationRead]:
    # the customers' names and offered scopes: the invitations addressed to the caller's
    # tenant reach those customers' rows (row-level security)
    state_tenants(session, {i.tenant_id for i in items})
    names = tenant_names(session, {i.tenant_id for i in items})
    sizes = scope_sizes(session, [i.scope_id for i in items])
    return [
        PartnerInvitationRead(
            id=i.id,
            status=effective_status(i),
            customer_id=i.tenant_id,
            customer_name=names[i.tenant_id],
            scope_size=sizes[i.scope_id],
            expires_at=i.expires_at,
            approval_policy=i.approval_policy,
            created_at=i.created_at,
            link_duration_days=i.link_duration_days,
        )
        for i in items
    ]


def scope_sizes(session: Session, scope_ids: list[uuid.UUID]) -> dict[uuid.UUID, ScopeSize]:
    scopes = read_scopes(session, scope_ids)
    return {
        sid: ScopeSize(all=s.all, rooms=len(s.rooms), room_groups=len(s.room_groups))
        for sid, s in scopes.items()
    }


def partner_invitation(
    session: Session, principal: Principal, inv_id: uuid.UUID, *, also_lock: uuid.UUID | None = None
) -> PartnerInvitation:
    """The invitation addressed to the caller's tenant, locked, with the customer's tenant
    row locked first (the order every pair-changing transaction takes) — together with
    ``also_lock``'s, in id order, when the transition needs a second tenant."""
    require_reviewer(session, principal)
    inv = session.scalar(
        select(PartnerInvitation).where(
            PartnerInvitation.id == inv_id, PartnerInvitation.partner_tenant_id == principal.tenant_id
        )
    )
    if inv is None:
        raise NotFound("invitation not found")
    # An invitation addressed to the caller's tenant reaches its customer's rows (row-level
    # security): the customer's settings (a second factor), its lock and its audit log, which
    # records the decision, or the refusal of one.
    state_tenants(session, [inv.tenant_id])
    require_second_factor(session, principal, inv.tenant_id)
    lock_tenants(session, inv.tenant_id, *([also_lock] if also_lock else []))
    session.refresh(inv, with_for_update=True)
    return inv


def require_pending(inv: PartnerInvitation) -> None:
    status = effective_status(inv)
    if status != "pending":
        raise Conflict(f"the invitation is {status}")


def deny(session: Session, principal: Principal, inv_id: uuid.UUID) -> PartnerInvitation:
    inv = partner_invitation(session, principal, inv_id)
    require_pending(inv)
    inv.status = "denied"
    inv.decided_at = utcnow()
    inv.decided_by_user_id = principal.user_id
    invitation_event(session, inv)
    session.flush()
    record(
        session,
        tenant_id=inv.tenant_id,
        actor=principal.actor,
        category=Category.PARTNER_INVITATION,
        operation=Operation.REJECT,
        object_name=tenant_names(session, {inv.partner_tenant_id})[inv.partner_tenant_id],
        object_id=inv.id,
        details={"status": "denied"},
    )
    return inv


# -- acceptance: the transition that establishes a link -----------------------------------------


def accept(session: Session, principal: Principal, inv_id: uuid.UUID, data: AcceptInvitation) -> PartnerLink:
    """The first acceptance establishes the link; the named partner users or groups (default:
    the acceptor) become its Primary admins. The customer's row (its invitations) and the
    partner's (its directory, which keeps the Primary admins live) are locked together, in id
    order; expiry is checked under the lock."""
    inv = partner_invitation(session, principal, inv_id, also_lock=principal.tenant_id)
    require_pending(inv)
    if active_link_between(session, inv.tenant_id, inv.partner_tenant_id) is not None:
        raise Conflict("this customer is already linked")
    members = data.primary_admins or [MemberRef(type="user", id=principal.user_id)]
    members = check_members(session, principal.tenant_id, members)
    primary_admins.require_live_members(session, principal.tenant_id, members)
    link = PartnerLink(
        tenant_id=inv.tenant_id,
        partner_tenant_id=inv.partner_tenant_id,
        status="active",
        scope_id=copy_scope(session, inv.scope_id).id,
        approval_policy=inv.approval_policy,
        expires_at=utcnow() + timedelta(days=inv.link_duration_days) if inv.link_duration_days else None,
    )
    session.add(link)
    session.flush()
    primary_admins.establish(
        session, link, members, "The partner's administrators for the rooms delegated by this link."
    )
    inv.status, inv.decided_at, inv.decided_by_user_id, inv.link_id = (
        "accepted",
        utcnow(),
        principal.user_id,
        link.id,
    )
    invitation_event(session, inv)
    session.flush()
    actor = principal.actor
    record(
        session,
        tenant_id=inv.tenant_id,
        actor=actor,
        category=Category.PARTNER_INVITATION,
        operation=Operation.APPROVE,
        object_name=tenant_names(session, {inv.partner_tenant_id})[inv.partner_tenant_id],
        object_id=inv.id,
        details={"link_id": str(link.id)},
    )
    record(
        session,
        tenant_id=inv.tenant_id,
        actor=actor,
        category=Category.PARTNER,
        operation=Operation.CREATE,
        object_name=tenant_names(session, {inv.partner_tenant_id})[inv.partner_tenant_id],
        object_id=link.id,
        details={"primary_admins": [m.model_dump(mode="json") for m in members]},
    )
    return link


def copy_scope(session: Session, scope_id: uuid.UUID) -> Scope:
    src = session.get_one(Scope, scope_id)
    dst = Scope(tenant_id=src.tenant_id, all_rooms=src.all_rooms)
    session.add(dst)
    session.flush()
    for rid in session.scalars(select(ScopeRoom.room_id).where(ScopeRoom.scope_id == src.id)):
        session.add(ScopeRoom(tenant_id=src.tenant_id, scope_id=dst.id, room_id=rid))
    for gid in session.scalars(select(ScopeGroup.group_id).where(ScopeGroup.scope_id == src.id)):
        session.add(ScopeGroup(tenant_id=src.tenant_id, scope_id=dst.id, group_id=gid))
    session.flush()
    return dst


def domains_for(session: Session, tenant_id: uuid.UUID) -> list[str]:
    return list(session.scalars(select(TenantDomain.domain).where(TenantDomain.tenant_id == tenant_id)))
