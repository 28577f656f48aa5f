"""Just-in-time elevation in the portal (SPEC §4, §9): a partner user's **Activate**
(**Minutes**, **Justification**) and **End**, and the customer's **End** on the partner's page,
each read back through the API."""

from __future__ import annotations

from tests.factories import expect
from tests.partners.test_elevation import reach, setup
from tests.portal.helpers import signed_in


def test_a_partner_user_activates_and_the_customer_ends_it(world, app):  # type: ignore[no-untyped-def]
    s = setup(world)
    tech = signed_in(world, app, s.tech)
    page = tech.get("/partner/elevation")
    assert page.status_code == 200
    for label in (">Minutes</label>", ">Justification</label>", ">Activate<"):
        assert label in page.text, label
    url = f"/partner/elevation/{s.c.id}/{s.assignment_id}/activate"
    refused = tech.post(url, {"minutes": "600", "justification": "Ticket 7"})
    assert refused.status_code == 422 and 'value="600"' in refused.text
    done = tech.post(url, {"minutes": "20", "justification": "Ticket 7"})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=held")
    assert reach(world, s) == 404
    (held,) = expect(
        world.client.get(
            f"/api/v1/tenants/{s.c.id}/approval-requests?status=pending", headers=s.c.admin.headers
        ),
        200,
    )["items"]
    # The customer reads it in its approval queue like any held change.
    customer = signed_in(world, app, s.c.admin)
    queue = customer.get(f"/t/{s.c.id}/approvals")
    assert queue.status_code == 200 and "Activate an eligible partner role" in queue.text
    shown = customer.get(f"/t/{s.c.id}/approvals/{held['id']}")
    assert shown.status_code == 200 and "Ticket 7" in shown.text
    expect(
        world.client.post(
            f"/api/v1/tenants/{s.c.id}/approval-requests/{held['id']}/approve", headers=s.c.admin.headers
        ),
        200,
    )
    assert reach(world, s) == 200
    page = tech.get("/partner/elevation")
    assert "Active until" in page.text and ">End<" in page.text
    # The customer sees it on the partner's page and ends it.
    detail = customer.get(f"/t/{s.c.id}/partners/{s.link['id']}")
    assert "Activated roles" in detail.text and "Ticket 7" in detail.text
    (run,) = expect(
        world.client.get(f"/api/v1/tenants/{s.c.id}/activations?status=active", headers=s.c.admin.headers),
        200,
    )["items"]
    ended = customer.post(f"/t/{s.c.id}/activations/{run['id']}/end", {})
    assert ended.status_code == 303 and ended.headers["location"].endswith("?done=ended")
    assert reach(world, s) == 404
    assert "Activated roles" not in customer.get(f"/t/{s.c.id}/partners/{s.link['id']}").text


def test_the_member_ends_its_own_activation(world, app):  # type: ignore[no-untyped-def]
    s = setup(world, policy={"elevation.activate": "auto"})
    tech = signed_in(world, app, s.tech)
    done = tech.post(
        f"/partner/elevation/{s.c.id}/{s.assignment_id}/activate", {"minutes": "5", "justification": "x"}
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?done=activated")
    assert reach(world, s) == 200
    (run,) = expect(world.client.get(f"/api/v1/tenants/{s.c.id}/activations", headers=s.tech.headers), 200)[
        "items"
    ]
    ended = tech.post(f"/partner/elevation/{s.c.id}/activations/{run['id']}/end", {})
    assert ended.status_code == 303
    assert reach(world, s) == 404
