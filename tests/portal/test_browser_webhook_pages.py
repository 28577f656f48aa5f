"""Settings → Webhooks in Chromium, by the names people and assistive technology read: Add
endpoint with its URL and event choices, the secret shown once with its copy hint, Send test
event, Deliveries, Rotate secret and Delete; axe finds no serious or critical violation on
any of these pages."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.factories import PASSWORD, World
from tests.portal import browser as plumbing
from tests.webhooks.helpers import deliver, deliverer, receiver

pytestmark = pytest.mark.browser


def test_webhooks_by_their_accessible_names(new_context: Callable, world: World) -> None:  # type: ignore[type-arg]
    t = world.tenant()
    page = new_context().new_page()
    plumbing.sign_in(page, t.admin.upn, PASSWORD)
    page.get_by_role("navigation").get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Webhooks", exact=True).click()
    page.get_by_role("heading", name="Webhooks", exact=True).wait_for()
    plumbing.assert_accessible(page)
    with receiver() as r:
        page.get_by_label("URL", exact=True).fill(r.url)
        page.get_by_label("webhook.test", exact=False).check()
        page.get_by_label("ticket.opened", exact=False).check()
        page.get_by_role("button", name="Add endpoint").click()
        page.get_by_text("it is not shown again").wait_for()
        plumbing.assert_accessible(page)
        secret = page.locator("#webhook-secret").inner_text()
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]{44}", secret)
        page.get_by_role("link", name="Go to the endpoint").click()
        page.get_by_role("heading", name="Deliveries").wait_for()
        page.get_by_role("button", name="Send test event").click()
        page.get_by_text("A test event is on its way.").wait_for()
        deliver(deliverer(world.db, world.settings), t)
        [body] = r.bodies(secret)
        assert body["type"] == "webhook.test"
        page.reload()
        assert page.get_by_role("cell", name="Succeeded").is_visible()
        plumbing.assert_accessible(page)
    page.get_by_role("button", name="Rotate secret").click()
    page.get_by_text("also signs every delivery for 24 hours").wait_for()
    assert page.locator("#webhook-secret").inner_text() != secret
    page.get_by_role("link", name="Go to the endpoint").click()
    page.get_by_role("link", name="Delete", exact=True).click()
    page.get_by_role("button", name="Delete", exact=True).wait_for()
    plumbing.assert_accessible(page)
    page.get_by_role("button", name="Delete", exact=True).click()
    page.wait_for_url("**/settings/webhooks?done=deleted")
    assert page.get_by_text("No endpoint yet.").is_visible()
