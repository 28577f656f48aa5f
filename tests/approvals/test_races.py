"""Each request is decided once: concurrent decisions through a real server, so the requests
really overlap in the service's worker threads and in the database (row locks on PostgreSQL,
the write lock on SQLite)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from roomwarden.audit.models import AuditRecord
from tests.approvals.helpers import Linked, as_user, linked
from tests.factories import World, expect

ROUNDS = 3


def race(calls: list[Callable[[httpx2.Client], Any]]) -> list[int]:
    barrier = threading.Barrier(len(calls))
    statuses = [0] * len(calls)

    def run(i: int) -> None:
        with httpx2.Client(timeout=60) as client:
            barrier.wait()
            statuses[i] = calls[i](client).status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(not t.is_alive() for t in threads), "a decision never finished (deadlock?)"
    return statuses


def _setup(world: World) -> tuple[Linked, dict[str, Any], dict[str, Any]]:
    x = linked(world)
    room = world.room(x.customer)
    held = expect(
        as_user(world, x.customer, x.primary, "PATCH", f"/rooms/{room['id']}", {"city": "Raced"}), 202
    )
    return x, room, held


def _state(world: World, x: Linked, room: dict[str, Any], held: dict[str, Any]) -> tuple[str, str]:
    c = x.customer
    status = expect(as_user(world, c, c.admin, "GET", f"/approval-requests/{held['id']}"), 200)["status"]
    city = expect(as_user(world, c, c.admin, "GET", f"/rooms/{room['id']}"), 200)["city"]
    return status, city


def _records(world: World, x: Linked, object_id: str) -> list[tuple[str, str, str]]:
    with world.transaction(write=False) as s:
        rows = s.execute(
            select(AuditRecord.category, AuditRecord.operation, AuditRecord.result_status).where(
                AuditRecord.tenant_id == uuid.UUID(x.customer.id), AuditRecord.object_id == object_id
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _url(live_url: str, x: Linked, path: str) -> str:
    return f"{live_url}/api/v1/tenants/{x.customer.id}{path}"


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_approve_approve_applies_once(world: World, live_url: str, round_: int) -> None:
    x, room, held = _setup(world)
    second = world.user(x.customer, ga=True)
    url = _url(live_url, x, f"/approval-requests/{held['id']}/approve")
    statuses = race([lambda c, u=u: c.post(url, headers=u.headers) for u in (x.customer.admin, second)])
    assert sorted(statuses) == [200, 409]
    assert _state(world, x, room, held) == ("approved", "Raced")
    # One decision; the loser's attempt is on the record as refused.
    decisions = sorted(r for r in _records(world, x, held["id"]) if r[1] == "Approve")
    assert decisions == [
        ("ApprovalRequest", "Approve", "Failed"),
        ("ApprovalRequest", "Approve", "Successful"),
    ]
    applied = [r for r in _records(world, x, room["id"]) if r[0] == "Room" and r[1] == "Update"]
    assert applied == [("Room", "Update", "Successful")]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_approve_reject_decides_once(world: World, live_url: str, round_: int) -> None:
    x, room, held = _setup(world)
    base = _url(live_url, x, f"/approval-requests/{held['id']}")
    h = x.customer.admin.headers
    statuses = race(
        [
            lambda c: c.post(f"{base}/approve", headers=h),
            lambda c: c.post(f"{base}/reject", json={"reason": "r"}, headers=h),
        ]
    )
    assert sorted(statuses) == [200, 409]
    status, city = _state(world, x, room, held)
    if statuses[0] == 200:
        assert (status, city) == ("approved", "Raced")
    else:
        assert status == "rejected" and city != "Raced"


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_approve_cancel_decides_once(world: World, live_url: str, round_: int) -> None:
    x, room, held = _setup(world)
    approve_url = _url(live_url, x, f"/approval-requests/{held['id']}/approve")
    cancel_url = f"{live_url}/api/v1/partner/approval-requests/{held['id']}/cancel"
    statuses = race(
        [
            lambda c: c.post(approve_url, headers=x.customer.admin.headers),
            lambda c: c.post(cancel_url, headers=x.primary.headers),
        ]
    )
    assert sorted(statuses) == [200, 409]
    status, city = _state(world, x, room, held)
    assert (status, city == "Raced") == (("approved", True) if statuses[0] == 200 else ("cancelled", False))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_approve_racing_offboarding_never_applies_after_the_link_ended(
    world: World, live_url: str, round_: int
) -> None:
    x, room, held = _setup(world)
    approve_url = _url(live_url, x, f"/approval-requests/{held['id']}/approve")
    remove_url = _url(live_url, x, f"/partners/{x.link['id']}?confirm=true")
    h = x.customer.admin.headers
    statuses = race([lambda c: c.post(approve_url, headers=h), lambda c: c.delete(remove_url, headers=h)])
    assert statuses[1] == 204
    status, city = _state(world, x, room, held)
    if statuses[0] == 200:  # the approval came first: applied while the link was active
        assert (status, city) == ("approved", "Raced")
    else:  # the off-boarding came first: cancelled, never applied
        assert statuses[0] == 409 and status == "cancelled" and city != "Raced"
