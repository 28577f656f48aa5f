from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Form, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.access.deps import GlobalAdminDep
from roomwarden.access.operator import operator_access
from roomwarden.access.resolver import linked_customers
from roomwarden.audit.service import Category, Operation
from roomwarden.identity import account, service, signin, totp
from roomwarden.identity.deps import PrincipalDep, operator_token
from roomwarden.identity.http import change_own_password, client_host, counted_failures
from roomwarden.identity.models import SecurityGroup, User
from roomwarden.identity.principal import Principal
from roomwarden.identity.schemas import (
    GroupCreate,
    GroupRead,
    GroupUpdate,
    MeRead,
    OperatorPasswordReset,
    OperatorUserRef,
    OtpIn,
    PasswordChange,
    PasswordReset,
    RecoveryCodes,
    TenantRef,
    TokenResponse,
    TotpBegin,
    TotpConfirm,
    TotpEnrolment,
    UnlockResult,
    UserCreate,
    UserRead,
    UserUpdate,
)
from roomwarden.identity.tokens import issue_for, issue_token
from roomwarden.kit.api import SessionDep, audited, not_audited, read_only
from roomwarden.kit.pagination import Page, PageDep, Search, paginate
from roomwarden.kit.routing import router

#: user names are printable: a control character (a NUL byte, say) is refused before counting
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]+$"

auth = router(prefix="/api/v1", tags=["identity"])
operator_users = router(prefix="/api/v1/operator/users", tags=["operator"])
directory = router(prefix="/api/v1/tenants/{tenant_id}", tags=["directory"])


THROTTLED: dict[int | str, dict[str, str]] = {
    429: {"description": "Too many failed sign-ins; see Retry-After"}
}


@auth.post(
    "/auth/token",
    response_model=TokenResponse,
    responses={
        429: {"description": "Too many failed sign-ins; see Retry-After"},
        503: {"description": "The service is overloaded; see Retry-After"},
    },
)
@read_only
@not_audited("sign-in records its own failures (identity.throttle) on the request's connection")
async def sign_in(
    request: Request,
    username: Annotated[str, Form(min_length=1, max_length=320, pattern=NO_CONTROL_CHARACTERS)],
    password: Annotated[str, Form(max_length=256)],
    otp: Annotated[str | None, Form(max_length=32)] = None,
) -> TokenResponse:
    """OAuth2 password grant for local accounts; ``otp`` is the one-time code (or a recovery
    code) of an account with a second factor. A tenant that signs in with OpenID Connect
    takes no passwords: see ``/auth/oidc/token`` for a bearer token after federated sign-in.
    Failures are throttled per account and per client address (docs/operations.md,
    "Sign-in throttling")."""
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
        client_host=client_host(request),
        scope=request.scope,
    )
    token = issue_token(
        settings,
        user_id=outcome.user_id,
        tenant_id=outcome.tenant_id,
        mfa=outcome.mfa,
        version=outcome.token_version,
    )
    return TokenResponse(access_token=token, expires_in=settings.token_ttl_seconds)


def own_account(request: Request, principal: PrincipalDep) -> Principal:
    """The caller acting on its own account: refusals are recorded in its home tenant, also
    when the body is refused before the endpoint runs."""
    request.state.audit_tenant_id = principal.tenant_id
    request.state.audit_object_id, request.state.audit_object_name = principal.user_id, principal.upn
    return principal


OwnAccount = Annotated[Principal, Depends(own_account)]


@auth.post("/me/password", response_model=TokenResponse, responses=THROTTLED)
@audited(Category.USER, Operation.UPDATE)
@read_only
def change_password(
    request: Request, session: SessionDep, principal: OwnAccount, body: PasswordChange
) -> TokenResponse:
    """Change the caller's own password. Every earlier token and portal session of the user
    ends; the answer is a fresh token for the caller, so a script can go on."""
    settings = request.app.state.settings
    user = change_own_password(request, session, principal, body.current_password, body.new_password)
    token = issue_for(settings, user, mfa=principal.mfa, federated=False)
    return TokenResponse(access_token=token, expires_in=settings.token_ttl_seconds)


@auth.post("/me/sign-out-everywhere", status_code=204)
@audited(Category.USER, Operation.UPDATE)
def sign_out_everywhere(session: SessionDep, principal: OwnAccount) -> Response:
    """End every token and portal session of the caller, this one included."""
    account.sign_out_everywhere(session, principal.user_id)
    return Response(status_code=204)


@auth.post("/me/totp", response_model=TotpEnrolment, tags=["identity"], responses=THROTTLED)
@audited(Category.USER, Operation.UPDATE)
@read_only
def begin_totp(
    request: Request, session: SessionDep, principal: OwnAccount, body: TotpBegin
) -> TotpEnrolment:
    """Start enrolling a TOTP authenticator (needs the current password): returns the secret
    and an otpauth:// URI. The factor is required only after ``/me/totp/confirm``."""
    db = request.app.state.db
    with counted_failures(request, principal.upn), db.transaction(tenants=[principal.tenant_id]) as own:
        secret, uri = totp.begin(own, principal, request.app.state.secret_box, body.current_password)
    return TotpEnrolment(secret=secret, otpauth_uri=uri)


