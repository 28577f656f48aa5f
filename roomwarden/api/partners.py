from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.access.deps import AccessDep
from roomwarden.access.mfa import require_second_factor
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.deps import PrincipalDep
from roomwarden.identity.principal import Principal
from roomwarden.kit import conditional
from roomwarden.kit.api import SessionDep, audited, not_audited
from roomwarden.kit.conditional import IfMatchDep
from roomwarden.kit.errors import Invalid, NotFound
from roomwarden.kit.pagination import Page, PageDep, paginate
from roomwarden.kit.routing import router
from roomwarden.partners import invitations, links, managers, overview, tickets
from roomwarden.partners.models import PartnerInvitation, PartnerLink
from roomwarden.partners.schemas import (
    AcceptInvitation,
    InvitationCreate,
    InvitationRead,
    LinkRead,
    LinkRenew,
    LinkUpdate,
    PartnerInvitationRead,
    PartnerLinkRead,
    ScopeGroupsAdd,
    ScopeRoomsAdd,
    TenantManagerCreate,
    TenantManagerRead,
)
from roomwarden.rooms.models import Room, Ticket
from roomwarden.rooms.schemas import HealthState, RoomRead, TicketRead, TicketStatus
from roomwarden.rooms.service import room_reads

customer = router(prefix="/api/v1/tenants/{tenant_id}", tags=["partners (customer)"])
partner = router(prefix="/api/v1/partner", tags=["partners (partner side)"])
Confirm = Annotated[bool, Query(description="must be true: removing a partner is explicit")]


class AggregateTicket(TicketRead):
    customer_name: str


class DelegatedRoom(RoomRead):
    customer_id: uuid.UUID
    customer_name: str


# -- customer side -----------------------------------------------------------------------------


@customer.post("/partner-invitations/review", response_model=InvitationRead)
@not_audited("changes nothing: it checks an invitation before it is sent")
def review_invitation(session: SessionDep, access: AccessDep, body: InvitationCreate) -> InvitationRead:
    """Everything the invitation would send, without sending it."""
    return invitations.preview(session, access, body)


@customer.post("/partner-invitations", response_model=InvitationRead, status_code=201)
@audited(Category.PARTNER_INVITATION, Operation.CREATE)
def create_invitation(
    request: Request, session: SessionDep, access: AccessDep, body: InvitationCreate
) -> InvitationRead:
    inv = invitations.create_invitation(session, access, body, request.app.state.settings)
    read = invitations.invitation_reads(session, [inv])[0]
    return read.model_copy(update={"partner_domain": body.partner_domain})


@customer.get("/partner-invitations", response_model=Page[InvitationRead])
def list_invitations(
    session: SessionDep,
    access: AccessDep,
    pages: PageDep,
    status: Literal["pending", "accepted", "denied", "revoked", "expired"] | None = None,
) -> Page[InvitationRead]:
    stmt = invitations.invitations_query(access)
    if status:
        stmt = stmt.where(invitations.status_is(status))
    page = paginate(session, stmt, PartnerInvitation.id, pages, lambda i: i)
    return Page[InvitationRead](
        items=invitations.invitation_reads(session, page.items), next_cursor=page.next_cursor
    )


@customer.get("/partner-invitations/{invitation_id}", response_model=InvitationRead)
def get_invitation(session: SessionDep, access: AccessDep, invitation_id: uuid.UUID) -> InvitationRead:
    inv = invitations.customer_invitation(session, access, invitation_id)
    return invitations.invitation_reads(session, [inv])[0]


@customer.delete("/partner-invitations/{invitation_id}", status_code=204)
@audited(Category.PARTNER_INVITATION, Operation.DELETE)
def revoke_invitation(session: SessionDep, access: AccessDep, invitation_id: uuid.UUID) -> None:
    invitations.revoke(session, access, invitation_id)


@customer.get("/partners", response_model=Page[LinkRead])
def list_partners(
    session: SessionDep,
    access: AccessDep,
    pages: PageDep,
    status: Literal["active", "expired", "ended"] | None = None,
) -> Page[LinkRead]:
    page = paginate(session, links.customer_links_query(access, status), PartnerLink.id, pages, lambda x: x)
    return Page[LinkRead](items=links.link_reads(session, page.items), next_cursor=page.next_cursor)


