"""Update rings: the list with the rooms and software versions of each ring inside the user's
view, new rings and a ring's own settings (deferral, paused) — through ``rooms.rings`` — and
the release catalogue (``software.releases``).

The service operator has no portal session (it speaks to the operator API and the command
line), so the catalogue's page is here, under Update rings, for everyone signed in: the same
list as ``GET /api/v1/releases``."""

from __future__ import annotations

import uuid

from fastapi import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from roomwarden.access.permissions import Permission as P
from roomwarden.approvals.models import ApprovalRequest
from roomwarden.approvals.service import apply_or_hold
from roomwarden.audit.service import Category, Operation
from roomwarden.kit.api import audited
from roomwarden.kit.errors import AppError, Forbidden
from roomwarden.portal.deps import Ctx, FormDep, TenantCtx
from roomwarden.portal.forms import checked, errors_of, text, validate
from roomwarden.portal.partner_approvals import held
from roomwarden.portal.web import FormRefused, portal_router, redirect
from roomwarden.rooms import rings
from roomwarden.rooms.models import UpdateRing
from roomwarden.rooms.schemas import RingCreate, RingUpdate
from roomwarden.software import compliance, releases

pages = portal_router()


@pages.get("/t/{tenant_id}/update-rings", name="portal.update_rings")
def ring_list(ctx: TenantCtx, done: str = "") -> Response:
    stmt = rings.list_rings_query(ctx.access).order_by(UpdateRing.deferral_days, UpdateRing.name)
    items = list(ctx.session.scalars(stmt))
    ids = [r.id for r in items]
    return ctx.page(
        "rings/list.html",
        current="update_rings",
        items=items,
        counts=rings.room_counts(ctx.session, ctx.access, ids),
        software=compliance.ring_software(ctx.session, ctx.access, ids),
        done=done,
        may_create=ctx.access.tenant_wide(P.RINGS_CREATE) and ctx.access.has(P.RINGS_VIEW),
        may_edit=ctx.access.tenant_wide(P.RINGS_MODIFY),
    )


def _form(ctx: Ctx, ring: UpdateRing | None, values: dict[str, str], errors: dict[str, str]) -> Response:
    return ctx.page(
        "rings/form.html",
        current="update_rings",
        status=422 if errors else 200,
        ring=ring,
        values=values,
        errors=errors,
    )


@pages.get("/t/{tenant_id}/update-rings/new", name="portal.update_ring_new")
def ring_new(ctx: TenantCtx) -> Response:
    ctx.access.require_tenant_wide(P.RINGS_CREATE, "update ring", partner_visible=True)
    if not ctx.access.has(P.RINGS_VIEW):  # the service's rule: naming a ring needs to see them all
        raise Forbidden("creating an update ring needs rings.view (ring names are unique in the tenant)")
    return _form(ctx, None, {"deferral_days": "0", "paused": ""}, {})


def _values(form: FormData) -> dict[str, str]:
    return {
        "name": text(form, "name"),
        "deferral_days": text(form, "deferral_days").strip(),
        "paused": "on" if checked(form, "paused") else "",
    }


def _model(values: dict[str, str]) -> dict[str, object]:
    return {**values, "paused": values["paused"] == "on"}


def _ring_errors(exc: AppError) -> dict[str, str]:
    return errors_of(exc, "name" if exc.status == 409 else None)


@pages.post("/t/{tenant_id}/update-rings/new")
@audited(Category.UPDATE_RING, Operation.CREATE)
def ring_create(ctx: TenantCtx, form: FormDep) -> Response:
    values = _values(form)
    try:
        rings.create_ring(ctx.session, ctx.access, validate(RingCreate, _model(values)))
    except AppError as exc:
        errors = _ring_errors(exc)
        raise FormRefused(exc, lambda s: _form(ctx.with_session(s), None, values, errors)) from exc
    return redirect(ctx.url("update_rings") + "?done=created")


@pages.get("/t/{tenant_id}/update-rings/{ring_id}/edit", name="portal.update_ring_edit")
def ring_edit(ctx: TenantCtx, ring_id: uuid.UUID) -> Response:
    ring = rings.visible_ring(ctx.session, ctx.access, ring_id)
    ctx.access.require_tenant_wide(P.RINGS_MODIFY, "update ring")
    values = {"name": ring.name, "deferral_days": str(ring.deferral_days)}
    return _form(ctx, ring, {**values, "paused": "on" if ring.paused else ""}, {})


@pages.post("/t/{tenant_id}/update-rings/{ring_id}/edit")
@audited(Category.UPDATE_RING, Operation.UPDATE)
def ring_update(ctx: TenantCtx, ring_id: uuid.UUID, form: FormDep) -> Response:
    values = _values(form)
    try:
        change = validate(RingUpdate, _model(values))
        done = apply_or_hold(ctx.session, ctx.access, "update_ring.update", change, ring_id=ring_id)
    except AppError as exc:
        errors = _ring_errors(exc)

        def again(s: Session) -> Response:
            c = ctx.with_session(s)
            return _form(c, rings.visible_ring(s, c.access, ring_id), values, errors)

        raise FormRefused(exc, again) from exc
    if isinstance(done, ApprovalRequest):
        return held(ctx.request, done)
    return redirect(ctx.url("update_rings") + "?done=saved")


@pages.get("/t/{tenant_id}/update-rings/releases", name="portal.releases")
def release_list(ctx: TenantCtx) -> Response:
    """The release catalogue, by component and newest version first (everyone signed in)."""
    return ctx.page("rings/releases.html", current="update_rings", items=releases.catalogue(ctx.session))
