"""Tenant managers (partner side, SPEC §4): the partner tenant's people who review
invitations without managing rooms. Listed to reviewers, granted and taken away by the
tenant's Global admins and Pro managers — through ``partners.managers``, the API's service."""

from __future__ import annotations

import uuid

from fastapi import Query, Response

from roomwarden.audit.service import Category, Operation
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError
from roomwarden.kit.pagination import PageParams
from roomwarden.partners import managers
from roomwarden.partners.invitations import is_pro_manager
from roomwarden.partners.schemas import TenantManagerCreate
from roomwarden.portal.deps import FormDep
from roomwarden.portal.forms import errors_of, text, validate
from roomwarden.portal.partner_side import PartnerCtx, PartnerCtxDep, directory_choices
from roomwarden.portal.web import FormRefused, portal_router, redirect

pages = portal_router()
PAGE_SIZE = 100
NOTICES = {"added": "The tenant manager was added.", "revoked": "The tenant manager role was taken away."}


def _page(
    pctx: PartnerCtx, cursor: str, values: dict[str, str], errors: dict[str, str], done: str = ""
) -> Response:
    page = managers.list_managers(
        pctx.session, pctx.principal, PageParams(limit=PAGE_SIZE, cursor=cursor or None)
    )
    granter = is_pro_manager(pctx.session, pctx.principal)
    candidates = []
    if granter:
        users, _ = directory_choices(pctx.session, pctx.principal.tenant_id)
        current = {m.user_id for m in page.items}
        candidates = [(str(u.id), f"{u.display_name} ({u.upn})") for u in users if u.id not in current]
    return pctx.page(
        "partner/managers.html",
        current=None,
        status=422 if errors else 200,
        items=page.items,
        next_cursor=page.next_cursor,
        first_page=bool(cursor),
        granter=granter,
        candidates=candidates,
        values=values,
        errors=errors,
        notice_text=NOTICES.get(done, ""),
    )


@pages.get("/partner/tenant-managers", name="portal.partner_tenant_managers")
def manager_list(
    pctx: PartnerCtxDep, done: str = Query("", max_length=20), cursor: str = Query("", max_length=64)
) -> Response:
    return _page(pctx, cursor, {}, {}, done)


@pages.post("/partner/tenant-managers")
@audited(Category.TENANT_MANAGER, Operation.CREATE)
def manager_add(pctx: PartnerCtxDep, form: FormDep) -> Response:
    pctx.audit_in(pctx.principal.tenant_id)
    values = {"user_id": text(form, "user_id", 64)}
    try:
        data = validate(TenantManagerCreate, values)
        managers.add_manager(pctx.session, pctx.principal, data.user_id)
    except AppError as exc:
        errors = errors_of(exc, "user_id")
        raise FormRefused(exc, lambda s: _page(pctx.with_session(s), "", values, errors)) from exc
    return redirect(pctx.url("partner_tenant_managers") + "?done=added")


@pages.post("/partner/tenant-managers/{user_id}/revoke", name="portal.partner_tenant_manager_revoke")
@audited(Category.TENANT_MANAGER, Operation.DELETE)
def manager_revoke(pctx: PartnerCtxDep, user_id: uuid.UUID) -> Response:
    pctx.audit_in(pctx.principal.tenant_id)
    try:
        managers.remove_manager(pctx.session, pctx.principal, user_id)
    except AppError as exc:
        errors = errors_of(exc)
        raise FormRefused(exc, lambda s: _page(pctx.with_session(s), "", {}, errors)) from exc
    return redirect(pctx.url("partner_tenant_managers") + "?done=revoked")
