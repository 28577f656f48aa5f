"""Customers (partner side, SPEC §4 "Partner portal view" and §9): the customers the user's
organisation is linked to, with a way into each one it may act in, and per customer the
delegated rooms and groups, the partner roles with their assignments and the Primary
admins — read through ``partners.links`` and ``access.service`` as the partner API reads
them. Partner roles are created and assigned on the customer's own Roles pages, which
serve a partner user its link's roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import Query, Response
from sqlalchemy import select

from roomwarden.access import service
from roomwarden.access.mfa import require_second_factor
from roomwarden.access.models import Role, RoleAssignment
from roomwarden.access.permissions import Permission as P
from roomwarden.access.resolver import Access, resolve_access
from roomwarden.access.schemas import AssignmentRead, MemberRead, RoleRead, ScopeRead
from roomwarden.audit.service import Category, Operation
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError, NotFound
from roomwarden.kit.pagination import PageParams, paginate
from roomwarden.partners import links, primary_admins
from roomwarden.partners.models import PartnerLink
from roomwarden.partners.schemas import PartnerLinkRead
from roomwarden.portal.partner_invitations import policy_summary, scope_summary
from roomwarden.portal.partner_side import PartnerCtx, PartnerCtxDep
from roomwarden.portal.urls import path_for
from roomwarden.portal.web import portal_router, redirect
from roomwarden.rooms.groups import group_visible
from roomwarden.rooms.models import Room, RoomGroup

pages = portal_router()
PAGE_SIZE = 50


@pages.get("/partner/customers", name="portal.partner_customers")
def customer_list(
    pctx: PartnerCtxDep, cursor: str = Query("", max_length=64), done: str = Query("", max_length=20)
) -> Response:
    stmt = links.partner_links_query(pctx.session, pctx.principal)
    page = paginate(
        pctx.session, stmt, PartnerLink.id, PageParams(limit=PAGE_SIZE, cursor=cursor or None), lambda x: x
    )
    reads = links.partner_link_reads(pctx.session, pctx.principal, page.items)
    reads.sort(key=lambda r: (r.customer_name.lower(), str(r.id)))
    return pctx.page(
        "partner/customers.html",
        current="customers",
        items=[(r, scope_summary(r.scope_size)) for r in reads],
        next_cursor=page.next_cursor,
        first_page=bool(cursor),
        mfa=pctx.principal.mfa,
        managers_url=pctx.link("partner_tenant_managers"),
        done=done,
    )


@dataclass(frozen=True)
class Named:
    id: uuid.UUID
    name: str
    href: str | None


@dataclass(frozen=True)
class Delegation:
    """The link's scope as the user may see it: names of what its rights show, and how many
    more the link holds."""

    all: bool
    rooms: list[Named]
    other_rooms: int
    groups: list[Named]
    other_groups: int


def _delegation(pctx: PartnerCtx, access: Access, scope: ScopeRead) -> Delegation:
    app, tid = pctx.request.app, str(access.tenant_id)
    rooms = []
    if scope.rooms:
        rows = pctx.session.execute(
            select(Room.id, Room.name)
            .where(
                Room.tenant_id == access.tenant_id,
                Room.id.in_(scope.rooms),
                access.rooms(P.ROOMS_VIEW).clause(Room.id),
            )
            .order_by(Room.name)
        )
        rooms = [Named(i, n, path_for(app, "portal.room", tenant_id=tid, room_id=str(i))) for i, n in rows]
    groups = []
    if scope.room_groups:
        rows = pctx.session.execute(
            select(RoomGroup.id, RoomGroup.name)
            .where(
                RoomGroup.tenant_id == access.tenant_id,
                RoomGroup.id.in_(scope.room_groups),
                group_visible(access.rooms(P.GROUPS_VIEW)),
            )
            .order_by(RoomGroup.name)
        )
        groups = [
            Named(i, n, path_for(app, "portal.room_group", tenant_id=tid, group_id=str(i))) for i, n in rows
        ]
    return Delegation(
        all=scope.all,
        rooms=rooms,
        other_rooms=len(scope.rooms) - len(rooms),
        groups=groups,
        other_groups=len(scope.room_groups) - len(groups),
    )


@dataclass(frozen=True)
class PartnerRole:
    role: RoleRead
    href: str
    assignments: list[AssignmentRead]


def _may(access: Access, perm: P) -> bool:
    try:
        service.require_roles(access, perm)
    except AppError:
        return False
    return True


def _partner_roles(pctx: PartnerCtx, access: Access) -> list[PartnerRole] | None:
    """The link's partner roles as ``GET /tenants/{customer}/roles`` answers the user, or
    ``None`` when it refuses (roles.view over the whole link is needed)."""
    if not _may(access, P.ROLES_VIEW):
        return None
    roles = list(pctx.session.scalars(service.list_roles_query(access).order_by(Role.name)))
    reads = service.role_reads(pctx.session, roles)
    reads.sort(key=lambda r: (r.kind != "partner_builtin", r.name.lower()))
    assignments = service.assignment_reads(
        pctx.session,
        list(
            pctx.session.scalars(
                select(RoleAssignment)
                .where(RoleAssignment.role_id.in_([r.id for r in roles]))
                .order_by(RoleAssignment.name, RoleAssignment.id)
            )
        ),
    )
    tid = str(access.tenant_id)
    return [
        PartnerRole(
            role=r,
            href=path_for(pctx.request.app, "portal.role", tenant_id=tid, role_id=str(r.id)),
            assignments=[a for a in assignments if a.role_id == r.id],
        )
        for r in reads
    ]


def member_name(m: MemberRead) -> str:
    if m.type == "group":
        return f"Group {m.name or m.id}"
    return f"{m.display_name} ({m.upn})" if m.display_name else str(m.upn or m.id)


@pages.get("/partner/customers/{link_id}", name="portal.partner_customer")
def customer_page(pctx: PartnerCtxDep, link_id: uuid.UUID, done: str = Query("", max_length=20)) -> Response:
    # As GET /api/v1/partner/customers/{link_id}: a link the user may not see is the same
    # 404 as a missing one; the customer's second-factor rule comes next.
    link = pctx.session.scalar(
        links.partner_links_query(pctx.session, pctx.principal).where(PartnerLink.id == link_id)
    )
    if link is None:
        raise NotFound("customer not found")
    require_second_factor(pctx.session, pctx.principal, link.tenant_id)
    read: PartnerLinkRead = links.partner_link_reads(pctx.session, pctx.principal, [link])[0]
    access = resolve_access(pctx.session, pctx.principal, link.tenant_id) if read.holds_role else None
    delegation = (
        _delegation(pctx, access, read.scope) if access is not None and read.scope is not None else None
    )
    roles = _partner_roles(pctx, access) if access is not None else None
    primary = next((r for r in roles or [] if r.role.kind == "partner_builtin"), None)
    tid = str(link.tenant_id)
    app = pctx.request.app
    return pctx.page(
        "partner/customer.html",
        current="customers",
        link=read,
        scope=scope_summary(read.scope_size),
        policy=policy_summary(read.approval_policy),
        delegation=delegation,
        roles=roles,
        primary=primary,
        member_name=member_name,
        act_in=path_for(app, "portal.tenant_home", tenant_id=tid) if access is not None else None,
        new_role=path_for(app, "portal.role_new", tenant_id=tid)
        if access is not None and _may(access, P.ROLES_MODIFY)
        else None,
        may_remove=primary_admins.holds(pctx.session, pctx.principal.user_id, link.id),
        done=done,
    )


# -- removing the customer (off-boarding by the partner, SPEC §4) ---------------------------------


@pages.get("/partner/customers/{link_id}/remove", name="portal.partner_customer_remove")
def remove_confirm(pctx: PartnerCtxDep, link_id: uuid.UUID) -> Response:
    """The confirmation, behind the same checks as the removal itself: a link the user may
    not see is the same 404 as a missing one; only its Primary admins (403) remove it."""
    link = links.removable_by_partner(pctx.session, pctx.principal, link_id)
    (read,) = links.partner_link_reads(pctx.session, pctx.principal, [link])
    return pctx.page(
        "confirm.html",
        current="customers",
        title=f"Remove the customer {read.customer_name}?",
        text=f"From the next request on, no user of your organisation can see or do anything in "
        f"{read.customer_name}: the partner roles end with the link, and your pending approval "
        f"requests there are cancelled. {read.customer_name} keeps every record of your "
        "organisation's activity in its audit log. To manage its rooms again, it has to send a "
        "new invitation.",
        action=pctx.url("partner_customer_remove", link_id=link.id),
        button="Remove",
        cancel=pctx.url("partner_customer", link_id=link.id),
    )


@pages.post("/partner/customers/{link_id}/remove")
@audited(Category.PARTNER, Operation.DELETE)
def remove(pctx: PartnerCtxDep, link_id: uuid.UUID) -> Response:
    """``DELETE /api/v1/partner/customers/{link_id}?confirm=true``: the same service, and a
    refusal recorded in the customer's log once the link is known to be the user's tenant's."""
    pctx.audit_in(
        pctx.session.scalar(
            select(PartnerLink.tenant_id).where(
                PartnerLink.id == link_id, PartnerLink.partner_tenant_id == pctx.principal.tenant_id
            )
        )
    )
    links.offboard_by_partner(pctx.session, pctx.principal, link_id, True)
    return redirect(pctx.url("partner_customers") + "?done=removed")
