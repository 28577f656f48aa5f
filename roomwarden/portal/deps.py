"""What a tenant page receives: the request's session, the signed-in user and its ``Access``
in the path's tenant — resolved by the same function as the API's, so a page sees exactly
what the API would answer (a tenant the user cannot act in is the same 404)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.routing import NoMatchFound

from roomwarden.access.deps import access_in
from roomwarden.access.permissions import Permission
from roomwarden.access.resolver import Access
from roomwarden.identity.sessions import ActiveSession
from roomwarden.kit.api import SessionDep
from roomwarden.portal.urls import path_for
from roomwarden.portal.web import form_data, render, session_of


@dataclass(frozen=True)
class Ctx:
    request: Request
    session: Session
    access: Access
    active: ActiveSession

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.access.tenant_id

    def url(self, name: str, **params: Any) -> str:
        """The address of the portal page ``name`` (route ``portal.<name>``) in this tenant."""
        return path_for(self.request.app, f"portal.{name}", tenant_id=str(self.tenant_id), **params)

    def link(self, name: str, **params: Any) -> str | None:
        """The address of a page, or ``None`` while no module serves it."""
        try:
            return self.url(name, **params)
        except NoMatchFound:
            return None

    def may(self, perm: Permission) -> bool:
        return self.access.has(perm)

    def page(self, template: str, *, current: str | None, status: int = 200, **context: Any) -> HTMLResponse:
        return render(
            self.request,
            self.session,
            template,
            status=status,
            access=self.access,
            current=current,
            ctx=self,
            **context,
        )

    def with_session(self, session: Session) -> Ctx:
        """The same user and access over another database session (a refused form is drawn
        again after its transaction was rolled back)."""
        return replace(self, session=session)


def tenant_ctx(
    request: Request,
    tenant_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
) -> Ctx:
    active = session_of(request)
    access = access_in(request, tenant_id, active.principal, session)
    return Ctx(request=request, session=session, access=access, active=active)


TenantCtx = Annotated[Ctx, Depends(tenant_ctx)]
FormDep = Annotated[FormData, Depends(form_data)]
