from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Form, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.access.deps import GlobalAdminDep
from roomwarden.access.resolver import linked_customers
from roomwarden.audit.service import Category, Operation
from roomwarden.identity import service, signin, totp
from roomwarden.identity.deps import PrincipalDep
from roomwarden.identity.models import SecurityGroup, User
from roomwarden.identity.schemas import (
    GroupCreate,
    GroupRead,
    GroupUpdate,
    MeRead,
    OtpIn,
    TenantRef,
    TokenResponse,
    TotpEnrolment,
    UserCreate,
    UserRead,
    UserUpdate,
)
from roomwarden.identity.tokens import issue_token
from roomwarden.kit.api import SessionDep, audited, read_only
from roomwarden.kit.pagination import Page, PageDep, Search, paginate
from roomwarden.kit.routing import router
from roomwarden.tenants.models import Tenant

#: user names are printable: a control character (a NUL byte, say) is refused before counting
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]+$"

auth = router(prefix="/api/v1", tags=["identity"])
directory = router(prefix="/api/v1/tenants/{tenant_id}", tags=["directory"])


@auth.post(
    "/auth/token",
    response_model=TokenResponse,
    responses={
        429: {"description": "Too many failed sign-ins; see Retry-After"},
        503: {"description": "The service is overloaded; see Retry-After"},
    },
)
@read_only
async def sign_in(
    request: Request,
    username: Annotated[str, Form(min_length=1, max_length=320, pattern=NO_CONTROL_CHARACTERS)],
    password: Annotated[str, Form(max_length=256)],
    otp: Annotated[str | None, Form(max_length=10)] = None,
) -> TokenResponse:
    """OAuth2 password grant for local accounts; ``otp`` is the one-time code of an account
    with a second factor. Failures are throttled per account and per client address
    (docs/operations.md, "Sign-in throttling")."""
    state = request.app.state
    settings = state.settings
    outcome = await signin.sign_in(
        state.db,
        settings,
        state.secret_box,
        state.password_hashing,
        username=username,
        password=password,
        otp=otp,
        client_host=request.client.host if request.client else None,
    )
    token = issue_token(
        settings, user_id=outcome.user_id, tenant_id=outcome.tenant_id, mfa=outcome.mfa_step is not None
    )
    return TokenResponse(access_token=token, expires_in=settings.token_ttl_seconds)


@auth.post("/me/totp", response_model=TotpEnrolment, tags=["identity"])
@audited(Category.USER, Operation.UPDATE)
def begin_totp(request: Request, session: SessionDep, principal: PrincipalDep) -> TotpEnrolment:
    """Start enrolling a TOTP authenticator: returns the secret and an otpauth:// URI. The
    factor is required only after ``/me/totp/confirm``."""
    request.state.audit_tenant_id = principal.tenant_id
    secret, uri = totp.begin(session, principal, request.app.state.secret_box)
    return TotpEnrolment(secret=secret, otpauth_uri=uri)


@auth.post("/me/totp/confirm", status_code=204, tags=["identity"])
@audited(Category.USER, Operation.UPDATE)
def confirm_totp(request: Request, session: SessionDep, principal: PrincipalDep, body: OtpIn) -> None:
    request.state.audit_tenant_id = principal.tenant_id
    totp.confirm(session, principal, request.app.state.secret_box, body.otp)


@auth.post("/me/totp/disable", status_code=204, tags=["identity"])
@audited(Category.USER, Operation.UPDATE)
def disable_totp(request: Request, session: SessionDep, principal: PrincipalDep, body: OtpIn) -> None:
    request.state.audit_tenant_id = principal.tenant_id
    totp.disable(session, principal, request.app.state.secret_box, body.otp)


@auth.get("/me", response_model=MeRead)
def me(session: SessionDep, principal: PrincipalDep) -> MeRead:
    user = service.principal_user(session, principal)
    home = session.get_one(Tenant, principal.tenant_id)
    home_ref = TenantRef(id=home.id, name=home.name, relationship="home")
    customers = [
        TenantRef(id=tenant_id, name=name, relationship="customer", partner_link_id=link_id)
        for link_id, tenant_id, name in linked_customers(session, principal)
    ]
    return MeRead(user=UserRead.model_validate(user), tenant=home_ref, tenants=[home_ref, *customers])


