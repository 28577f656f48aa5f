"""Invitations (partner side, SPEC §4 and §9): the pending invitations addressed to the
user's tenant, each with **Accept** and **Deny**; accepting asks for the **Primary admins**
and is done by **Confirm** — through ``partners.invitations``, the API's own service, so
who may review, the customer's second-factor rule and the invitation's state are its
rules."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Query, Response
from sqlalchemy import select

from roomwarden.audit.service import Category, Operation
from roomwarden.identity.models import SecurityGroup
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError, NotFound
from roomwarden.kit.pagination import PageParams, paginate
from roomwarden.partners import invitations
from roomwarden.partners.models import PartnerInvitation
from roomwarden.partners.schemas import EVENTS, AcceptInvitation, ScopeSize
from roomwarden.portal import pickers
from roomwarden.portal.deps import FormDep
from roomwarden.portal.forms import errors_of, ids, validate
from roomwarden.portal.partner_side import PartnerCtx, PartnerCtxDep
from roomwarden.portal.web import FormRefused, portal_router, redirect, sentence

pages = portal_router()
PAGE_SIZE = 50

EVENT_NAMES = {
    "room.update": "room changes",
    "update_ring.change": "update ring changes",
    "incident.create": "new incidents",
    "ticket.update": "ticket updates",
    "partner_role.change": "partner role changes",
}


def scope_summary(size: ScopeSize) -> str:
    """The delegation in words, from its size (all a partner sees before it holds a role)."""
    if size.all:
        return "Every room of the customer, now and later"
    parts = []
    if size.rooms:
        parts.append(f"{size.rooms} {'room' if size.rooms == 1 else 'rooms'}")
    if size.room_groups:
        parts.append(f"{size.room_groups} {'room group' if size.room_groups == 1 else 'room groups'}")
    return " and ".join(parts) if parts else "No rooms yet"


def policy_summary(policy: dict[str, str]) -> str:
    held = [EVENT_NAMES.get(e, e) for e in EVENTS if policy.get(e) == "manual"]
    if not held:
        return "Every change applies at once"
    return "The customer approves " + ", ".join(held)


def _visible(pctx: PartnerCtx, invitation_id: uuid.UUID) -> PartnerInvitation:
    """The invitation addressed to the user's tenant, as the API reads it: reviewers only
    (403), and any other id is the same 404 as a missing one."""
    inv = pctx.session.scalar(
        invitations.partner_invitations_query(pctx.session, pctx.principal).where(
            PartnerInvitation.id == invitation_id
        )
    )
    if inv is None:
        raise NotFound("invitation not found")
    return inv


def _audit_in_customer(pctx: PartnerCtx, invitation_id: uuid.UUID) -> None:
    pctx.audit_in(
        pctx.session.scalar(
            select(PartnerInvitation.tenant_id).where(
                PartnerInvitation.id == invitation_id,
                PartnerInvitation.partner_tenant_id == pctx.principal.tenant_id,
            )
        )
    )


def _denied_notice(pctx: PartnerCtx, invitation: str) -> str:
    try:
        inv = _visible(pctx, uuid.UUID(invitation))
    except (ValueError, AppError):
        return "The invitation was denied. The customer must send a new one to offer it again."
    (read,) = invitations.partner_invitation_reads(pctx.session, [inv])
    return (
        f"You denied the invitation from {read.customer_name}. "
        "The customer must send a new one to offer it again."
    )


def _list_page(
    pctx: PartnerCtx, cursor: str, *, notice: str = "", error: str = "", status: int = 200
) -> Response:
    stmt = invitations.partner_invitations_query(pctx.session, pctx.principal).where(
        invitations.status_is("pending")
    )
    page = paginate(
        pctx.session,
        stmt,
        PartnerInvitation.id,
        PageParams(limit=PAGE_SIZE, cursor=cursor or None),
        lambda i: i,
    )
    reads = invitations.partner_invitation_reads(pctx.session, page.items)
    return pctx.page(
        "partner/invitations.html",
        current="invitations",
        status=status,
        items=[(r, scope_summary(r.scope_size), policy_summary(r.approval_policy)) for r in reads],
        next_cursor=page.next_cursor,
        first_page=bool(cursor),
        notice_text=notice,
        errors={"_form": error} if error else {},
        managers_url=pctx.link("partner_tenant_managers"),
    )


@pages.get("/partner/invitations", name="portal.partner_invitations")
def invitation_list(
    pctx: PartnerCtxDep,
    done: str = Query("", max_length=20),
    invitation: str = Query("", max_length=36),
    cursor: str = Query("", max_length=64),
) -> Response:
    notice = _denied_notice(pctx, invitation) if done == "denied" else ""
    return _list_page(pctx, cursor, notice=notice)


@pages.get("/partner/invitations/{invitation_id}/deny", name="portal.partner_invitation_deny")
def deny_confirm(pctx: PartnerCtxDep, invitation_id: uuid.UUID) -> Response:
    """Denying cannot be undone, so it is confirmed first, behind the same checks as the
    denial: an invitation the user may not see is the same 404 as a missing one."""
    (read,) = invitations.partner_invitation_reads(pctx.session, [_visible(pctx, invitation_id)])
    return pctx.page(
        "confirm.html",
        current="invitations",
        title=f"Deny the invitation from {read.customer_name}?",
        text=f"{read.customer_name} is told that your organisation declined. Nothing is delegated, "
        "and the invitation cannot be accepted afterwards: the customer has to send a new one.",
        action=pctx.url("partner_invitation_deny", invitation_id=invitation_id),
        button="Deny",
        cancel=pctx.url("partner_invitations"),
    )


@pages.post("/partner/invitations/{invitation_id}/deny")
@audited(Category.PARTNER_INVITATION, Operation.REJECT)
def invitation_deny(pctx: PartnerCtxDep, invitation_id: uuid.UUID) -> Response:
    _audit_in_customer(pctx, invitation_id)
    try:
        invitations.deny(pctx.session, pctx.principal, invitation_id)
    except AppError as exc:
        message = sentence(exc.detail)
        raise FormRefused(exc, lambda s: _list_page(pctx.with_session(s), "", error=message)) from exc
    return redirect(pctx.url("partner_invitations") + f"?done=denied&invitation={invitation_id}")


# -- accepting ---------------------------------------------------------------------------------


#: the accept form's choosers of Primary admins: the user's own tenant's users and groups
USERS, GROUPS = "primary_admins", "primary_groups"


def _accept_page(
    pctx: PartnerCtx,
    invitation_id: uuid.UUID,
    chosen: list[uuid.UUID] | None,
    errors: dict[str, str],
    form: Any = None,
) -> Response:
    """The invitation and its Primary admins, chosen through two pickers (users, security
    groups) that search and page on the server (``form``: the one a Search or page button
    sent); the user itself is chosen at first."""
    inv = _visible(pctx, invitation_id)
    (read,) = invitations.partner_invitation_reads(pctx.session, [inv])
    tid = pctx.principal.tenant_id
    chosen = chosen if chosen is not None else [pctx.principal.user_id]
    users_q, users_page = pickers.state(form, USERS) if form is not None else ("", 0)
    groups_q, groups_page = pickers.state(form, GROUPS) if form is not None else ("", 0)
    return pctx.page(
        "partner/accept.html",
        current="invitations",
        status=422 if errors else 200,
        inv=read,
        scope=scope_summary(read.scope_size),
        policy=policy_summary(read.approval_policy),
        users=pickers.pick(pctx.session, pickers.users(tid, active=True), USERS, chosen, users_q, users_page),
        groups=pickers.pick(
            pctx.session, pickers.security_groups(tid), GROUPS, chosen, groups_q, groups_page
        ),
        errors=errors,
    )


@pages.get("/partner/invitations/{invitation_id}/accept", name="portal.partner_invitation_accept")
def accept_form(pctx: PartnerCtxDep, invitation_id: uuid.UUID) -> Response:
    return _accept_page(pctx, invitation_id, None, {})


def _members(pctx: PartnerCtx, chosen: list[uuid.UUID]) -> list[dict[str, Any]]:
    """The picker offers users and security groups in one list: an id is a group's when it
    names a security group of the user's tenant, else a user's (the service checks both)."""
    groups = (
        set(
            pctx.session.scalars(
                select(SecurityGroup.id).where(
                    SecurityGroup.tenant_id == pctx.principal.tenant_id, SecurityGroup.id.in_(chosen)
                )
            )
        )
        if chosen
        else set()
    )
    return [{"type": "group" if c in groups else "user", "id": c} for c in chosen]


@pages.post("/partner/invitations/{invitation_id}/accept")
@audited(Category.PARTNER_INVITATION, Operation.APPROVE)
def accept_confirm(pctx: PartnerCtxDep, invitation_id: uuid.UUID, form: FormDep) -> Response:
    chosen = ids(form, USERS) + ids(form, GROUPS)
    if pickers.searching(form, USERS, GROUPS):  # a chooser's Search or page: nothing is done
        return _accept_page(pctx, invitation_id, chosen, {}, form)
    _audit_in_customer(pctx, invitation_id)
    try:
        data = validate(AcceptInvitation, {"primary_admins": _members(pctx, chosen)})
        link = invitations.accept(pctx.session, pctx.principal, invitation_id, data)
    except AppError as exc:
        errors = errors_of(exc, "primary_admins" if exc.status == 422 else None)
        raise FormRefused(
            exc, lambda s: _accept_page(pctx.with_session(s), invitation_id, chosen, errors)
        ) from exc
    return redirect(pctx.url("partner_customer", link_id=link.id) + "?done=accepted")
