from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Literal, Protocol, TypeVar

from fastapi import Response
from sqlalchemy import Select

from roomwarden.access import service
from roomwarden.access.deps import AccessDep
from roomwarden.access.models import Role, RoleAssignment
from roomwarden.access.permissions import Permission, permission_table
from roomwarden.access.schemas import (
    AssignmentCreate,
    AssignmentRead,
    AssignmentUpdate,
    Explanation,
    RoleCreate,
    RoleRead,
    RoleUpdate,
)
from roomwarden.approvals.http import HELD, held_or
from roomwarden.approvals.service import apply_or_hold
from roomwarden.audit.service import Category, Operation
from roomwarden.kit import conditional
from roomwarden.kit.api import SessionDep, audited
from roomwarden.kit.conditional import IfMatchDep
from roomwarden.kit.pagination import Page, PageDep, paginate
from roomwarden.kit.routing import router
from roomwarden.rooms import effective_access

api = router(prefix="/api/v1/tenants/{tenant_id}", tags=["roles"])
catalogue = router(prefix="/api/v1", tags=["roles"])


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


T = TypeVar("T", bound=_Versioned)
RoleKind = Literal["builtin", "custom", "partner_builtin", "partner_custom"]


@catalogue.get("/permissions")
def list_permissions() -> list[dict[str, object]]:
    """The permission catalogue with the built-in roles that hold each permission."""
    return permission_table()


@api.get("/roles", response_model=Page[RoleRead])
def list_roles(
    session: SessionDep, access: AccessDep, pages: PageDep, kind: RoleKind | None = None
) -> Page[RoleRead]:
    page = paginate(session, service.list_roles_query(access, kind), Role.id, pages, lambda r: r)
    return Page[RoleRead](items=service.role_reads(session, page.items), next_cursor=page.next_cursor)


def _role_read(session: SessionDep) -> Callable[[Role], RoleRead]:
    return lambda role: service.role_reads(session, [role])[0]


@api.post("/roles", response_model=RoleRead, status_code=201, responses=HELD)
@audited(Category.ROLE, Operation.CREATE)
def create_role(session: SessionDep, access: AccessDep, body: RoleCreate) -> RoleRead:
    return held_or(session, apply_or_hold(session, access, "role.create", body), _role_read(session))


def _tagged(response: Response, read: T) -> T:
    conditional.tag(response, read.version)
    return read


@api.get("/roles/{role_id}", response_model=RoleRead)
def get_role(session: SessionDep, access: AccessDep, response: Response, role_id: uuid.UUID) -> RoleRead:
    """One role, with its `ETag` (send it back as `If-Match` to change or delete the role)."""
    return _tagged(response, service.role_reads(session, [service.visible_role(session, access, role_id)])[0])


@api.patch("/roles/{role_id}", response_model=RoleRead, responses=HELD, dependencies=[IfMatchDep])
@audited(Category.ROLE, Operation.UPDATE)
def update_role(
    session: SessionDep, access: AccessDep, response: Response, role_id: uuid.UUID, body: RoleUpdate
) -> RoleRead:
    """Change a custom role. With `If-Match`, refused (412) when the role changed since."""
    done = apply_or_hold(session, access, "role.update", body, role_id=role_id)
    return held_or(session, done, lambda role: _tagged(response, _role_read(session)(role)))


@api.delete("/roles/{role_id}", status_code=204, responses=HELD, dependencies=[IfMatchDep])
@audited(Category.ROLE, Operation.DELETE)
def delete_role(session: SessionDep, access: AccessDep, role_id: uuid.UUID) -> None:
    return held_or(session, apply_or_hold(session, access, "role.delete", role_id=role_id), _nothing)


# -- assignments ------------------------------------------------------------------------------------


def _one(session: SessionDep, item: RoleAssignment, response: Response | None = None) -> AssignmentRead:
    read = service.assignment_reads(session, [item])[0]
    return _tagged(response, read) if response is not None else read


def _nothing(_: object) -> None:
    return None


@api.get("/roles/{role_id}/assignments", response_model=Page[AssignmentRead])
def list_assignments(
    session: SessionDep, access: AccessDep, role_id: uuid.UUID, pages: PageDep
) -> Page[AssignmentRead]:
    role = service.visible_role(session, access, role_id)
    stmt: Select[RoleAssignment] = service.assignments_query(role)
    page = paginate(session, stmt, RoleAssignment.id, pages, lambda a: a)
    return Page[AssignmentRead](
        items=service.assignment_reads(session, page.items), next_cursor=page.next_cursor
    )