@auth.post("/me/totp/confirm", response_model=RecoveryCodes, tags=["identity"])
@audited(Category.USER, Operation.UPDATE)
def confirm_totp(
    request: Request, session: SessionDep, principal: OwnAccount, body: TotpConfirm
) -> RecoveryCodes:
    """Switch the factor on with a code from the authenticator. Answers ten single-use
    recovery codes, shown this once: keep them where a lost phone cannot take them."""
    codes = totp.confirm(session, principal, request.app.state.secret_box, body.otp)
    return RecoveryCodes(recovery_codes=codes)


@auth.post("/me/totp/disable", status_code=204, tags=["identity"], responses=THROTTLED)
@audited(Category.USER, Operation.UPDATE)
@read_only
def disable_totp(request: Request, session: SessionDep, principal: OwnAccount, body: OtpIn) -> Response:
    """Switch the factor off with a current code or a recovery code. Wrong codes count as
    failed sign-ins of the account."""
    db = request.app.state.db
    with counted_failures(request, principal.upn), db.transaction(tenants=[principal.tenant_id]) as own:
        totp.disable(own, principal, request.app.state.secret_box, body.otp)
    return Response(status_code=204)


@auth.post("/me/totp/recovery-codes", response_model=RecoveryCodes, tags=["identity"], responses=THROTTLED)
@audited(Category.USER, Operation.UPDATE)
@read_only
def new_recovery_codes(
    request: Request, session: SessionDep, principal: OwnAccount, body: OtpIn
) -> RecoveryCodes:
    """Replace the recovery codes (proven by a current code or an unused recovery code)."""
    db = request.app.state.db
    with counted_failures(request, principal.upn), db.transaction(tenants=[principal.tenant_id]) as own:
        codes = totp.new_recovery_codes(own, principal, request.app.state.secret_box, body.otp)
    return RecoveryCodes(recovery_codes=codes)


@auth.get("/me", response_model=MeRead)
def me(session: SessionDep, principal: PrincipalDep) -> MeRead:
    user, home = service.principal_home(session, principal)
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


@directory.post("/users/{user_id}/unlock", response_model=UnlockResult)
@audited(Category.USER, Operation.UPDATE)
def unlock_user(
    request: Request, session: SessionDep, access: GlobalAdminDep, user_id: uuid.UUID
) -> UnlockResult:
    """Let an account locked by failed sign-ins sign in again at once."""
    user = service.get_user(session, access, user_id)
    cleared = account.unlock(session, request.app.state.settings, user, access)
    return UnlockResult(user_id=user.id, upn=user.upn, failures_cleared=cleared)


@directory.post("/users/{user_id}/reset-password", status_code=204)
@audited(Category.USER, Operation.UPDATE)
def reset_password(
    session: SessionDep, access: GlobalAdminDep, user_id: uuid.UUID, body: PasswordReset
) -> Response:
    """Give the user a new password; every earlier token and portal session of it ends."""
    user = service.get_user(session, access, user_id, lock=True)
    account.reset_password(session, user, body.new_password, access)
    return Response(status_code=204)


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
def list_security_groups(session: SessionDep, access: GlobalAdminDep, pages: PageDep) -> Page[GroupRead]:
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
def create_security_group(session: SessionDep, access: GlobalAdminDep, body: GroupCreate) -> GroupRead:
    return _group_read(session, service.create_group(session, access, body))


@directory.get("/security-groups/{group_id}", response_model=GroupRead)
def get_security_group(session: SessionDep, access: GlobalAdminDep, group_id: uuid.UUID) -> GroupRead:
    return _group_read(session, service.get_group(session, access, group_id))


@directory.patch("/security-groups/{group_id}", response_model=GroupRead)
@audited(Category.SECURITY_GROUP, Operation.UPDATE)
def update_security_group(
    session: SessionDep, access: GlobalAdminDep, group_id: uuid.UUID, body: GroupUpdate
) -> GroupRead:
    return _group_read(session, service.update_group(session, access, group_id, body))


@directory.delete("/security-groups/{group_id}", status_code=204)
@audited(Category.SECURITY_GROUP, Operation.DELETE)
def delete_security_group(session: SessionDep, access: GlobalAdminDep, group_id: uuid.UUID) -> Response:
    service.delete_group(session, access, group_id)
    return Response(status_code=204)


# -- operator ----------------------------------------------------------------------------------


NO_SUCH_USER: dict[int | str, dict[str, str]] = {404: {"description": "No user has that UPN"}}


@operator_users.post(
    "/unlock", response_model=UnlockResult, dependencies=[Depends(operator_token)], responses=NO_SUCH_USER
)
@not_audited("operator API: outside every tenant; successful changes are recorded in the user's tenant")
def operator_unlock(request: Request, session: SessionDep, body: OperatorUserRef) -> UnlockResult:
    """The operator unlocks any account by UPN (a tenant's only Global admin, for example)."""
    user = account.user_by_upn(session, body.upn, lock=True)
    cleared = account.unlock(session, request.app.state.settings, user, operator_access(user.tenant_id))
    return UnlockResult(user_id=user.id, upn=user.upn, failures_cleared=cleared)


@operator_users.post(
    "/reset-password", status_code=204, dependencies=[Depends(operator_token)], responses=NO_SUCH_USER
)
@not_audited("operator API: outside every tenant; successful changes are recorded in the user's tenant")
def operator_reset_password(session: SessionDep, body: OperatorPasswordReset) -> Response:
    """The operator gives any account a new password; its earlier tokens and sessions end."""
    user = account.user_by_upn(session, body.upn, lock=True)
    account.reset_password(session, user, body.new_password, operator_access(user.tenant_id))
    return Response(status_code=204)
