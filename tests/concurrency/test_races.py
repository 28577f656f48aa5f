"""Races the database must decide: concurrent requests through a real server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx2
from sqlalchemy import select

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


def test_two_global_admins_demoting_each_other_leave_one(world: World, live_url: str) -> None:
    t = world.tenant()
    second = world.user(t, ga=True)
    base = f"{live_url}/api/v1/tenants/{t.id}/users"
    calls = [
        lambda c: c.patch(f"{base}/{second.id}", json={"is_global_admin": False}, headers=t.admin.headers),
        lambda c: c.patch(f"{base}/{t.admin.id}", json={"is_global_admin": False}, headers=second.headers),
    ]
    statuses = sorted(r.status_code for r in race(calls))
    # The loser is refused either by the last-admin rule (409) or, having just been demoted, as
    # no longer a Global admin (403); never do both succeed.
    assert statuses in ([200, 403], [200, 409]), statuses
    with world.db.transaction(write=False) as session:
        admins = session.scalars(
            select(User.id).where(User.tenant_id == uuid.UUID(t.id), User.is_global_admin, User.is_active)
        ).all()
    assert len(admins) == 1


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
