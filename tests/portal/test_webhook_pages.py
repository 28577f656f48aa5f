"""The portal's Settings → Webhooks pages: add an endpoint with its events (the secret shown
once, with a copy hint), send a test event to a real receiver, see its delivery, retry one,
rotate the secret and delete the endpoint; a refused URL is shown next to its field with
nothing saved. Who may open the pages at all is in the page matrix (test_page_matrix.py)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import func, select

from roomwarden.webhooks.models import WebhookEndpoint
from tests.factories import World, expect
from tests.portal.helpers import error_of, signed_in
from tests.webhooks.helpers import deliver, deliverer, receiver


def _count(world: World, tenant_id: str) -> int:
    with world.transaction() as s:
        q = (
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.tenant_id == uuid.UUID(tenant_id))
        )
        return int(s.scalar(q) or 0)


def test_a_global_admin_manages_an_endpoint_from_settings(world: World, app: Any) -> None:
    t = world.tenant()
    browser = signed_in(world, app, t.admin)
    settings = browser.get(f"/t/{t.id}/settings")
    assert f'href="/t/{t.id}/settings/webhooks">Webhooks</a>' in settings.text
    page = browser.get(f"/t/{t.id}/settings/webhooks")
    assert page.status_code == 200 and "<h1>Webhooks</h1>" in page.text
    assert ">Add endpoint</h2>" in page.text and ">URL</label>" in page.text
    assert 'value="ticket.opened"' in page.text and 'value="webhook.test"' in page.text
    with receiver() as r:
        added = browser.post(
            f"/t/{t.id}/settings/webhooks", {"url": r.url, "events": ["webhook.test", "ticket.opened"]}
        )
        assert added.status_code == 200, added.text
        assert added.headers["cache-control"] == "no-store"
        secret = re.search(r'<code id="webhook-secret">(whsec_[^<]+)</code>', added.text).group(1)  # type: ignore[union-attr]
        assert "it is not shown again" in added.text
        [hook] = expect(world.client.get(f"/api/v1/tenants/{t.id}/webhooks", headers=t.admin.headers), 200)[
            "items"
        ]
        assert hook["events"] == ["ticket.opened", "webhook.test"]
        detail_url = f"/t/{t.id}/settings/webhooks/{hook['id']}"
        detail = browser.get(detail_url)
        assert secret not in detail.text
        for label in ("Send test event", "Rotate secret", "Delete", "Deliveries"):
            assert label in detail.text
        sent = browser.post(f"{detail_url}/test")
        assert sent.status_code == 303
        deliver(deliverer(world.db, world.settings), t)
        [body] = r.bodies(secret)
        assert body["type"] == "webhook.test"
        shown = browser.get(detail_url)
        assert "webhook.test" in shown.text and "Succeeded" in shown.text and "204" in shown.text
        # a failed delivery offers Retry
        r.status = 500
        browser.post(f"{detail_url}/test")
        deliver(deliverer(world.db, world.settings, webhook_retry_schedule=[]), t)
        failed = browser.get(detail_url)
        retry = re.search(r'action="([^"]+/retry)"', failed.text)
        assert retry and "Failed" in failed.text
        r.status = 200
        assert browser.post(retry.group(1)).status_code == 303
        deliver(deliverer(world.db, world.settings), t)
        assert len(r.bodies(secret)) == 3
    rotated = browser.post(f"{detail_url}/rotate")
    assert rotated.status_code == 200
    new = re.search(r'<code id="webhook-secret">(whsec_[^<]+)</code>', rotated.text).group(1)  # type: ignore[union-attr]
    assert new != secret and "also signs every delivery for 24 hours" in rotated.text
    confirm = browser.get(f"{detail_url}/delete")
    assert confirm.status_code == 200 and ">Delete</button>" in confirm.text
    gone = browser.post(f"{detail_url}/delete")
    assert gone.status_code == 303 and _count(world, t.id) == 0


def test_a_refused_url_is_shown_next_to_its_field(world: World, app: Any) -> None:
    t = world.tenant()
    browser = signed_in(world, app, t.admin)
    browser.get(f"/t/{t.id}/settings/webhooks")
    refused = browser.post(
        f"/t/{t.id}/settings/webhooks", {"url": "ftp://files.example.com/", "events": ["webhook.test"]}
    )
    assert refused.status_code == 422
    assert "https://" in error_of(refused, "url")
    no_events = browser.post(f"/t/{t.id}/settings/webhooks", {"url": "https://hooks.invalid/x"})
    assert no_events.status_code == 422 and error_of(no_events, "events")
    assert _count(world, t.id) == 0


def test_people_without_settings_modify_see_no_webhooks(world: World, app: Any) -> None:
    t = world.tenant()
    reader = world.user(t)
    browser = signed_in(world, app, reader)
    assert browser.get(f"/t/{t.id}/settings/webhooks").status_code == 403
