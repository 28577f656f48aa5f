"""Reports › Health and Usage in Chromium, for a customer and for its partner: axe-core finds
no serious or critical violation, and the charts are photographed for the docs
(docs/screenshots/reports-health.png, reports-usage.png)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from roomwarden.kit.time import utcnow
from roomwarden.reports.rollup import ensure_days
from tests.devices.helpers import REPORTS, enroll
from tests.factories import PASSWORD, World, expect
from tests.partners.helpers import link
from tests.portal import browser as plumbing
from tests.reports.helpers import Stretch, at, drive

pytestmark = pytest.mark.browser
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]
CITIES = ["Berlin", "New York", "Tokyo", "London"]


@pytest.fixture
def fleet(world: World):  # type: ignore[no-untyped-def]
    """Eight rooms with two weeks of monitoring and meetings, some days worse than others."""
    rng = random.Random(19)
    t = world.tenant(name=f"Contoso {world.tag}")
    today = utcnow().date()
    first = today - timedelta(days=13)
    rooms, stretches = [], []
    for i in range(8):
        zone = ZONES[i % len(ZONES)]
        room = world.room(t, "DE", city=CITIES[i % len(CITIES)], time_zone=zone)
        rooms.append(room)
        for d in range(14):
            day = first + timedelta(days=d)
            if rng.random() < 0.25:
                start = at(zone, day, rng.randint(6, 18), rng.choice((0, 15, 30)))
                signal = rng.choice(("display", "camera", "network", "calendar"))
                stretches.append(
                    Stretch(
                        room["id"], signal, "failed", start, start + timedelta(minutes=rng.randint(10, 180))
                    )
                )
        device = enroll(world, t, room["id"])
        meetings = []
        for d in range(14):
            day = first + timedelta(days=d)
            for h in sorted(rng.sample(range(8, 18), rng.randint(0, 5) if day.weekday() < 5 else 0)):
                start = at(zone, day, h)
                if start + timedelta(hours=1) < utcnow():
                    end = start + timedelta(minutes=rng.choice((30, 45, 60)))
                    meetings.append(
                        {
                            "started_at": start.isoformat(),
                            "ended_at": end.isoformat(),
                            "participants": rng.randint(2, 9),
                        }
                    )
        expect(
            world.client.post(REPORTS, json={"sequence": 1, "meetings": meetings}, headers=device.headers),
            200,
        )
    drive(world, [s for s in stretches if s.end < utcnow()])
    # Each device reported on every one of the days (its first report of a day marks it).
    with world.transaction() as session:
        for room in rooms:
            days = [first + timedelta(days=d) for d in range(14)]
            ensure_days(session, uuid.UUID(t.id), uuid.UUID(room["id"]), days)
    partner = world.tenant(name=f"Fabrikam {world.tag}")
    link(world, t, partner, scope={"rooms": [r["id"] for r in rooms[:4]]})
    return t, partner, f"start={first}&end={today}"


def test_report_pages_pass_axe_and_are_photographed(new_context: Callable, fleet) -> None:  # type: ignore[no-untyped-def]
    t, partner, dates = fleet
    page = new_context().new_page()
    plumbing.sign_in(page, t.admin.upn, PASSWORD)
    for path, shot in (
        (f"/t/{t.id}/reports/health?{dates}", "reports-health"),
        (f"/t/{t.id}/reports/usage?{dates}", "reports-usage"),
    ):
        page.goto(path)
        assert page.locator('svg[role="img"]').count() == 2
        plumbing.assert_accessible(page)
        plumbing.screenshot(page, shot)
    page.goto(f"/t/{t.id}/reports/health?start=2026-05-02&end=2026-05-01")
    assert page.get_by_label("From").get_attribute("aria-invalid") == "true"
    plumbing.assert_accessible(page)
    # From, To and Show by their accessible names.
    page.goto(f"/t/{t.id}/reports/usage")
    page.get_by_label("From").fill((utcnow().date() - timedelta(days=6)).isoformat())
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/reports/usage?start=*")
    assert page.locator("table.data").first.locator("tbody tr").count() == 7
    other = new_context().new_page()
    plumbing.sign_in(other, partner.admin.upn, PASSWORD)
    for path in (f"/partner/reports/health?{dates}", f"/partner/reports/usage?{dates}"):
        other.goto(path)
        plumbing.assert_accessible(other)
