"""Partner links: the customer changes its delegation, moves its end or renews it; either side
ends it (off-boarding). A link is established by accepting an invitation
(``invitations.accept``); its Primary admins and their rules live in ``primary_admins``, its
expiry in ``expiry``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from roomwarden.access.mfa import customers_requiring, require_second_factor
from roomwarden.access.models import Role, Scope
from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access, linked_customers
from roomwarden.access.schemas import MemberRef, ScopeIn
from roomwarden.access.scopes import read_scopes, replace_scope
from roomwarden.audit.service import OPERATOR_ACTOR, Actor, Category, Operation, record
from roomwarden.events import service as outbox
from roomwarden.identity.principal import Principal
from roomwarden.kit import conditional
from roomwarden.kit.db import state_tenants
from roomwarden.kit.errors import Conflict, Forbidden, Invalid, NotFound
from roomwarden.kit.time import utcnow
from roomwarden.partners import events, expiry, primary_admins
from roomwarden.partners.invitations import (
    accept,
    create_invitation,
    is_reviewer,
    scope_sizes,
    tenant_names,
)
from roomwarden.partners.models import PartnerLink, link_state_is
from roomwarden.partners.notices import notify_offboarding
from roomwarden.partners.schemas import (
    AcceptInvitation,
    ApprovalPolicy,
    InvitationCreate,
    LinkRead,
    LinkRenew,
    LinkUpdate,
    PartnerLinkRead,
)
from roomwarden.tenants.models import Tenant

# -- reading -----------------------------------------------------------------------------------


def link_reads(session: Session, links: Sequence[PartnerLink]) -> list[LinkRead]:
    now = utcnow()
    names = tenant_names(session, {x.tenant_id for x in links} | {x.partner_tenant_id for x in links})
    scopes = read_scopes(session, [x.scope_id for x in links])
    primary = dict(
        session.execute(
            select(Role.partner_link_id, Role.id).where(
                Role.partner_link_id.in_([x.id for x in links]), Role.kind == "partner_builtin"
            )
        ).all()
    )
    return [
        LinkRead(
            id=x.id,
            status=x.state(now),
            customer_id=x.tenant_id,
            customer_name=names[x.tenant_id],
            partner_id=x.partner_tenant_id,
            partner_name=names[x.partner_tenant_id],
            scope=scopes[x.scope_id],
            approval_policy=x.approval_policy,
            approval_expires_in_days=x.approval_expires_in_days,
            primary_admins_role_id=primary.get(x.id),
            created_at=x.created_at,
            ended_at=x.ended_at,
            expires_at=x.expires_at,
            renewable_until=expiry.renewable_until(x) if x.state(now) == "expired" else None,
            max_elevation_minutes=x.max_elevation_minutes,
            version=x.version,
        )
        for x in links
    ]


def partner_link_reads(
    session: Session, principal: Principal, links: Sequence[PartnerLink]
) -> list[PartnerLinkRead]:
    """Links as the partner sees them: the delegated rooms only where the caller holds a role,
    and, where the customer requires a second factor of partner users, signed in with one.
    The links addressed to the caller's tenant, expired and ended ones too, reach their
    customers' names, settings and scopes (row-level security)."""
    state_tenants(session, {x.tenant_id for x in links})
    mine = {link_id for link_id, _, _ in linked_customers(session, principal)}
    sizes = scope_sizes(session, [x.scope_id for x in links])
    strict = customers_requiring(session, [x.tenant_id for x in links])
    if not principal.mfa:  # the delegated rooms are that customer's data: not without the factor
        mine = {x.id for x in links if x.id in mine and x.tenant_id not in strict}
    return [
        PartnerLinkRead(
            **read.model_dump(exclude={"scope"}),
            scope=read.scope if x.id in mine else None,
            second_factor_required=x.tenant_id in strict,
            scope_size=sizes[x.scope_id],
            holds_role=x.id in mine,
        )
        for x, read in zip(links, link_reads(session, links), strict=True)
    ]


def customer_links_query(access: Access, status: str | None = None) -> Select[PartnerLink]:
    access.require_tenant_wide(P.PARTNERS_MANAGE, "partner")
    stmt = select(PartnerLink).where(PartnerLink.tenant_id == access.tenant_id)
    return stmt.where(link_state_is(status, utcnow())) if status else stmt