def _tagged(session: SessionDep, response: Response, link: PartnerLink) -> LinkRead:
    read = links.link_reads(session, [link])[0]
    conditional.tag(response, read.version)
    return read


@customer.get("/partners/{link_id}", response_model=LinkRead)
def get_partner(session: SessionDep, access: AccessDep, response: Response, link_id: uuid.UUID) -> LinkRead:
    """One partner link, with its `ETag` (send it back as `If-Match` to change the link)."""
    return _tagged(session, response, links.customer_link(session, access, link_id))


@customer.patch("/partners/{link_id}", response_model=LinkRead, dependencies=[IfMatchDep])
@audited(Category.PARTNER, Operation.UPDATE)
def update_partner(
    session: SessionDep, access: AccessDep, response: Response, link_id: uuid.UUID, body: LinkUpdate
) -> LinkRead:
    """Replace the link's scope, change its change-control policy or approval expiry, or set,
    move or clear its end (`expires_at`: at most 730 days ahead). With `If-Match`, refused
    (412) when the link changed since that ETag was read."""
    return _tagged(session, response, links.update_link(session, access, link_id, body))


@customer.post("/partners/{link_id}/renew", response_model=LinkRead, dependencies=[IfMatchDep])
@audited(Category.PARTNER, Operation.UPDATE)
def renew_partner(
    session: SessionDep,
    access: AccessDep,
    response: Response,
    link_id: uuid.UUID,
    body: LinkRenew | None = None,
) -> LinkRead:
    """Renew an expired link within 30 days of its end, with a new end (`expires_at`, or
    `null` for none): its roles and Primary admins work again on the next request. A link
    that has not expired, or expired more than 30 days ago, answers 409."""
    return _tagged(session, response, links.renew(session, access, link_id, body or LinkRenew()))


@customer.post("/partners/{link_id}/scope/rooms", response_model=LinkRead, dependencies=[IfMatchDep])
@audited(Category.PARTNER, Operation.UPDATE)
def add_partner_scope_rooms(
    session: SessionDep, access: AccessDep, response: Response, link_id: uuid.UUID, body: ScopeRoomsAdd
) -> LinkRead:
    """Add rooms to the link's scope (delegate them), keeping the rest. Unknown room ids are
    invalid input (422); a link delegating every room answers 409."""
    link = links.change_scope(session, access, link_id, add_rooms=body.room_ids)
    return _tagged(session, response, link)


@customer.delete(
    "/partners/{link_id}/scope/rooms/{room_id}", response_model=LinkRead, dependencies=[IfMatchDep]
)
@audited(Category.PARTNER, Operation.UPDATE)
def remove_partner_scope_room(
    session: SessionDep, access: AccessDep, response: Response, link_id: uuid.UUID, room_id: uuid.UUID
) -> LinkRead:
    """Remove a room from the link's scope (withdraw it; effective on the partner's next
    request). A room the scope does not name answers 404."""
    link = links.change_scope(session, access, link_id, remove_rooms=[room_id])
    return _tagged(session, response, link)


@customer.post("/partners/{link_id}/scope/room-groups", response_model=LinkRead, dependencies=[IfMatchDep])
@audited(Category.PARTNER, Operation.UPDATE)
def add_partner_scope_groups(
    session: SessionDep, access: AccessDep, response: Response, link_id: uuid.UUID, body: ScopeGroupsAdd
) -> LinkRead:
    """Add room groups to the link's scope (their current and future members are delegated)."""
    link = links.change_scope(session, access, link_id, add_groups=body.room_group_ids)
    return _tagged(session, response, link)


@customer.delete(
    "/partners/{link_id}/scope/room-groups/{group_id}", response_model=LinkRead, dependencies=[IfMatchDep]
)
@audited(Category.PARTNER, Operation.UPDATE)
def remove_partner_scope_group(
    session: SessionDep, access: AccessDep, response: Response, link_id: uuid.UUID, group_id: uuid.UUID
) -> LinkRead:
    """Remove a room group from the link's scope. A group the scope does not name answers 404."""
    link = links.change_scope(session, access, link_id, remove_groups=[group_id])
    return _tagged(session, response, link)


