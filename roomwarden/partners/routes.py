from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import Query, Request
from sqlalchemy import select

from roomwarden.access.deps import AccessDep
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.deps import PrincipalDep
from roomwarden.kit.api import SessionDep, audited
from roomwarden.kit.pagination import Page, PageDep, paginate
from roomwarden.kit.routing import router
from roomwarden.partners import invitations, links, managers, tickets
from roomwarden.partners.models import PartnerInvitation, PartnerLink
from roomwarden.partners.schemas import (
    AcceptInvitation,
    InvitationCreate,
    InvitationRead,
    LinkRead,
    LinkUpdate,
    PartnerInvitationRead,
    TenantManagerCreate,
    TenantManagerRead,
)
from roomwarden.rooms.models import Ticket
from roomwarden.rooms.schemas import TicketRead, TicketStatus

customer = router(prefix="/api/v1/tenants/{tenant_id}", tags=["partners (customer)"])
partner = router(prefix="/api/v1/partner", tags=["partners (partner side)"])
Confirm = Annotated[bool, Query(description="must be true: removing a partner is explicit")]


class AggregateTicket(TicketRead):
    customer_name: str


# -- customer side -----------------------------------------------------------------------------


@customer.post("/partner-invitations/review", response_model=InvitationRead)
def review_invitation(session: SessionDep, access: AccessDep, body: InvitationCreate) -> InvitationRead:
    """Everything the invitation would send, without sending it."""
    return invitations.preview(session, access, body)


@customer.post("/partner-invitations", response_model=InvitationRead, status_code=201)
@audited(Category.PARTNER_INVITATION, Operation.CREATE)
def create_invitation(session: SessionDep, access: AccessDep, body: InvitationCreate) -> InvitationRead:
    inv = invitations.create_invitation(session, access, body)
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
    session: SessionDep, access: AccessDep, pages: PageDep, status: Literal["active", "ended"] | None = None
) -> Page[LinkRead]:
    page = paginate(session, links.customer_links_query(access, status), PartnerLink.id, pages, lambda x: x)
    return Page[LinkRead](items=links.link_reads(session, page.items), next_cursor=page.next_cursor)


@customer.get("/partners/{link_id}", response_model=LinkRead)
def get_partner(session: SessionDep, access: AccessDep, link_id: uuid.UUID) -> LinkRead:
    return links.link_reads(session, [links.customer_link(session, access, link_id)])[0]


@customer.patch("/partners/{link_id}", response_model=LinkRead)
@audited(Category.PARTNER, Operation.UPDATE)
def update_partner(session: SessionDep, access: AccessDep, link_id: uuid.UUID, body: LinkUpdate) -> LinkRead:
    return links.link_reads(session, [links.update_link(session, access, link_id, body)])[0]


@customer.delete("/partners/{link_id}", status_code=204)
@audited(Category.PARTNER, Operation.DELETE)
def remove_partner(
    session: SessionDep, access: AccessDep, link_id: uuid.UUID, confirm: Confirm = False
) -> None:
    links.offboard_by_customer(session, access, link_id, confirm)


# -- partner side -------------------------------------------------------------------------------


def _audit_in_customer(
    request: Request, session: SessionDep, principal: PrincipalDep, model: type, object_id: uuid.UUID
) -> None:
    """A refused partner-side action is recorded in the customer it concerns, once the
    object is known to be addressed to the caller's tenant."""
    request.state.audit_tenant_id = session.scalar(
        select(model.tenant_id).where(model.id == object_id, model.partner_tenant_id == principal.tenant_id)
    )


def _audit_in_own(request: Request, principal: PrincipalDep) -> None:
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


@partner.post("/invitations/{invitation_id}/accept", response_model=LinkRead, status_code=201)
@audited(Category.PARTNER_INVITATION, Operation.APPROVE)
def accept_invitation(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    invitation_id: uuid.UUID,
    body: AcceptInvitation | None = None,
) -> LinkRead:
    _audit_in_customer(request, session, principal, PartnerInvitation, invitation_id)
    link = links.accept(session, principal, invitation_id, body or AcceptInvitation())
    return links.link_reads(session, [link])[0]


@partner.post("/invitations/{invitation_id}/deny", response_model=PartnerInvitationRead)
@audited(Category.PARTNER_INVITATION, Operation.REJECT)
def deny_invitation(
    request: Request, session: SessionDep, principal: PrincipalDep, invitation_id: uuid.UUID
) -> PartnerInvitationRead:
    _audit_in_customer(request, session, principal, PartnerInvitation, invitation_id)
    return invitations.partner_invitation_reads(
        session, [invitations.deny(session, principal, invitation_id)]
    )[0]


@partner.get("/customers", response_model=Page[LinkRead])
def partner_customers(session: SessionDep, principal: PrincipalDep, pages: PageDep) -> Page[LinkRead]:
    page = paginate(
        session, links.partner_links_query(session, principal), PartnerLink.id, pages, lambda x: x
    )
    return Page[LinkRead](items=links.link_reads(session, page.items), next_cursor=page.next_cursor)


@partner.delete("/customers/{link_id}", status_code=204)
@audited(Category.PARTNER, Operation.DELETE)
def remove_customer(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    link_id: uuid.UUID,
    confirm: Confirm = False,
) -> None:
    _audit_in_customer(request, session, principal, PartnerLink, link_id)
    links.offboard_by_partner(session, principal, link_id, confirm)


@partner.get("/tenant-managers", response_model=list[TenantManagerRead])
def list_tenant_managers(session: SessionDep, principal: PrincipalDep) -> list[TenantManagerRead]:
    return managers.list_managers(session, principal)


@partner.post("/tenant-managers", response_model=TenantManagerRead, status_code=201)
@audited(Category.TENANT_MANAGER, Operation.CREATE)
def add_tenant_manager(
    request: Request, session: SessionDep, principal: PrincipalDep, body: TenantManagerCreate
) -> TenantManagerRead:
    _audit_in_own(request, principal)
    return managers.add_manager(session, principal, body.user_id)


@partner.delete("/tenant-managers/{user_id}", status_code=204)
@audited(Category.TENANT_MANAGER, Operation.DELETE)
def remove_tenant_manager(
    request: Request, session: SessionDep, principal: PrincipalDep, user_id: uuid.UUID
) -> None:
    _audit_in_own(request, principal)
    managers.remove_manager(session, principal, user_id)


@partner.delete("/tenant-managers", status_code=204)
@audited(Category.TENANT_MANAGER, Operation.DELETE)
def remove_tenant_manager_by_query(
    request: Request, session: SessionDep, principal: PrincipalDep, user_id: Annotated[uuid.UUID, Query()]
) -> None:
    _audit_in_own(request, principal)
    managers.remove_manager(session, principal, user_id)


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
