"""The partner lifecycle's events of SPEC §13 are recorded in the transaction of their change:
a link's end reached, its renewal, a reminder before it, an activation and its early end, and
every kind of held request (an activation, a partner group's members) as requested and
decided — with ids only, and for the customer (the partner hears them through its link)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from roomwarden.events.models import EventRecord
from tests.approvals.helpers import reject, requests_of
from tests.approvals.test_partner_groups import _setup as group_setup
from tests.factories import TenantH, World, expect
from tests.partners.helpers import in_customer
from tests.partners.test_elevation import activate, setup
from tests.partners.test_expiry import _linked, _set_end, _sweep


def _events(world: World, c: TenantH, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    with world.transaction(write=False) as session:
        rows = session.scalars(
            select(EventRecord)
            .where(EventRecord.tenant_id == uuid.UUID(c.id), EventRecord.type.startswith(prefix))
            .order_by(EventRecord.occurred_at, EventRecord.id)
        ).all()
        return [(r.type, dict(r.data)) for r in rows]


def test_a_links_reminder_expiry_and_renewal_are_events(world: World) -> None:
    c, p, lk = _linked(world)
    url = f"/api/v1/tenants/{c.id}/partners/{lk['id']}"
    soon = datetime.now(UTC) + timedelta(days=5)
    expect(world.client.patch(url, json={"expires_at": soon.isoformat()}, headers=c.admin.headers), 200)
    _sweep(world)  # the 7-day reminder
    expiring = [d for t, d in _events(world, c, "partner.link.") if t == "partner.link.expiring"]
    assert expiring and expiring[0]["link_id"] == lk["id"] and expiring[0]["partner_tenant_id"] == p.id
    assert set(expiring[0]) == {"link_id", "partner_tenant_id", "expires_at"}
    _set_end(world, lk["id"], datetime.now(UTC) - timedelta(minutes=1))
    _sweep(world)
    assert ("partner.link.expired", {"link_id": lk["id"], "partner_tenant_id": p.id}) in _events(
        world, c, "partner.link."
    )
    later = datetime.now(UTC) + timedelta(days=60)
    renew = world.client.post(f"{url}/renew", json={"expires_at": later.isoformat()}, headers=c.admin.headers)
    expect(renew, 200)
    renewed = [d for t, d in _events(world, c, "partner.link.") if t == "partner.link.renewed"]
    assert len(renewed) == 1 and renewed[0]["link_id"] == lk["id"] and renewed[0]["expires_at"]


def test_an_activation_and_its_early_end_are_events(world: World) -> None:
    s = setup(world, policy={"elevation.activate": "auto"})
    started = expect(activate(world, s, minutes=5), 201)
    expect(in_customer(world, s.c, s.tech, "DELETE", f"/activations/{started['id']}"), 204)
    events = _events(world, s.c, "elevation.")
    assert [t for t, _ in events] == ["elevation.activated", "elevation.ended"]
    activated, ended = events[0][1], events[1][1]
    assert activated["activation_id"] == started["id"] and activated["user_id"] == s.tech.id
    assert activated["assignment_id"] == s.assignment_id and activated["ends_at"]
    assert ended == {"assignment_id": s.assignment_id, "activation_id": started["id"], "user_id": s.tech.id}
    assert "Ticket 42" not in str(events)  # the justification is the member's own words


def _approval_events(world: World, c: TenantH, request_id: str) -> list[str]:
    return [t for t, d in _events(world, c, "approval.") if d["approval_request_id"] == request_id]


def test_a_held_activation_is_announced_as_requested_then_decided(world: World) -> None:
    s = setup(world)  # elevation.activate is manual by default
    held = activate(world, s)
    assert held.status_code == 202, held.text
    request_id = held.json()["id"]
    assert _approval_events(world, s.c, request_id) == ["approval.requested"]
    url = f"/api/v1/tenants/{s.c.id}/approval-requests/{request_id}/approve"
    expect(world.client.post(url, headers=s.c.admin.headers), 200)
    assert _approval_events(world, s.c, request_id) == ["approval.requested", "approval.approved"]


def test_a_held_partner_group_change_is_announced_as_requested(world: World) -> None:
    x, group, _, _ = group_setup(world)
    c, p = x.customer, x.partner
    url = f"/api/v1/tenants/{p.id}/security-groups/{group}"
    expect(world.client.patch(url, json={"member_ids": [world.user(p).id]}, headers=p.admin.headers), 200)
    [held] = [r for r in requests_of(world, c, "?status=pending") if r["action"] == "group_members.update"]
    assert _approval_events(world, c, held["id"]) == ["approval.requested"]
    expect(reject(world, c, held["id"]), 200)
    assert _approval_events(world, c, held["id"]) == ["approval.requested", "approval.rejected"]


def test_an_activation_whose_time_runs_out_is_ended_and_announced_once(world: World) -> None:
    s = setup(world, policy={"elevation.activate": "auto"})
    started = expect(activate(world, s, minutes=5), 201)
    assert _sweep(world) == 0  # still running
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert _sweep(world, later) == 1
    assert _sweep(world, later) == 0  # announced once
    events = _events(world, s.c, "elevation.")
    assert [t for t, _ in events] == ["elevation.activated", "elevation.ended"]
    ended = {"assignment_id": s.assignment_id, "activation_id": started["id"], "user_id": s.tech.id}
    assert events[1][1] == ended
    listed = world.client.get(f"/api/v1/tenants/{s.c.id}/activations", headers=s.c.admin.headers)
    [read] = expect(listed, 200)["items"]
    assert read["status"] == "ended" and read["ended_at"] == started["ends_at"]
