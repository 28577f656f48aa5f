"""Races over a link's end and over elevation, through a real server: renewals racing each
other and the expiry job's bookkeeping renew once, and the expiry is recorded once; a member's
activations racing each other start (or wait for approval) once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from roomwarden.audit.models import AuditRecord
from roomwarden.partners.expiry import sweep
from roomwarden.partners.models import Elevation, PartnerLink
from tests.concurrency.conftest import live_url  # noqa: F401
from tests.concurrency.test_races import race
from tests.factories import World, expect
from tests.partners.helpers import link
from tests.partners.test_elevation import setup


@pytest.mark.parametrize("round_", range(3))
def test_renewals_racing_the_expiry_job_renew_once_and_record_the_expiry_once(
    world: World,
    live_url: str,  # noqa: F811
    round_: int,
) -> None:
    c, p = world.tenant(), world.tenant()
    lk = link(world, c, p)
    with world.transaction() as session:
        session.execute(
            update(PartnerLink)
            .where(PartnerLink.id == uuid.UUID(lk["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    url = f"{live_url}/api/v1/tenants/{c.id}/partners/{lk['id']}/renew"

    def job(_client: object) -> int:
        with world.transaction() as session:
            return sweep(session)

    renewals = [lambda client: client.post(url, json={"expires_at": None}, headers=c.admin.headers)] * 3
    results = race([*renewals, job])
    assert sorted(r.status_code for r in results[:3]) == [200, 409, 409]
    read = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/partners/{lk['id']}", headers=c.admin.headers), 200
    )
    assert read["status"] == "active" and read["expires_at"] is None
    with world.transaction(write=False) as session:
        details = session.scalars(
            select(AuditRecord.details)
            .where(AuditRecord.tenant_id == uuid.UUID(c.id), AuditRecord.object_id == lk["id"])
            .order_by(AuditRecord.seq)
        ).all()
    transitions = [d["status"] for d in details if isinstance(d.get("status"), dict)]
    assert transitions == [{"from": "active", "to": "expired"}, {"from": "expired", "to": "active"}]
    assert expect(world.client.get(f"/api/v1/tenants/{c.id}/rooms", headers=p.admin.headers), 200)


@pytest.mark.parametrize("round_", range(3))
def test_double_activation_starts_one(world: World, live_url: str, round_: int) -> None:  # noqa: F811
    """Two activations of one eligible assignment by its member at once: one runs, the other
    is refused (409), under ``auto``; under ``manual`` one request waits, the other is 409."""
    for policy, ok in (({"elevation.activate": "auto"}, 201), (None, 202)):
        s = setup(world, policy=policy)
        url = f"{live_url}/api/v1/tenants/{s.c.id}/assignments/{s.assignment_id}/activate"
        body = {"minutes": 10, "justification": "race"}
        headers = s.tech.headers
        results = race([lambda client, u=url, b=body, h=headers: client.post(u, json=b, headers=h)] * 3)
        assert sorted(r.status_code for r in results) == [ok, 409, 409], [r.text for r in results]
        with world.transaction(write=False) as session:
            running = session.scalars(
                select(Elevation).where(Elevation.assignment_id == uuid.UUID(s.assignment_id))
            ).all()
        assert len(running) == (1 if ok == 201 else 0)
