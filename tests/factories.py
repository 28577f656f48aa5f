"""Small factories that build test worlds through the public API.

Every name and domain carries the test's unique ``tag``, so tests never collide, even when
they share one database."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from roomwarden.identity.models import User
from roomwarden.identity.tokens import issue_token
from roomwarden.kit.db import Database, make_engine, state_tenants
from roomwarden.settings import Settings

PASSWORD = "correct horse battery"


def owner_engine(db: Database) -> Engine:
    """The database as its owner sees it, whatever the service may: what a test that tampers
    with rows, or inspects them behind the service's back, connects with. With row-level
    security on (PostgreSQL), the service's engine runs as the service role, which sees only
    the tenants a transaction states; this one stays the login (the tests' is a superuser,
    to which row-level security does not apply). Otherwise it is the service's own engine."""
    return _owner_engine(db.url) if db.row_security else db.engine


@functools.cache
def _owner_engine(url: str) -> Engine:
    return make_engine(url)


@dataclass
class UserH:
    id: str
    upn: str
    tenant_id: str
    headers: dict[str, str]


@dataclass
class TenantH:
    id: str
    name: str
    domain: str
    admin: UserH
    roles: dict[str, str] = field(default_factory=dict)


def expect(response: Any, status: int) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: expected {status}, "
        f"got {response.status_code}: {response.text}"
    )
    return (
        response.json() if response.content and "json" in response.headers.get("content-type", "") else None
    )


@dataclass
class World:
    client: TestClient
    db: Database
    settings: Settings
    tag: str
    _n: int = 0
    #: the tenants this world created: what its direct transactions state (row-level security)
    tenant_ids: list[uuid.UUID] = field(default_factory=list)

    def _next(self) -> int:
        self._n += 1
        return self._n

    # -- the database, directly ------------------------------------------------------------

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A transaction of the test itself, stating the tenants of this world, as the
        service states those of a request (``roomwarden.kit.db.state_tenants``)."""
        with self.db.transaction(write=write, tenants=self.tenant_ids) as session:
            yield session

    def session(self, *, write: bool = True) -> Session:
        """A session stating the tenants of this world; the caller commits and closes it."""
        session = self.db.session(write=write)
        state_tenants(session, self.tenant_ids)
        return session

    # -- identity ------------------------------------------------------------------------

    def headers(self, user_id: str, tenant_id: str, *, mfa: bool = False) -> dict[str, str]:
        """A fresh token for the user, under its current token version."""
        with self.db.transaction(write=False, tenants=[uuid.UUID(tenant_id)]) as session:
            user = session.get(User, uuid.UUID(user_id))
            version = user.token_version if user is not None else 0
        token = issue_token(
            self.settings,
            user_id=uuid.UUID(user_id),
            tenant_id=uuid.UUID(tenant_id),
            mfa=mfa,
            version=version,
        )
        return {"Authorization": f"Bearer {token}"}

    @property
    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.operator_token.get_secret_value()}"}

    def tenant(self, name: str | None = None) -> TenantH:
        n = self._next()
        domain = f"t{n}-{self.tag}.example.com"
        body = {
            "name": name or f"Tenant {n} {self.tag}",
            "domains": [domain],
            "admin": {"upn": f"admin@{domain}", "display_name": "Admin", "password": PASSWORD},
        }
        created = expect(self.client.post("/api/v1/operator/tenants", json=body, headers=self.operator), 201)
        self.tenant_ids.append(uuid.UUID(created["id"]))
        admin = UserH(
            id=created["admin_user_id"],
            upn=f"admin@{domain}",
            tenant_id=created["id"],
            headers=self.headers(created["admin_user_id"], created["id"]),
        )
        t = TenantH(id=created["id"], name=created["name"], domain=domain, admin=admin)
        roles = expect(self.client.get(f"/api/v1/tenants/{t.id}/roles", headers=admin.headers), 200)
        t.roles = {r["name"]: r["id"] for r in roles["items"]}
        return t

    def user(self, tenant: TenantH, *, ga: bool = False, name: str | None = None) -> UserH:
        n = self._next()
        upn = f"{name or 'user'}{n}@{tenant.domain}"
        body = {"upn": upn, "display_name": name or f"User {n}", "password": PASSWORD, "is_global_admin": ga}
        created = expect(self.post(tenant, "/users", body), 201)
        return UserH(
            id=created["id"], upn=upn, tenant_id=tenant.id, headers=self.headers(created["id"], tenant.id)
        )

    def security_group(self, tenant: TenantH, members: list[UserH]) -> str:
        body = {"name": f"SG {self._next()}", "member_ids": [m.id for m in members]}
        return expect(self.post(tenant, "/security-groups", body), 201)["id"]

    # -- resources -------------------------------------------------------------------------

    def post(self, tenant: TenantH, path: str, body: Any, as_: UserH | None = None) -> Any:
        headers = (as_ or tenant.admin).headers
        return self.client.post(f"/api/v1/tenants/{tenant.id}{path}", json=body, headers=headers)

    def room(self, tenant: TenantH, country: str = "US", **extra: Any) -> dict[str, Any]:
        n = self._next()
        body = {
            "name": f"Room {n}",
            "resource_account": f"room{n}@{tenant.domain}",
            "country": country,
            **extra,
        }
        return expect(self.post(tenant, "/rooms", body), 201)

    def room_group(self, tenant: TenantH, room_ids: list[str], name: str | None = None) -> dict[str, Any]:
        body = {"name": name or f"Group {self._next()}", "room_ids": room_ids}
        return expect(self.post(tenant, "/room-groups", body), 201)

    def role(self, tenant: TenantH, permissions: list[str], name: str | None = None) -> str:
        body = {"name": name or f"Role {self._next()}", "permissions": permissions}
        return expect(self.post(tenant, "/roles", body), 201)["id"]

    def assign(
        self,
        tenant: TenantH,
        role_id: str,
        *,
        users: list[UserH] = (),
        groups: list[str] = (),  # type: ignore[assignment]
        scope: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        members = [{"type": "user", "id": u.id} for u in users] + [{"type": "group", "id": g} for g in groups]
        body = {"name": f"Assignment {self._next()}", "members": members, "scope": scope or {"all": True}}
        return expect(self.post(tenant, f"/roles/{role_id}/assignments", body), 201)

    def incident(self, tenant: TenantH, room_id: str) -> dict[str, Any]:
        body = {"room_id": room_id, "title": f"Incident {self._next()}", "severity": "warning"}
        return expect(self.post(tenant, "/incidents", body), 201)
