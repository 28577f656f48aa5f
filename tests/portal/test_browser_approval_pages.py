"""The change-control pages of both sides in Chromium, driven by their accessible names: a
partner's room rename in the portal is held and says so; the customer filters, reads the
before/after and approves or rejects with a Reason; the partner cancels; axe-core finds no
serious or critical violation on any of these pages."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.approvals.helpers import as_user, linked
from tests.factories import PASSWORD, World, expect
from tests.portal import browser as plumbing

pytestmark = pytest.mark.browser


def test_approval_pages_of_both_sides(new_context: Callable, world: World) -> None:  # type: ignore[no-untyped-def]
    ln = linked(world)
    room = world.room(ln.customer, "DE", city="Berlin")
    other = world.room(ln.customer, "US", city="Boston")
    cancel_me = expect(
        as_user(world, ln.customer, ln.primary, "PATCH", f"/rooms/{other['id']}", {"city": "Austin"}), 202
    )

    # the partner renames a room through the room's edit page: held, and it says so
    partner = new_context().new_page()
    plumbing.sign_in(partner, ln.primary.upn, PASSWORD)
    partner.goto(f"/t/{ln.customer.id}/rooms/{room['id']}/edit")
    partner.get_by_label("Room name").fill("Spree")
    partner.get_by_role("button", name="Save changes").click()
    partner.wait_for_url("**/partner/approval-requests/*?done=held")
    assert partner.get_by_role("status").filter(has_text="waiting for the approval of").is_visible()
    plumbing.assert_accessible(partner)

    # the customer finds it by its filters, reads the change and approves it
    customer = new_context().new_page()
    plumbing.sign_in(customer, ln.customer.admin.upn, PASSWORD)
    customer.get_by_role("navigation").get_by_role("link", name="Approvals", exact=True).click()
    customer.wait_for_url(f"**/t/{ln.customer.id}/approvals")
    plumbing.assert_accessible(customer)
    customer.get_by_label("Status").select_option("pending")
    customer.get_by_label("Event").select_option("room.update")
    customer.get_by_label("Partner").select_option(ln.partner.id)
    customer.get_by_label("Room").select_option(room["id"])
    customer.get_by_role("button", name="Apply filters").click()
    customer.wait_for_url("**/approvals?*")
    assert customer.locator("#requests tbody tr").count() == 1
    plumbing.assert_accessible(customer)
    customer.get_by_role("link", name="Change a room").click()
    change = customer.get_by_role("table").filter(has_text="Before")
    assert change.get_by_role("row", name="Name").is_visible()
    assert "Spree" in change.get_by_role("row", name="Name").inner_text()
    plumbing.assert_accessible(customer)
    plumbing.screenshot(customer, "approval-request")
    customer.get_by_role("button", name="Approve").click()
    customer.wait_for_url("**?done=approved")
    assert customer.get_by_text("The request was approved and the change applied.").is_visible()
    plumbing.assert_accessible(customer)
    got = world.client.get(
        f"/api/v1/tenants/{ln.customer.id}/rooms/{room['id']}", headers=ln.customer.admin.headers
    )
    assert expect(got, 200)["name"] == "Spree"

    # a rejection needs a Reason; the refused form says so next to the field
    second = expect(
        as_user(world, ln.customer, ln.primary, "PATCH", f"/rooms/{room['id']}", {"city": "Potsdam"}), 202
    )
    customer.goto(f"/t/{ln.customer.id}/approvals/{second['id']}")
    customer.get_by_label("Reason").fill("   ")
    customer.get_by_role("button", name="Reject").click()
    assert customer.get_by_label("Reason").get_attribute("aria-invalid") == "true"
    plumbing.assert_accessible(customer)
    customer.get_by_label("Reason").fill("Berlin stays")
    customer.get_by_role("button", name="Reject").click()
    customer.wait_for_url("**?done=rejected")
    assert customer.get_by_text("Berlin stays").is_visible()
    plumbing.assert_accessible(customer)

    # the partner's requests: the outcome of each, and Cancel on the waiting one
    partner.get_by_role("navigation").get_by_role("link", name="Approval requests").click()
    partner.wait_for_url("**/partner/approval-requests")
    plumbing.assert_accessible(partner)
    plumbing.screenshot(partner, "partner-approval-requests")
    assert partner.get_by_role("row").filter(has_text="Berlin stays").is_visible()
    waiting = partner.get_by_role("row").filter(has_text=other["name"])
    waiting.get_by_role("button", name="Cancel").click()
    partner.wait_for_url(f"**/partner/approval-requests/{cancel_me['id']}?done=cancelled")
    assert partner.get_by_text("The request was cancelled; nothing was applied.").is_visible()
    plumbing.assert_accessible(partner)
    partner.goto(f"/partner/approval-requests?customer={ln.customer.id}&status=cancelled")
    assert partner.locator("#requests tbody tr").count() == 1
    plumbing.assert_accessible(partner)
