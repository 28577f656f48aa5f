"""Partners (SPEC §4, §9), the customer's side: the partner links and invitations; the
add-partner wizard (domain, expiry, change control, rooms, terms → review → send); a
partner's page (state, change-control policy, delegated scope, the partner's roles and
Primary admins, effective access on a room) with off-boarding after a confirmation.

Every page calls ``partners.invitations`` and ``partners.links`` with the page's ``Access``,
the services behind ``/api/v1/tenants/{t}/partner-invitations`` and ``.../partners``, whose
``partners.manage`` over all rooms gates all of it; the effective-access panel is
``access.explain``, behind ``.../access/explain``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Query, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.access import service as roles_service
from roomwarden.access.models import Role
from roomwarden.access.permissions import Permission as P
from roomwarden.access.schemas import Explanation
from roomwarden.audit.service import Category, Operation
from roomwarden.identity.models import SecurityGroupMember
from roomwarden.kit import conditional
from roomwarden.kit.api import audited, not_audited
from roomwarden.kit.errors import AppError, PreconditionFailed
from roomwarden.partners import invitations, links
from roomwarden.partners.models import PartnerInvitation, PartnerLink
from roomwarden.partners.schemas import ELEVATION_ACTIVATE, EVENTS, InvitationCreate, LinkRead, LinkUpdate
from roomwarden.portal import pickers
from roomwarden.portal.approvals import EVENT_NAMES
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.effective_access import LIMIT as EXPLAIN_LIMIT
from roomwarden.portal.effective_access import explanations
from roomwarden.portal.elevation import running_of_link
from roomwarden.portal.forms import FORM, FieldErrors, checked, errors_of, ids, text, validate
from roomwarden.portal.web import FormRefused, parse_uuid, portal_router, redirect
from roomwarden.rooms.groups import list_groups_query
from roomwarden.rooms.models import RoomGroup

pages = portal_router()
#: invitations and links shown on the list (newest first); older ones stay in the API
LIST_LIMIT = 200
MODES = (("auto", "Automatic"), ("manual", "Manual approval"))
STATUS_NAMES = {
    "pending": "Pending",
    "accepted": "Accepted",
    "denied": "Denied",
    "revoked": "Revoked",
    "expired": "Expired",
    "active": "Active",
    "ended": "Removed",
}
TERMS = (
    "The partner's users will see and manage the delegated rooms with the permissions of the roles "
    "the partner gives them, within the Partner admin column; their actions are recorded in this "
    "tenant's audit log. You can narrow the delegation, change the change control or remove the "
    "partner at any time."
)


# -- shared pieces --------------------------------------------------------------------------------


def _group_choices(ctx: Ctx) -> list[RoomGroup]:
    """The room groups the user can see: a scope picker names nothing else (rooms are chosen
    through ``portal.pickers``, a page at a time)."""
    return list(ctx.session.scalars(list_groups_query(ctx.access).order_by(RoomGroup.name, RoomGroup.id)))


#: every change-control event the forms offer, in the SPEC's order (§5, then §4's activation)
POLICY_EVENTS = (*EVENTS, ELEVATION_ACTIVATE)


def _policy_values(form: Any, current: dict[str, str] | None = None) -> dict[str, str]:
    """The form's modes; an event the form did not send keeps ``current`` (activation's
    default is ``manual``, every other's ``auto``)."""
    current = current or {}
    values = {}
    for event in POLICY_EVENTS:
        sent = text(form, f"policy.{event}", 10)
        if sent in ("auto", "manual"):
            values[event] = sent
        elif event == ELEVATION_ACTIVATE:
            values[event] = current.get(event, "manual")
        else:
            values[event] = "auto"
    return values