# -- users -----------------------------------------------------------------------------------


@directory.get("/users", response_model=Page[UserRead])
def list_users(
    session: SessionDep,
    access: GlobalAdminDep,
    pages: PageDep,
    q: Search = None,
) -> Page[UserRead]:
    stmt = service.list_users_query(access, q)
    return paginate(session, stmt, User.id, pages, UserRead.model_validate)


@directory.post("/users", response_model=UserRead, status_code=201)
@audited(Category.USER, Operation.CREATE)
def create_user(session: SessionDep, access: GlobalAdminDep, body: UserCreate) -> UserRead:
    return UserRead.model_validate(service.create_user(session, access, body))


@directory.get("/users/{user_id}", response_model=UserRead)
def get_user(session: SessionDep, access: GlobalAdminDep, user_id: uuid.UUID) -> UserRead:
    return UserRead.model_validate(service.get_user(session, access, user_id))


@directory.patch("/users/{user_id}", response_model=UserRead)
@audited(Category.USER, Operation.UPDATE)
def update_user(
    session: SessionDep, access: GlobalAdminDep, user_id: uuid.UUID, body: UserUpdate
) -> UserRead:
    return UserRead.model_validate(service.update_user(session, access, user_id, body))


@directory.delete("/users/{user_id}", status_code=204)
@audited(Category.USER, Operation.DELETE)
def delete_user(session: SessionDep, access: GlobalAdminDep, user_id: uuid.UUID) -> Response:
    service.delete_user(session, access, user_id)
    return Response(status_code=204)


# -- security groups ---------------------------------------------------------------------------


def _group_read(session: Session, group: SecurityGroup) -> GroupRead:
    return GroupRead(
        id=group.id,
        tenant_id=group.tenant_id,
        name=group.name,
        created_at=group.created_at,
        member_ids=service.member_ids(session, group.id),
    )


@directory.get("/security-groups", response_model=Page[GroupRead])
def list_groups(session: SessionDep, access: GlobalAdminDep, pages: PageDep) -> Page[GroupRead]:
    stmt = select(SecurityGroup).where(SecurityGroup.tenant_id == access.tenant_id)
    page = paginate(session, stmt, SecurityGroup.id, pages, lambda g: g)
    members = service.members_by_group(session, [g.id for g in page.items])
    items = [
        GroupRead(
            id=g.id, tenant_id=g.tenant_id, name=g.name, created_at=g.created_at, member_ids=members[g.id]
        )
        for g in page.items
    ]
    return Page[GroupRead](items=items, next_cursor=page.next_cursor)


@directory.post("/security-groups", response_model=GroupRead, status_code=201)
@audited(Category.SECURITY_GROUP, Operation.CREATE)
def create_group(session: SessionDep, access: GlobalAdminDep, body: GroupCreate) -> GroupRead:
    return _group_read(session, service.create_group(session, access, body))


@directory.get("/security-groups/{group_id}", response_model=GroupRead)
def get_group(session: SessionDep, access: GlobalAdminDep, group_id: uuid.UUID) -> GroupRead:
    return _group_read(session, service.get_group(session, access, group_id))


@directory.patch("/security-groups/{group_id}", response_model=GroupRead)
@audited(Category.SECURITY_GROUP, Operation.UPDATE)
def update_group(
    session: SessionDep, access: GlobalAdminDep, group_id: uuid.UUID, body: GroupUpdate
) -> GroupRead:
    return _group_read(session, service.update_group(session, access, group_id, body))


@directory.delete("/security-groups/{group_id}", status_code=204)
@audited(Category.SECURITY_GROUP, Operation.DELETE)
def delete_group(session: SessionDep, access: GlobalAdminDep, group_id: uuid.UUID) -> Response:
    service.delete_group(session, access, group_id)
    return Response(status_code=204)