@customer.delete("/partners/{link_id}", status_code=204, dependencies=[IfMatchDep])
@audited(Category.PARTNER, Operation.DELETE)
def remove_partner(
    session: SessionDep, access: AccessDep, link_id: uuid.UUID, confirm: Confirm = False
) -> None:
    links.offboard_by_customer(session, access, link_id, confirm)


# -- partner side -------------------------------------------------------------------------------
#
# Refused partner-side attempts are written to the audit log of the customer they concern
# (SPEC §6: records live in the tenant acted in), once the addressed invitation or link is known
# to concern the caller's tenant; tenant-manager changes are the partner tenant's own. The
# dependencies below run before the body is validated, so invalid input is recorded too.


def _audit_in_customer_of(
    model: type[PartnerInvitation] | type[PartnerLink],
    object_id: uuid.UUID,
    request: Request,
    session: Session,
    principal: Principal,
) -> None:
    request.state.audit_tenant_id = session.scalar(
        select(model.tenant_id).where(model.id == object_id, model.partner_tenant_id == principal.tenant_id)
    )


def _invitation_customer(
    request: Request, session: SessionDep, principal: PrincipalDep, invitation_id: uuid.UUID
) -> None:
    _audit_in_customer_of(PartnerInvitation, invitation_id, request, session, principal)


def _link_customer(
    request: Request, session: SessionDep, principal: PrincipalDep, link_id: uuid.UUID
) -> None:
    _audit_in_customer_of(PartnerLink, link_id, request, session, principal)


def _own_tenant(request: Request, principal: PrincipalDep) -> None:
    request.state.audit_tenant_id = principal.tenant_id


@partner.get("/invitations", response_model=Page[PartnerInvitationRead])
def partner_invitations(
    session: SessionDep,
    principal: PrincipalDep,
    pages: PageDep,
    status: Literal["pending", "accepted", "denied", "revoked", "expired"] | None = None,
) -> Page[PartnerInvitationRead]:
    stmt = invitations.partner_invitations_query(session, principal)
    if status:
        stmt = stmt.where(invitations.status_is(status))
    page = paginate(session, stmt, PartnerInvitation.id, pages, lambda i: i)
    items = invitations.partner_invitation_reads(session, page.items)
    return Page[PartnerInvitationRead](items=items, next_cursor=page.next_cursor)


@partner.post(
    "/invitations/{invitation_id}/accept",
    response_model=PartnerLinkRead,
    status_code=201,
    dependencies=[Depends(_invitation_customer)],
)
@audited(Category.PARTNER_INVITATION, Operation.APPROVE)
def accept_invitation(
    session: SessionDep,
    principal: PrincipalDep,
    invitation_id: uuid.UUID,
    body: AcceptInvitation | None = None,
) -> PartnerLinkRead:
    link = invitations.accept(session, principal, invitation_id, body or AcceptInvitation())
    return links.partner_link_reads(session, principal, [link])[0]


@partner.post(
    "/invitations/{invitation_id}/deny",
    response_model=PartnerInvitationRead,
    dependencies=[Depends(_invitation_customer)],
)
@audited(Category.PARTNER_INVITATION, Operation.REJECT)
def deny_invitation(
    session: SessionDep, principal: PrincipalDep, invitation_id: uuid.UUID
) -> PartnerInvitationRead:
    return invitations.partner_invitation_reads(
        session, [invitations.deny(session, principal, invitation_id)]
    )[0]


@partner.get("/customers", response_model=Page[PartnerLinkRead])
def partner_customers(
    session: SessionDep,
    principal: PrincipalDep,
    pages: PageDep,
    status: Literal["active", "expired"] | None = None,
) -> Page[PartnerLinkRead]:
    """The partner's customers: live links where the caller holds a role; the partner's
    reviewers (Global admins, Pro managers, tenant managers) also see expired ones."""
    page = paginate(
        session, links.partner_links_query(session, principal, status), PartnerLink.id, pages, lambda x: x
    )
    items = links.partner_link_reads(session, principal, page.items)
    return Page[PartnerLinkRead](items=items, next_cursor=page.next_cursor)