def _scope_values(form: Any) -> dict[str, Any]:
    q, page = pickers.search_state(form)
    groups_q, groups_page = pickers.state(form, "room_groups")
    return {
        "room_groups_q": groups_q,
        "room_groups_page": groups_page,
        "scope_all": text(form, "scope", 10) == "all",
        "rooms": list(dict.fromkeys(ids(form, "rooms"))),
        "room_groups": list(dict.fromkeys(ids(form, "room_groups"))),
        "rooms_q": q,
        "rooms_page": page,
    }


def _scope_body(values: dict[str, Any]) -> dict[str, Any]:
    if values["scope_all"]:
        return {"all": True}
    return {"rooms": values["rooms"], "room_groups": values["room_groups"]}


def _duration(value: str) -> int | str | None:
    """An optional number of days: empty is none (a link without an end)."""
    return _whole_number(value) if value.strip() else None


def _whole_number(value: str) -> int | str:
    value = value.strip()
    return int(value) if value.isdigit() and len(value) < 6 else value


def _field_of(exc: AppError, default: str | None = None) -> str | None:
    detail = exc.detail.lower()
    if "scope" in detail or "room" in detail:
        return "scope"
    return default


def _policy_rows(policy: dict[str, str]) -> list[tuple[str, str, str]]:
    """``(event, description, mode)`` in the SPEC's order."""
    default = {ELEVATION_ACTIVATE: "manual"}
    return [(e, EVENT_NAMES[e], policy.get(e, default.get(e, "auto"))) for e in POLICY_EVENTS]


def _version(form: Any) -> int | None:
    """The link's version a partner's page was drawn at (its forms' hidden field)."""
    value = text(form, "version", 12).strip()
    return int(value) if value.isdigit() else None


#: a form drawn from an older version of the link: nothing is saved, the user reloads
STALE = {
    "scope": "Someone else changed this partner's delegated rooms or change control since you opened "
    "this page, so nothing was saved. Reload the page to see the delegation as it is now, then "
    "make your change again.",
    "policy": "Someone else changed this partner's change control or delegated rooms since you opened "
    "this page, so nothing was saved. Reload the page to see the change control as it is now, "
    "then make your change again.",
}


def _scope_names(ctx: Ctx, room_ids: list[uuid.UUID], groups: list[RoomGroup]) -> dict[uuid.UUID, str]:
    """Names of the given rooms and of the groups, for those the user may see."""
    return pickers.names_of(ctx.session, ctx.access, room_ids) | {g.id: g.name for g in groups}


# -- the list -------------------------------------------------------------------------------------


@pages.get("/t/{tenant_id}/partners", name="portal.partners")
def partner_list(ctx: TenantCtx, done: str = "") -> Response:
    link_rows = ctx.session.scalars(
        links.customer_links_query(ctx.access)
        .order_by(PartnerLink.status, PartnerLink.created_at.desc(), PartnerLink.id)
        .limit(LIST_LIMIT)
    ).all()
    invitation_rows = ctx.session.scalars(
        invitations.invitations_query(ctx.access)
        .order_by(PartnerInvitation.created_at.desc(), PartnerInvitation.id)
        .limit(LIST_LIMIT)
    ).all()
    return ctx.page(
        "partners/list.html",
        current="partners",
        links=links.link_reads(ctx.session, link_rows),
        invitations=invitations.invitation_reads(ctx.session, list(invitation_rows)),
        statuses=STATUS_NAMES,
        done=done,
    )


# -- the add-partner wizard ------------------------------------------------------------------------


def _wizard_values(form: Any) -> dict[str, Any]:
    return {
        "partner_domain": text(form, "partner_domain", 253).strip(),
        "expires_in_days": text(form, "expires_in_days", 10).strip(),
        "link_duration_days": text(form, "link_duration_days", 10).strip(),
        "policy": _policy_values(form),
        **_scope_values(form),
        "terms_accepted": checked(form, "terms_accepted"),
    }


def _invitation_body(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "partner_domain": values["partner_domain"],
        "expires_in_days": _whole_number(values["expires_in_days"]),
        "link_duration_days": _duration(values["link_duration_days"]),
        "approval_policy": values["policy"],
        "scope": _scope_body(values),
        "terms_accepted": values["terms_accepted"],
    }