def customer_link(session: Session, access: Access, link_id: uuid.UUID, *, lock: bool = False) -> PartnerLink:
    stmt = customer_links_query(access).where(PartnerLink.id == link_id)
    if lock:  # re-read under the lock, whatever this session loaded before
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    link = session.scalar(stmt)
    if link is None:
        raise NotFound("partner not found")
    return link


def update_link(session: Session, access: Access, link_id: uuid.UUID, data: LinkUpdate) -> PartnerLink:
    """Widen or narrow the delegation, or change the policy. The resolver reads the link's
    scope on every request, so narrowing applies to every partner role at once."""
    link = customer_link(session, access, link_id, lock=True)
    require_live(link)
    conditional.check(session, link, "partner link")
    changes: dict[str, object] = {}
    if "expires_at" in data.model_fields_set:
        expiry.check_end(data.expires_at, utcnow())
        changes["expires_at"] = {
            "from": link.expires_at.isoformat() if link.expires_at else None,
            "to": data.expires_at.isoformat() if data.expires_at else None,
        }
        link.expires_at = data.expires_at
    if "scope" in data.model_fields_set:
        replace_scope(session, session.get_one(Scope, link.scope_id), data.scope)
        changes["scope"] = data.scope.model_dump(mode="json")
    if "approval_policy" in data.model_fields_set:
        before, after = link.approval_policy, data.approval_policy.as_dict()
        changes["approval_policy"] = {"from": before, "to": after}
        link.approval_policy = after
        events.policy_changed.emit(events.PolicyChanged(session, link, access.actor, before, after))
    if "approval_expires_in_days" in data.model_fields_set:
        changes["approval_expires_in_days"] = {
            "from": link.approval_expires_in_days,
            "to": data.approval_expires_in_days,
        }
        link.approval_expires_in_days = data.approval_expires_in_days
    if "max_elevation_minutes" in data.model_fields_set:
        changes["max_elevation_minutes"] = {
            "from": link.max_elevation_minutes,
            "to": data.max_elevation_minutes,
        }
        link.max_elevation_minutes = data.max_elevation_minutes
    conditional.bump(link)
    session.flush()
    access.audit(session, Category.PARTNER, Operation.UPDATE, _partner_name(session, link), link.id, changes)
    return link


def change_delegation(session: Session, access: Access, link_id: uuid.UUID, scope: ScopeIn) -> None:
    """The customer replaces the link's scope through its Primary admins' assignment
    (``access.extensions.delegation_change``): the same change as ``update_link``'s."""
    update_link(session, access, link_id, LinkUpdate(scope=scope))


def change_scope(
    session: Session,
    access: Access,
    link_id: uuid.UUID,
    *,
    add_rooms: Sequence[uuid.UUID] = (),
    remove_rooms: Sequence[uuid.UUID] = (),
    add_groups: Sequence[uuid.UUID] = (),
    remove_groups: Sequence[uuid.UUID] = (),
) -> PartnerLink:
    """Add or remove rooms and room groups on the link's scope without restating the rest
    (the seed's "search and add rooms"). The same rules, validation and audit record as a
    full replacement (``update_link``): unknown ids are invalid input (422), the record names
    what was delegated or withdrawn and the scope that results."""
    link = customer_link(session, access, link_id, lock=True)
    require_live(link)
    scope = session.get_one(Scope, link.scope_id)
    current = read_scopes(session, [scope.id])[scope.id]
    if current.all:
        raise Conflict(
            "the partner manages every room (scope all): to delegate only some, replace the scope "
            "with PATCH .../partners/{link_id} {scope: {rooms, room_groups}}"
        )
    rooms, groups = set(current.rooms), set(current.room_groups)
    if absent := [str(r) for r in remove_rooms if r not in rooms]:
        raise NotFound(f"the partner's scope names no room with id: {', '.join(absent)}")
    if absent := [str(g) for g in remove_groups if g not in groups]:
        raise NotFound(f"the partner's scope names no room group with id: {', '.join(absent)}")
    conditional.check(session, link, "partner link")
    after = ScopeIn(
        rooms=sorted((rooms | set(add_rooms)) - set(remove_rooms)),
        room_groups=sorted((groups | set(add_groups)) - set(remove_groups)),
    )
    replace_scope(session, scope, after)
    changes: dict[str, object] = {
        "scope": {"from": current.model_dump(mode="json"), "to": after.model_dump(mode="json")}
    }
    for key, before, now in (
        ("rooms", rooms, set(after.rooms)),
        ("room_groups", groups, set(after.room_groups)),
    ):
        changes[f"{key}_delegated"] = sorted(str(i) for i in now - before)
        changes[f"{key}_withdrawn"] = sorted(str(i) for i in before - now)
    conditional.bump(link)
    session.flush()
    access.audit(session, Category.PARTNER, Operation.UPDATE, _partner_name(session, link), link.id, changes)
    return link


