"""Just-in-time elevation in Chromium (SPEC §4, §9): axe-core finds no serious or critical
violation on the partner's Eligible roles page (with a refused form too) or on the customer's
partner page with a running activation; Activate (Minutes, Justification) and End are reached
by their accessible names."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.factories import PASSWORD, World, expect
from tests.partners.test_elevation import reach, setup
from tests.portal import browser as plumbing

pytestmark = pytest.mark.browser


def test_activate_and_end_by_their_accessible_names(new_context: Callable, world: World) -> None:  # type: ignore[type-arg]
    s = setup(world, policy={"elevation.activate": "auto"})
    page = new_context().new_page()
    plumbing.sign_in(page, s.tech.upn, PASSWORD)
    page.goto("/partner/customers")
    page.get_by_role("link", name="Eligible roles").click()
    page.wait_for_url("**/partner/elevation")
    plumbing.assert_accessible(page)
    page.get_by_label("Minutes").fill("2")
    page.get_by_label("Justification").fill("Projector in room 4")
    page.get_by_role("button", name="Activate").click()
    assert page.get_by_role("alert").is_visible()
    plumbing.assert_accessible(page)
    page.get_by_label("Minutes").fill("15")
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url("**/partner/elevation?done=activated")
    assert reach(world, s) == 200
    plumbing.assert_accessible(page)
    # The customer ends it from the partner's page.
    customer = new_context().new_page()
    plumbing.sign_in(customer, s.c.admin.upn, PASSWORD)
    customer.goto(f"/t/{s.c.id}/partners/{s.link['id']}")
    plumbing.assert_accessible(customer)
    customer.get_by_role("button", name="End the activation").click()
    customer.wait_for_url("**?done=ended")
    assert reach(world, s) == 404
    (gone,) = expect(
        world.client.get(f"/api/v1/tenants/{s.c.id}/activations", headers=s.c.admin.headers), 200
    )["items"]
    assert gone["status"] == "ended"