def _wizard_errors(exc: AppError) -> dict[str, str]:
    if isinstance(exc, FieldErrors):
        errors = dict(exc.fields)
        if "expires_in_days" in errors:
            errors["expires_in_days"] = "Enter a whole number of days from 1 to 30."
        if "link_duration_days" in errors:
            errors["link_duration_days"] = "Enter a whole number of days from 1 to 730, or leave it empty."
        if "terms_accepted" in errors:
            errors["terms_accepted"] = "Agree to the terms to send the invitation."
        if "partner_domain" in errors:
            errors["partner_domain"] = "Enter the partner's domain name, for example contoso.com."
        return errors
    if exc.status == 429:
        return errors_of(exc)
    return errors_of(exc, _field_of(exc, "partner_domain"))


def _room_label(ctx: Ctx, room: str) -> str:
    """The Room field shows a room chosen by id (a link) by its name."""
    room_id = parse_uuid(room)
    return pickers.names_of(ctx.session, ctx.access, [room_id]).get(room_id, room) if room_id else room


def _picker(ctx: Ctx, values: dict[str, Any]) -> pickers.RoomPicker:
    return pickers.room_picker(
        ctx.session,
        ctx.access,
        chosen=values["rooms"],
        group_ids=values["room_groups"],
        all_rooms=values["scope_all"],
        q=values.get("rooms_q", ""),
        page=values.get("rooms_page", 0),
    )


def _group_picker(ctx: Ctx, values: dict[str, Any]) -> pickers.Picker:
    """The Delegated room groups: the groups the user can see, searched and paged."""
    q, page = values.get("room_groups_q", ""), values.get("room_groups_page", 0)
    source = pickers.visible_room_groups(ctx.access)
    return pickers.pick(ctx.session, source, "room_groups", values["room_groups"], q, page)


