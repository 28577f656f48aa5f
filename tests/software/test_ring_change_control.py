"""A partner pauses or defers a ring through its link's change control (``update_ring.change``):
held when the customer's policy says manual, applied (and offering nothing from the next report)
on approval, applied at once when it says auto."""

from __future__ import annotations

from tests.approvals.helpers import approve, as_user, linked, requests_of, ring_ids
from tests.factories import World, expect


def test_a_partners_pause_is_held_then_applied_on_approval(world: World) -> None:
    x = linked(world, {"update_ring.change": "manual"})
    ring = ring_ids(world, x.customer)["Validation"]
    held = as_user(world, x.customer, x.primary, "PATCH", f"/update-rings/{ring}", {"paused": True})
    assert held.status_code == 202, held.text
    [request] = requests_of(world, x.customer, "?status=pending")
    assert request["events"] == ["update_ring.change"]
    read = expect(as_user(world, x.customer, x.customer.admin, "GET", f"/update-rings/{ring}"), 200)
    assert read["paused"] is False  # nothing changes before the customer approves
    expect(approve(world, x.customer, request["id"]), 200)
    read = expect(as_user(world, x.customer, x.customer.admin, "GET", f"/update-rings/{ring}"), 200)
    assert read["paused"] is True


def test_a_partners_deferral_under_an_auto_policy_applies_at_once(world: World) -> None:
    x = linked(world, {"update_ring.change": "auto"})
    ring = ring_ids(world, x.customer)["General"]
    done = as_user(world, x.customer, x.primary, "PATCH", f"/update-rings/{ring}", {"deferral_days": 30})
    assert expect(done, 200)["deferral_days"] == 30
    too_long = as_user(world, x.customer, x.primary, "PATCH", f"/update-rings/{ring}", {"deferral_days": 61})
    assert too_long.status_code == 422