@partner.get("/customers/{link_id}", response_model=PartnerLinkRead)
def partner_customer(session: SessionDep, principal: PrincipalDep, link_id: uuid.UUID) -> PartnerLinkRead:
    link = session.scalar(links.partner_links_query(session, principal).where(PartnerLink.id == link_id))
    if link is None:
        raise NotFound("customer not found")
    require_second_factor(session, principal, link.tenant_id)
    return links.partner_link_reads(session, principal, [link])[0]


@partner.delete("/customers/{link_id}", status_code=204, dependencies=[Depends(_link_customer)])
@audited(Category.PARTNER, Operation.DELETE)
def remove_customer(
    session: SessionDep, principal: PrincipalDep, link_id: uuid.UUID, confirm: Confirm = False
) -> None:
    links.offboard_by_partner(session, principal, link_id, confirm)


@partner.get("/tenant-managers", response_model=Page[TenantManagerRead])
def list_tenant_managers(
    session: SessionDep, principal: PrincipalDep, pages: PageDep
) -> Page[TenantManagerRead]:
    return managers.list_managers(session, principal, pages)


@partner.post(
    "/tenant-managers",
    response_model=TenantManagerRead,
    status_code=201,
    dependencies=[Depends(_own_tenant)],
)
@audited(Category.TENANT_MANAGER, Operation.CREATE)
def add_tenant_manager(
    session: SessionDep, principal: PrincipalDep, body: TenantManagerCreate
) -> TenantManagerRead:
    return managers.add_manager(session, principal, body.user_id)


@partner.delete("/tenant-managers/{user_id}", status_code=204, dependencies=[Depends(_own_tenant)])
@audited(Category.TENANT_MANAGER, Operation.DELETE)
def remove_tenant_manager(session: SessionDep, principal: PrincipalDep, user_id: uuid.UUID) -> None:
    managers.remove_manager(session, principal, user_id)


@partner.delete("/tenant-managers", status_code=204, dependencies=[Depends(_own_tenant)])
@audited(Category.TENANT_MANAGER, Operation.DELETE)
def remove_tenant_manager_from_collection(
    session: SessionDep,
    principal: PrincipalDep,
    user_id: Annotated[uuid.UUID | None, Query()] = None,
    body: TenantManagerCreate | None = None,
) -> None:
    """The collection form: the user named by ``?user_id=`` or by a ``{"user_id"}`` body."""
    named = {x for x in (user_id, body.user_id if body else None) if x is not None}
    if len(named) != 1:
        raise Invalid('name the tenant manager to remove once: ?user_id= or {"user_id": ...}')
    managers.remove_manager(session, principal, named.pop())


@partner.get("/tickets", response_model=Page[AggregateTicket])
def aggregate_tickets(
    session: SessionDep,
    principal: PrincipalDep,
    pages: PageDep,
    customer_id: uuid.UUID | None = None,
    status: TicketStatus | None = None,
) -> Page[AggregateTicket]:
    stmt, names = tickets.aggregate_query(session, principal, customer_id, status)
    page = paginate(session, stmt, Ticket.id, pages, lambda t: t)
    items = [
        AggregateTicket(**TicketRead.model_validate(t).model_dump(), customer_name=names[t.tenant_id])
        for t in page.items
    ]
    return Page[AggregateTicket](items=items, next_cursor=page.next_cursor)


@partner.get("/rooms", response_model=Page[DelegatedRoom])
def delegated_rooms(
    session: SessionDep,
    principal: PrincipalDep,
    pages: PageDep,
    customer_id: uuid.UUID | None = None,
    health_state: HealthState | None = None,
) -> Page[DelegatedRoom]:
    """Every delegated room the caller may view, across its customers (or one of them)."""
    view = overview.customer_view(session, principal, customer_id)
    page = paginate(session, overview.rooms_query(view, health_state), Room.id, pages, lambda r: r)
    items = [
        DelegatedRoom(**read.model_dump(), customer_id=r.tenant_id, customer_name=view.names[r.tenant_id])
        for r, read in zip(page.items, room_reads(session, page.items), strict=True)
    ]
    return Page[DelegatedRoom](items=items, next_cursor=page.next_cursor)