def _wizard(ctx: Ctx, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    return ctx.page(
        "partners/wizard.html",
        current="partners",
        status=status if not errors or status != 200 else 422,
        values=values,
        errors=errors,
        policy=_policy_rows(values["policy"]),
        modes=MODES,
        picker=_picker(ctx, values),
        room_group_choices=_group_picker(ctx, values),
        terms=TERMS,
    )


@pages.get("/t/{tenant_id}/partners/new", name="portal.partner_new")
def partner_new(ctx: TenantCtx) -> Response:
    invitations.invitations_query(ctx.access)  # partners.manage over all rooms, as the API's
    values = {
        "partner_domain": "",
        "expires_in_days": "7",
        "link_duration_days": "",
        "policy": dict.fromkeys(EVENTS, "auto") | {ELEVATION_ACTIVATE: "manual"},
        "scope_all": False,
        "rooms": [],
        "room_groups": [],
        "terms_accepted": False,
    }
    return _wizard(ctx, values, {})


@pages.post("/t/{tenant_id}/partners/new/review", name="portal.partner_review")
@not_audited("changes nothing: it shows the invitation before it is sent")
def partner_review(ctx: TenantCtx, form: FormDep) -> Response:
    """The review step: the API's ``invitations.preview`` — everything that will be sent,
    nothing stored, and no word on whether or which tenant owns the domain."""
    values = _wizard_values(form)
    if form.get("change") or pickers.searching(form, "rooms", "room_groups"):
        invitations.invitations_query(ctx.access)
        return _wizard(ctx, values, {})
    try:
        data = validate(InvitationCreate, _invitation_body(values))
        read = invitations.preview(ctx.session, ctx.access, data)
    except AppError as exc:
        if exc.status in (403, 404):
            raise
        return _wizard(ctx, values, _wizard_errors(exc), status=exc.status)
    names = _scope_names(ctx, read.scope.rooms, _group_choices(ctx))
    return ctx.page(
        "partners/review.html",
        current="partners",
        read=read,
        values=values,
        policy=_policy_rows(read.approval_policy),
        modes=dict(MODES),
        room_names=[names.get(r, str(r)) for r in read.scope.rooms],
        group_names=[names.get(g, str(g)) for g in read.scope.room_groups],
        terms=TERMS,
    )


@pages.post("/t/{tenant_id}/partners/new")
@audited(Category.PARTNER_INVITATION, Operation.CREATE)
def partner_send(ctx: TenantCtx, form: FormDep) -> Response:
    values = _wizard_values(form)
    try:
        data = validate(InvitationCreate, _invitation_body(values))
        invitations.create_invitation(ctx.session, ctx.access, data, ctx.request.app.state.settings)
    except AppError as exc:
        errors = _wizard_errors(exc)
        raise FormRefused(exc, lambda s: _wizard(ctx.with_session(s), values, errors)) from exc
    return redirect(ctx.url("partners") + "?done=invited")


# -- revoking an invitation ------------------------------------------------------------------------


@pages.get(
    "/t/{tenant_id}/partner-invitations/{invitation_id}/revoke", name="portal.partner_invitation_revoke"
)
def invitation_revoke_confirm(ctx: TenantCtx, invitation_id: uuid.UUID) -> Response:
    inv = invitations.customer_invitation(ctx.session, ctx.access, invitation_id)
    (read,) = invitations.invitation_reads(ctx.session, [inv])
    return ctx.page(
        "confirm.html",
        current="partners",
        title=f"Revoke the invitation to {read.partner_name}?",
        text=f"The invitation sent to {read.partner_domain} can then no longer be accepted. "
        "To delegate rooms to this partner later, send a new invitation.",
        action=ctx.url("partner_invitation_revoke", invitation_id=str(inv.id)),
        button="Revoke invitation",
        cancel=ctx.url("partners"),
    )


@pages.post("/t/{tenant_id}/partner-invitations/{invitation_id}/revoke")
@audited(Category.PARTNER_INVITATION, Operation.DELETE)
def invitation_revoke(ctx: TenantCtx, invitation_id: uuid.UUID) -> Response:
    invitations.revoke(ctx.session, ctx.access, invitation_id)
    return redirect(ctx.url("partners") + "?done=revoked")


# -- a partner's page ------------------------------------------------------------------------------


def _partner_users(ctx: Ctx, assignments: list[Any]) -> list[uuid.UUID]:
    """The partner users named by the link's partner roles, directly or through a group."""
    users = [m.id for a in assignments for m in a.members if m.type == "user"]
    groups = [m.id for a in assignments for m in a.members if m.type == "group"]
    if groups:
        users += ctx.session.scalars(
            select(SecurityGroupMember.user_id).where(SecurityGroupMember.group_id.in_(groups))
        ).all()
    return list(dict.fromkeys(users))


def may_read_roles(ctx: Ctx) -> bool:
    """The partner's roles and the effective-access panel need what the API's roles and
    ``access/explain`` need: ``roles.view`` over all rooms."""
    try:
        roles_service.require_roles(ctx.access, P.ROLES_VIEW)
    except AppError:
        return False
    return True


def _partner_roles(ctx: Ctx, link: LinkRead) -> list[tuple[Any, list[Any]]]:
    roles = list(
        ctx.session.scalars(
            roles_service.list_roles_query(ctx.access)
            .where(Role.partner_link_id == link.id)
            .order_by(Role.kind, Role.name, Role.id)
        )
    )
    reads = roles_service.role_reads(ctx.session, roles)
    out = []
    for role, read in zip(roles, reads, strict=True):
        assignments = list(ctx.session.scalars(roles_service.assignments_query(role)))
        out.append((read, roles_service.assignment_reads(ctx.session, assignments)))
    return out


def _partner_page(
    ctx: Ctx,
    link_id: uuid.UUID,
    *,
    room: str = "",
    done: str = "",
    policy_values: dict[str, Any] | None = None,
    scope_values: dict[str, Any] | None = None,
    expiry_values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    stale: bool = False,
) -> Response:
    (link,) = links.link_reads(ctx.session, [links.customer_link(ctx.session, ctx.access, link_id)])
    groups = _group_choices(ctx)
    names = _scope_names(ctx, link.scope.rooms, groups)
    if policy_values is None:
        policy_values = {
            "policy": link.approval_policy,
            "approval_expires_in_days": str(link.approval_expires_in_days),
            "version": link.version,
        }
    if scope_values is None:
        scope_values = {
            "scope_all": link.scope.all,
            "rooms": link.scope.rooms,
            "room_groups": link.scope.room_groups,
            "version": link.version,
        }
    roles_visible = may_read_roles(ctx)
    partner_roles = _partner_roles(ctx, link) if roles_visible and link.status == "active" else []
    primary = next((a for r, a in partner_roles if r.kind == "partner_builtin"), [])
    explained: list[Explanation] | None = None
    room_errors: dict[str, str] = {}
    if roles_visible and link.status == "active":
        users = _partner_users(ctx, [a for _, assignments in partner_roles for a in assignments])
        explained, room_errors = explanations(ctx, users, room)
    errors = errors or {}
    return ctx.page(
        "partners/detail.html",
        current="partners",
        status=422 if errors else 200,
        link=link,
        stale=stale,
        statuses=STATUS_NAMES,
        done=done,
        errors=errors,
        policy=_policy_rows(policy_values["policy"]),
        policy_values=policy_values,
        modes=MODES,
        scope_values=scope_values,
        expiry_values=expiry_values
        or {"expires_at": f"{link.expires_at:%Y-%m-%dT%H:%M}" if link.expires_at else ""},
        picker=_picker(ctx, scope_values),
        room_group_choices=_group_picker(ctx, scope_values),
        scope_rooms=[names[r] for r in link.scope.rooms if r in names],
        scope_groups=[names[g] for g in link.scope.room_groups if g in names],
        hidden_in_scope=sum(1 for x in (*link.scope.rooms, *link.scope.room_groups) if x not in names),
        roles_visible=roles_visible,
        partner_roles=partner_roles,
        primary_admins=[m for a in primary for m in a.members],
        room_values={"room": _room_label(ctx, room)},
        room_errors=room_errors,
        explained=explained,
        explain_limit=EXPLAIN_LIMIT,
        activations=running_of_link(ctx, link.id) if link.status == "active" else [],
    )


@pages.get("/t/{tenant_id}/partners/{link_id}", name="portal.partner")
def partner_page(
    ctx: TenantCtx, link_id: uuid.UUID, done: str = "", room: str = Query("", max_length=64)
) -> Response:
    return _partner_page(ctx, link_id, room=room, done=done)


@pages.post("/t/{tenant_id}/partners/{link_id}/policy", name="portal.partner_policy")
@audited(Category.PARTNER, Operation.UPDATE)
def partner_policy(ctx: TenantCtx, link_id: uuid.UUID, form: FormDep) -> Response:
    try:
        current = links.customer_link(ctx.session, ctx.access, link_id).approval_policy
    except AppError:
        current = {}
    values: dict[str, Any] = {
        "policy": _policy_values(form, current),
        "approval_expires_in_days": text(form, "approval_expires_in_days", 10).strip(),
        "version": _version(form),
    }
    try:
        body = {
            "approval_policy": values["policy"],
            "approval_expires_in_days": _whole_number(values["approval_expires_in_days"]),
        }
        data = validate(LinkUpdate, body)
        conditional.expect_version(ctx.session, values["version"])
        links.update_link(ctx.session, ctx.access, link_id, data)
    except AppError as exc:
        stale = isinstance(exc, PreconditionFailed)
        errors = errors_of(exc)
        if stale:
            errors = {"policy": STALE["policy"]}
        elif "approval_expires_in_days" in errors:
            errors["approval_expires_in_days"] = "Enter a whole number of days from 1 to 90."
        elif not isinstance(exc, FieldErrors):
            errors = {"policy": errors.get(FORM, exc.detail)}

        raise refused(ctx, link_id, exc, errors, policy_values=values) from exc
    return redirect(ctx.url("partner", link_id=str(link_id)) + "?done=policy")


@pages.post("/t/{tenant_id}/partners/{link_id}/scope", name="portal.partner_scope")
@audited(Category.PARTNER, Operation.UPDATE)
def partner_scope(ctx: TenantCtx, link_id: uuid.UUID, form: FormDep) -> Response:
    """Replaces the link's scope through the API's ``update_link``. Rooms and groups the user
    cannot see are not offered, so they stay as they are. The form carries the link's version
    (as If-Match): a replacement drawn from an older scope would undo someone else's change,
    so it is refused (412) with a word to reload."""
    values = {**_scope_values(form), "version": _version(form)}
    if pickers.searching(form, "rooms", "room_groups"):  # a Search or a page of results: nothing saved
        return _partner_page(ctx, link_id, scope_values=values)
    try:
        (link,) = links.link_reads(ctx.session, [links.customer_link(ctx.session, ctx.access, link_id)])
        offered = pickers.visible_ids(ctx.session, ctx.access, link.scope.rooms) | {
            g.id for g in _group_choices(ctx)
        }
        body = _scope_body(values)
        if not values["scope_all"]:
            body["rooms"] = values["rooms"] + [r for r in link.scope.rooms if r not in offered]
            kept = [g for g in link.scope.room_groups if g not in offered]
            body["room_groups"] = values["room_groups"] + kept
        data = validate(LinkUpdate, {"scope": body})
        conditional.expect_version(ctx.session, values["version"])
        links.update_link(ctx.session, ctx.access, link_id, data)
    except AppError as exc:
        stale = isinstance(exc, PreconditionFailed)
        errors = errors_of(exc, "scope")
        errors = {"scope": next(iter(errors.values()))} if FORM in errors or not errors else errors
        if stale:
            errors = {"scope": STALE["scope"]}

        raise refused(ctx, link_id, exc, errors, scope_values=values) from exc
    return redirect(ctx.url("partner", link_id=str(link_id)) + "?done=scope")


def refused(
    ctx: TenantCtx, link_id: uuid.UUID, exc: AppError, errors: dict[str, str], **values: Any
) -> FormRefused:
    """A refused form of the partner's page: the page again, in a fresh session, with what
    was typed, the messages and, for a stale form, the word to reload."""
    stale = isinstance(exc, PreconditionFailed)

    def again(s: Session) -> Response:
        return _partner_page(ctx.with_session(s), link_id, errors=errors, stale=stale, **values)

    return FormRefused(exc, again)


@pages.get("/t/{tenant_id}/partners/{link_id}/remove", name="portal.partner_remove")
def partner_remove_confirm(ctx: TenantCtx, link_id: uuid.UUID) -> Response:
    (link,) = links.link_reads(ctx.session, [links.customer_link(ctx.session, ctx.access, link_id)])
    return ctx.page(
        "confirm.html",
        current="partners",
        title=f"Remove the partner {link.partner_name}?",
        text=f"From the next request on, no user of {link.partner_name} can see or do anything in this "
        "tenant: the partner's roles end with the link, and its pending approval requests are "
        "cancelled. The audit log keeps every record of the partner's activity.",
        action=ctx.url("partner_remove", link_id=str(link.id)),
        button="Remove",
        cancel=ctx.url("partner", link_id=str(link.id)),
    )


@pages.post("/t/{tenant_id}/partners/{link_id}/remove")
@audited(Category.PARTNER, Operation.DELETE)
def partner_remove(ctx: TenantCtx, link_id: uuid.UUID) -> Response:
    links.offboard_by_customer(ctx.session, ctx.access, link_id, True)
    return redirect(ctx.url("partners") + "?done=removed")
