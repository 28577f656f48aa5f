"""What a partner-side page (``/partner/...``) receives: the request's session and the
signed-in user, whose own tenant is the partner. Partner-side pages call the partner
services with the user's ``Principal`` exactly as the API's ``/api/v1/partner/...`` routes
do; each customer's part of a page is that customer's own rule (``resolve_access``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.routing import NoMatchFound

from roomwarden.identity.models import SecurityGroup, User
from roomwarden.identity.principal import Principal
from roomwarden.identity.sessions import ActiveSession
from roomwarden.kit.api import SessionDep
from roomwarden.portal.urls import path_for
from roomwarden.portal.web import render, session_of


@dataclass(frozen=True)
class PartnerCtx:
    request: Request
    session: Session
    active: ActiveSession

    @property
    def principal(self) -> Principal:
        return self.active.principal

    def url(self, name: str, **params: Any) -> str:
        """The address of the portal page ``name`` (route ``portal.<name>``)."""
        return path_for(self.request.app, f"portal.{name}", **{k: str(v) for k, v in params.items()})

    def link(self, name: str, **params: Any) -> str | None:
        try:
            return self.url(name, **params)
        except NoMatchFound:
            return None

    def page(self, template: str, *, current: str | None, status: int = 200, **context: Any) -> HTMLResponse:
        """A page in the layout of the user's home tenant (the Tenant control shows it)."""
        return render(
            self.request,
            self.session,
            template,
            status=status,
            access=None,
            current=current,
            pctx=self,
            **context,
        )

    def with_session(self, session: Session) -> PartnerCtx:
        return replace(self, session=session)

    def audit_in(self, tenant_id: uuid.UUID | None) -> None:
        """A refused attempt is written to the log of the customer it concerns (as the
        partner API's routes do), once the object is known to concern the user's tenant."""
        self.request.state.audit_tenant_id = tenant_id


def partner_ctx(request: Request, session: SessionDep) -> PartnerCtx:
    return PartnerCtx(request=request, session=session, active=session_of(request))


PartnerCtxDep = Annotated[PartnerCtx, Depends(partner_ctx)]


def directory_choices(session: Session, tenant_id: uuid.UUID) -> tuple[list[User], list[SecurityGroup]]:
    """The active users and the security groups of the user's own tenant, for pickers of
    its members (the services check every chosen id again)."""
    users = list(
        session.scalars(
            select(User)
            .where(User.tenant_id == tenant_id, User.is_active)
            .order_by(User.display_name, User.upn)
        )
    )
    groups = list(
        session.scalars(
            select(SecurityGroup).where(SecurityGroup.tenant_id == tenant_id).order_by(SecurityGroup.name)
        )
    )
    return users, groups