def _partner_name(session: Session, link: PartnerLink) -> str:
    return tenant_names(session, {link.partner_tenant_id})[link.partner_tenant_id]


def require_live(link: PartnerLink) -> None:
    """A change to the delegation needs a live link (409 once it has ended or expired)."""
    state = link.state(utcnow())
    if state == "expired":
        raise Conflict("the partner link has expired: renew it with POST .../partners/{link_id}/renew")
    if state != "active":
        raise Conflict("the partner has been removed")


def renew(session: Session, access: Access, link_id: uuid.UUID, data: LinkRenew) -> PartnerLink:
    """Renew an expired link in place, within 30 days of its end: its scope, roles,
    assignments and Primary admins work again on the next request (SPEC §4). A link that has
    not expired, has ended, is past those 30 days, or whose pair has a new link answers 409."""
    link = customer_link(session, access, link_id, lock=True)
    now = utcnow()
    state = link.state(now)
    if state == "active":
        raise Conflict("the partner link has not expired: move its end with PATCH .../partners/{link_id}")
    until = expiry.renewable_until(link)
    if state == "ended" or until is None or until <= now:
        raise Conflict("the partner link can no longer be renewed: send a new invitation")
    if session.scalar(
        select(PartnerLink.id).where(
            PartnerLink.tenant_id == link.tenant_id,
            PartnerLink.partner_tenant_id == link.partner_tenant_id,
            PartnerLink.status == "active",
            PartnerLink.id != link.id,
        )
    ):
        raise Conflict("this customer is linked to the partner again by a newer link")
    conditional.check(session, link, "partner link")
    expiry.check_end(data.expires_at, now)
    # The expiry's bookkeeping first, if no job has done it yet: it happens once, before this.
    expiry.expire(session, link, now)
    before = link.expires_at
    link.status, link.expires_at, link.expired_at = "active", data.expires_at, None
    conditional.bump(link)
    session.flush()
    access.audit(
        session,
        Category.PARTNER,
        Operation.UPDATE,
        _partner_name(session, link),
        link.id,
        {
            "status": {"from": "expired", "to": "active"},
            "expires_at": {
                "from": before.isoformat() if before else None,
                "to": data.expires_at.isoformat() if data.expires_at else None,
            },
        },
    )
    events.link_renewed.emit(
        events.LinkRenewed(session, link.id, link.tenant_id, link.partner_tenant_id, link.expires_at)
    )
    return link


def require_confirmation(confirm: bool) -> None:
    if not confirm:
        raise Invalid("removing a partner needs explicit confirmation: add ?confirm=true")


def end_link(session: Session, link: PartnerLink, actor: Actor, by: str) -> None:
    """Off-boarding: the link ends and its partner roles go with it; from the next request on
    no partner user reaches the customer. The customer's audit log keeps every record. An
    expired link can be ended too (its kept roles go at once)."""
    if link.status not in ("active", "expired"):
        raise Conflict("the partner link has already ended")
    if link.status == "active":
        events.link_ending.emit(
            events.LinkEnding(session, link, actor, f"the partner was removed (by the {by})")
        )
    link.status, link.ended_at = "ended", utcnow()
    conditional.bump(link)
    roles = expiry.remove_partner_roles(session, link)
    session.flush()
    record(
        session,
        tenant_id=link.tenant_id,
        actor=actor,
        category=Category.PARTNER,
        operation=Operation.DELETE,
        object_name=_partner_name(session, link),
        object_id=link.id,
        details={"ended_by": by, "partner_roles_removed": roles},
    )
    outbox.emit(
        session,
        "partner.link.removed",
        tenant_id=link.tenant_id,
        link_id=link.id,
        partner_tenant_id=link.partner_tenant_id,
        data={"link_id": link.id, "partner_tenant_id": link.partner_tenant_id, "removed_by": by},
    )
    notify_offboarding(session, link, by)


