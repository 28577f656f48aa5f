"""Races the database must decide: concurrent requests through a real server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from roomwarden.audit.models import AuditRecord
from roomwarden.audit.service import Actor, Category, Operation, record, verify_chain
from roomwarden.identity.models import User
from tests.factories import World, expect

THREADS = 6


def race(calls: list[Callable[[httpx2.Client], Any]]) -> list[Any]:
    """Run the calls at the same instant, each on its own connection."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        with httpx2.Client(timeout=60) as client:
            barrier.wait()
            results[i] = calls[i](client)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    return results


@pytest.mark.parametrize("round_", range(6))
def test_two_global_admins_demoting_each_other_leave_one(world: World, live_url: str, round_: int) -> None:
    t = world.tenant()
    second = world.user(t, ga=True)
    base = f"{live_url}/api/v1/tenants/{t.id}/users"
    calls = [
        lambda c: c.patch(f"{base}/{second.id}", json={"is_global_admin": False}, headers=t.admin.headers),
        lambda c: c.patch(f"{base}/{t.admin.id}", json={"is_global_admin": False}, headers=second.headers),
    ]
    statuses = sorted(r.status_code for r in race(calls))
    # The loser is refused either by the last-admin rule (409) or, having just been demoted, as
    # no longer a Global admin (403); never do both succeed, and the two never deadlock (503).
    assert statuses in ([200, 403], [200, 409]), statuses
    with world.transaction(write=False) as session:
        admins = session.scalars(
            select(User.id).where(User.tenant_id == uuid.UUID(t.id), User.is_global_admin, User.is_active)
        ).all()
    assert len(admins) == 1


def test_racing_deactivation_and_deletion_of_global_admins_leave_one(world: World, live_url: str) -> None:
    t = world.tenant()
    admins = [t.admin, *(world.user(t, ga=True) for _ in range(3))]
    base = f"{live_url}/api/v1/tenants/{t.id}/users"

    def remove(i: int) -> Callable[[httpx2.Client], Any]:
        actor, target = admins[i], admins[(i + 1) % len(admins)]
        if i % 2:
            return lambda c: c.delete(f"{base}/{target.id}", headers=actor.headers)
        return lambda c: c.patch(f"{base}/{target.id}", json={"is_active": False}, headers=actor.headers)

    statuses = [r.status_code for r in race([remove(i) for i in range(len(admins))])]
    assert 503 not in statuses and 500 not in statuses, statuses
    with world.transaction(write=False) as session:
        left = session.scalars(
            select(User.id).where(User.tenant_id == uuid.UUID(t.id), User.is_global_admin, User.is_active)
        ).all()
    assert len(left) >= 1
    assert statuses.count(200) + statuses.count(204) == len(admins) - len(left)


def test_racing_room_creation_with_one_resource_account(world: World, live_url: str) -> None:
    t = world.tenant()
    body = {"name": "Contested", "resource_account": f"contested@{t.domain}", "country": "US"}
    url = f"{live_url}/api/v1/tenants/{t.id}/rooms"
    results = race([lambda c: c.post(url, json=body, headers=t.admin.headers)] * THREADS)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * (THREADS - 1), statuses
    rooms = expect(world.client.get(f"/api/v1/tenants/{t.id}/rooms", headers=t.admin.headers), 200)["items"]
    assert [r["resource_account"] for r in rooms] == [body["resource_account"]]


def test_concurrent_changes_keep_the_audit_chain_whole(world: World, live_url: str) -> None:
    t = world.tenant()
    url = f"{live_url}/api/v1/tenants/{t.id}/rooms"

    def create(i: int) -> Callable[[httpx2.Client], Any]:
        body = {"name": f"R{i}", "resource_account": f"r{i}@{t.domain}", "country": "FR"}
        return lambda c: c.post(url, json=body, headers=t.admin.headers)

    results = race([create(i) for i in range(THREADS * 2)])
    assert all(r.status_code == 201 for r in results)
    verify = expect(
        world.client.get(f"/api/v1/tenants/{t.id}/audit-logs/verify", headers=t.admin.headers), 200
    )
    assert verify["ok"] and verify["records_checked"] == 2 + THREADS * 2
    assert _seqs(world, t.id) == list(range(1, 3 + THREADS * 2))


def _seqs(world: World, tenant_id: str) -> list[int]:
    with world.transaction(write=False) as session:
        return list(
            session.scalars(
                select(AuditRecord.seq)
                .where(AuditRecord.tenant_id == uuid.UUID(tenant_id))
                .order_by(AuditRecord.seq)
            )
        )


def test_concurrent_service_writes_keep_the_chain_whole(world: World) -> None:
    """Writers with their own transactions, straight through the service function."""
    t = world.tenant()
    tid = uuid.UUID(t.id)
    actor = Actor(uuid.UUID(t.admin.id), tid)
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            barrier.wait()
            for n in range(5):
                with world.transaction() as session:
                    record(
                        session,
                        tenant_id=tid,
                        actor=actor,
                        category=Category.ROOM,
                        operation=Operation.UPDATE,
                        object_name=f"writer {i} change {n}",
                    )
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert errors == []
    assert _seqs(world, t.id) == list(range(1, 3 + THREADS * 5))
    with world.transaction(write=False) as session:
        result = verify_chain(session, tid)
    assert result.ok and result.records_checked == 2 + THREADS * 5
