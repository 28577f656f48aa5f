"""One trip through the thread pool per request (kit/trip.py): synchronous dependencies are
put off to the endpoint's trip, which checks the answer and commits; what a caller hears, and
what is committed, is what it was when each took a trip of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any

import fastapi.dependencies.utils
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import delete, select, text

import roomwarden.kit.api
from roomwarden.kit import trip
from roomwarden.kit.api import SessionDep, install_error_handlers
from roomwarden.kit.db import Database, state_tenants
from roomwarden.kit.errors import Forbidden, Unauthenticated
from roomwarden.kit.routing import router
from roomwarden.tenants.models import Tenant

calls: list[str] = []


def caller(request: Request, session: SessionDep) -> str:
    """Stands for tenant_access: refuses a request without the header, reads the database."""
    calls.append("caller")
    if request.headers.get("x-caller") is None:
        raise Unauthenticated("who are you")
    assert session.execute(text("SELECT 1")).scalar_one() == 1
    return request.headers["x-caller"]


CallerDep = Annotated[str, Depends(caller)]


def boss(who: CallerDep) -> str:
    """A synchronous dependency of a put-off one."""
    calls.append("boss")
    if who != "boss":
        raise Forbidden("not the boss")
    return who


async def shouted(who: CallerDep) -> str:
    """An async dependency using the caller's value: ``caller`` cannot be put off here."""
    return who.upper()


class Named(BaseModel):
    name: str


def build(db: Database) -> FastAPI:
    api = router()

    @api.get("/plain/{n}", response_model=Named)
    def plain(n: int, who: CallerDep, q: int = 0) -> Named:
        calls.append("endpoint")
        return Named(name=f"{who}-{n + q}")

    @api.get("/chained", response_model=Named)
    def chained(who: Annotated[str, Depends(boss)], again: CallerDep) -> Named:
        assert who == again  # one call of ``caller``, its value handed to both
        return Named(name=who)

    @api.get("/shouted", response_model=Named)
    def loud(name: Annotated[str, Depends(shouted)]) -> Named:
        return Named(name=name)

    @api.post("/tenants/{tenant_id}/{name}", response_model=Named)
    def create(tenant_id: uuid.UUID, name: str, session: SessionDep, who: CallerDep) -> Any:
        state_tenants(session, [tenant_id])
        session.add(Tenant(id=tenant_id, name=name))
        session.flush()
        if name.startswith("bad"):
            return {"nom": name}  # not a Named: the answer is refused, and nothing is kept
        session.expire_all()  # the answer is read from the row, loaded lazily
        return session.get(Tenant, tenant_id)

    app = FastAPI()
    app.state.db = db
    install_error_handlers(app)
    app.include_router(api)
    return app


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    calls.clear()
    with TestClient(build(db), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = trip.run_in_threadpool

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(trip, "run_in_threadpool", counting)
    # FastAPI's own trips (a dependency it calls), and the route's (a refusal recorded)
    monkeypatch.setattr(fastapi.dependencies.utils, "run_in_threadpool", counting)
    monkeypatch.setattr(roomwarden.kit.api, "run_in_threadpool", counting)
    return seen


def test_a_dependency_the_endpoint_and_the_commit_take_one_trip(client: TestClient, trips: list[str]) -> None:
    r = client.get("/plain/3", headers={"x-caller": "ann"})
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "ann-3"}
    assert trips == ["serve"]
    assert calls == ["caller", "endpoint"]


def test_a_chain_of_synchronous_dependencies_is_put_off_and_each_called_once(
    client: TestClient, trips: list[str]
) -> None:
    r = client.get("/chained", headers={"x-caller": "boss"})
    assert r.status_code == 200, r.text
    assert trips == ["serve"]
    assert calls == ["caller", "boss"]
    r = client.get("/chained", headers={"x-caller": "ann"})
    assert r.status_code == 403
    assert r.json()["detail"] == "not the boss"


def test_a_dependency_an_async_one_uses_is_not_put_off(client: TestClient, trips: list[str]) -> None:
    r = client.get("/shouted", headers={"x-caller": "ann"})
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "ANN"}
    assert trips == ["caller", "serve"]


@pytest.mark.parametrize("path", ["/plain/not-a-number", "/plain/3?q=four"])
def test_the_caller_is_refused_before_its_input_is_judged(client: TestClient, path: str) -> None:
    """FastAPI judges parameters after it has called the dependencies: a refused caller hears
    401, not what was wrong with its request."""
    assert client.get(path).status_code == 401
    assert client.get("/plain/not-a-number", headers={"x-caller": "ann"}).status_code == 422
    assert "endpoint" not in calls


def test_a_refusal_rolls_back_in_the_same_trip(client: TestClient, trips: list[str]) -> None:
    assert client.get("/plain/3").status_code == 401
    assert trips == ["serve"]


def test_the_answer_is_checked_before_the_commit(client: TestClient, db: Database) -> None:
    good, bad = uuid.uuid4(), uuid.uuid4()
    try:
        r = client.post(f"/tenants/{good}/good", headers={"x-caller": "ann"})
        assert r.status_code == 200, r.text
        assert r.json() == {"name": "good"}  # read from the ORM row while its session was open
        assert client.post(f"/tenants/{bad}/bad", headers={"x-caller": "ann"}).status_code == 500
        with db.transaction(write=False, tenants=[good, bad]) as s:
            kept = set(s.scalars(select(Tenant.id).where(Tenant.id.in_([good, bad]))))
        assert kept == {good}
    finally:
        with db.transaction(tenants=[good, bad]) as s:
            s.execute(delete(Tenant).where(Tenant.id.in_([good, bad])))