@api.post("/roles/{role_id}/assignments", response_model=AssignmentRead, status_code=201, responses=HELD)
@audited(Category.ASSIGNMENT, Operation.CREATE)
def create_assignment(
    session: SessionDep, access: AccessDep, role_id: uuid.UUID, body: AssignmentCreate
) -> AssignmentRead:
    done = apply_or_hold(session, access, "assignment.create", body, role_id=role_id)
    return held_or(session, done, lambda a: _one(session, a))


# Assignments are addressed both under their role and directly under the tenant.


@api.get("/roles/{role_id}/assignments/{assignment_id}", response_model=AssignmentRead)
def get_role_assignment(
    session: SessionDep, access: AccessDep, response: Response, role_id: uuid.UUID, assignment_id: uuid.UUID
) -> AssignmentRead:
    """One assignment of the role, with its `ETag` (for `If-Match`)."""
    return _one(session, service.visible_assignment(session, access, assignment_id, role_id)[1], response)


@api.patch(
    "/roles/{role_id}/assignments/{assignment_id}",
    response_model=AssignmentRead,
    responses=HELD,
    dependencies=[IfMatchDep],
)
@audited(Category.ASSIGNMENT, Operation.UPDATE)
def update_role_assignment(
    session: SessionDep,
    access: AccessDep,
    response: Response,
    role_id: uuid.UUID,
    assignment_id: uuid.UUID,
    body: AssignmentUpdate,
) -> AssignmentRead:
    """Change an assignment. With `If-Match`, refused (412) when it changed since."""
    done = apply_or_hold(
        session, access, "assignment.update", body, assignment_id=assignment_id, role_id=role_id
    )
    return held_or(session, done, lambda a: _one(session, a, response))


@api.delete(
    "/roles/{role_id}/assignments/{assignment_id}", status_code=204, responses=HELD, dependencies=[IfMatchDep]
)
@audited(Category.ASSIGNMENT, Operation.DELETE)
def delete_role_assignment(
    session: SessionDep, access: AccessDep, role_id: uuid.UUID, assignment_id: uuid.UUID
) -> None:
    done = apply_or_hold(session, access, "assignment.delete", assignment_id=assignment_id, role_id=role_id)
    return held_or(session, done, _nothing)


@api.get("/assignments/{assignment_id}", response_model=AssignmentRead)
def get_assignment(
    session: SessionDep, access: AccessDep, response: Response, assignment_id: uuid.UUID
) -> AssignmentRead:
    """One assignment, with its `ETag` (for `If-Match`)."""
    return _one(session, service.visible_assignment(session, access, assignment_id)[1], response)


@api.patch(
    "/assignments/{assignment_id}", response_model=AssignmentRead, responses=HELD, dependencies=[IfMatchDep]
)
@audited(Category.ASSIGNMENT, Operation.UPDATE)
def update_assignment(
    session: SessionDep,
    access: AccessDep,
    response: Response,
    assignment_id: uuid.UUID,
    body: AssignmentUpdate,
) -> AssignmentRead:
    """Change an assignment. With `If-Match`, refused (412) when it changed since."""
    done = apply_or_hold(session, access, "assignment.update", body, assignment_id=assignment_id)
    return held_or(session, done, lambda a: _one(session, a, response))


@api.delete("/assignments/{assignment_id}", status_code=204, responses=HELD, dependencies=[IfMatchDep])
@audited(Category.ASSIGNMENT, Operation.DELETE)
def delete_assignment(session: SessionDep, access: AccessDep, assignment_id: uuid.UUID) -> None:
    done = apply_or_hold(session, access, "assignment.delete", assignment_id=assignment_id)
    return held_or(session, done, _nothing)


# -- effective access -----------------------------------------------------------------------------


@api.get("/access/explain", response_model=Explanation)
def explain_access(
    session: SessionDep,
    access: AccessDep,
    user_id: uuid.UUID,
    room_id: uuid.UUID,
    permission: Permission | None = None,
) -> Explanation:
    """Which permissions the user holds on the room, and through which role, assignment,
    scope, group membership and partner link. ``allowed`` answers for ``permission`` when
    given, else whether the user holds any permission on the room. A deactivated user is
    never allowed."""
    return effective_access.explain(session, access, user_id, room_id, permission)