def end_links_of_deleted_tenant(session: Session, tenant: Tenant) -> None:
    """The operator deletes ``tenant`` (``tenants.events.tenant_deleting``): its partners first
    lose the link as in an off-boarding (recorded in each customer's log, which keeps the
    partner's records); the partners it managed for are told in their own logs."""
    as_partner = session.scalars(
        select(PartnerLink)
        .where(PartnerLink.partner_tenant_id == tenant.id, PartnerLink.status == "active")
        .order_by(PartnerLink.id)
        .with_for_update()
    ).all()
    for link in as_partner:
        end_link(session, link, OPERATOR_ACTOR, "operator")
    as_customer = session.scalars(
        select(PartnerLink).where(PartnerLink.tenant_id == tenant.id, PartnerLink.status == "active")
    ).all()
    for link in as_customer:
        record(
            session,
            tenant_id=link.partner_tenant_id,
            actor=OPERATOR_ACTOR,
            category=Category.PARTNER,
            operation=Operation.DELETE,
            object_name=tenant.name,
            object_id=link.id,
            details={"ended_by": "operator", "reason": "customer tenant deleted"},
        )


def offboard_by_customer(session: Session, access: Access, link_id: uuid.UUID, confirm: bool) -> None:
    link = customer_link(session, access, link_id, lock=True)
    require_confirmation(confirm)
    if link.status in ("active", "expired"):
        conditional.check(session, link, "partner link")
    end_link(session, link, access.actor, "customer")


# -- partner side ------------------------------------------------------------------------------


def partner_links_query(
    session: Session, principal: Principal, status: str | None = None
) -> Select[PartnerLink]:
    """Tenant managers, Pro managers and Global admins see every active or expired link of
    their tenant; other partner users see the live links in which they hold a role."""
    stmt = select(PartnerLink).where(
        PartnerLink.partner_tenant_id == principal.tenant_id,
        PartnerLink.status.in_(("active", "expired")),
    )
    if status:
        stmt = stmt.where(link_state_is(status, utcnow()))
    if is_reviewer(session, principal):
        return stmt
    return stmt.where(PartnerLink.id.in_([link_id for link_id, _, _ in linked_customers(session, principal)]))


def removable_by_partner(session: Session, principal: Principal, link_id: uuid.UUID) -> PartnerLink:
    """The link the partner user may end (``offboard_by_partner``'s checks before the
    confirmation): one it sees (else 404), past the customer's second-factor rule, and of
    which it is a Primary admin (else 403). The portal's confirmation page asks the same."""
    link = session.scalar(partner_links_query(session, principal).where(PartnerLink.id == link_id))
    if link is None:
        raise NotFound("customer not found")
    require_second_factor(session, principal, link.tenant_id)
    if not primary_admins.holds(session, principal.user_id, link.id):
        raise Forbidden("only the link's Primary admins remove the customer")
    return link


def offboard_by_partner(
    session: Session, principal: Principal, link_id: uuid.UUID, confirm: bool
) -> PartnerLink:
    link = removable_by_partner(session, principal, link_id)
    require_confirmation(confirm)
    session.refresh(link, with_for_update=True)
    end_link(session, link, principal.actor, "partner")
    return link


# -- establishing a link in one step (demo data, operator tooling) ------------------------------


def establish_link(
    session: Session,
    customer: Access,
    acceptor: Principal,
    *,
    partner_domain: str,
    scope: ScopeIn,
    primary_admins: Sequence[MemberRef] = (),
    approval_policy: ApprovalPolicy | None = None,
    expires_in_days: int = 14,
) -> PartnerLink:
    """Invite and accept through the same service functions as the API, so the rules hold
    and both steps are audited: ``customer`` is the inviting customer user's access (it needs
    ``partners.manage`` over all rooms), ``acceptor`` a reviewer of the partner tenant (Global
    admin, Pro manager or tenant manager). Returns the active link."""
    invitation = create_invitation(
        session,
        customer,
        InvitationCreate(
            partner_domain=partner_domain,
            expires_in_days=expires_in_days,
            approval_policy=approval_policy or ApprovalPolicy(),
            scope=scope,
            terms_accepted=True,
        ),
    )
    return accept(session, acceptor, invitation.id, AcceptInvitation(primary_admins=list(primary_admins)))
