"""Reports › Health and Usage in the portal: the API's figures drawn as SVG (role="img" with a
title and a description) with the same figures in the tables beside them, From/To checked
like the API's (422 with the message on the field), and Export CSV as the API's CSV; the
partner side per customer and in total."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from roomwarden.kit.time import utcnow
from tests.devices.helpers import REPORTS, enroll
from tests.factories import World, expect
from tests.partners.helpers import link
from tests.portal.helpers import error_of, signed_in
from tests.reports.helpers import Stretch, at, drive
from tests.rooms.helpers import base

DAY = (utcnow() - timedelta(days=3)).date()
RANGE = f"start={DAY - timedelta(days=2)}&end={DAY + timedelta(days=1)}"


def _fleet(world: World) -> Any:
    t = world.tenant()
    rooms = [world.room(t, time_zone="UTC") for _ in range(2)]
    drive(world, [Stretch(rooms[0]["id"], "camera", "failed", at("UTC", DAY, 9), at("UTC", DAY, 11))])
    device = enroll(world, t, rooms[1]["id"])
    start = at("UTC", DAY, 14)
    meetings = [
        {
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=90)).isoformat(),
            "participants": 5,
        }
    ]
    expect(
        world.client.post(REPORTS, json={"sequence": 1, "meetings": meetings}, headers=device.headers), 200
    )
    return t, rooms


def test_health_page_draws_the_apis_figures(world: World, app: Any) -> None:
    t, rooms = _fleet(world)
    b = signed_in(world, app, t.admin)
    page = b.get(f"/t/{t.id}/reports/health?{RANGE}")
    assert page.status_code == 200
    api = expect(world.client.get(f"{base(t)}/reports/health?{RANGE}", headers=t.admin.headers), 200)
    assert page.text.count('role="img"') == 2
    assert '<title id="chart-share-title">Share of healthy room-days per day' in page.text
    assert f"The lowest share was 0.0% on {DAY}" in page.text
    assert f"<td>{DAY}</td><td>1</td><td>0</td><td>0.0%</td>" in page.text
    assert f"<td>{rooms[0]['name']}</td><td>1</td><td>1</td>" in page.text
    assert "<td>camera</td><td>1</td>" in page.text
    assert api["unhealthy_room_days"] == 1 and 'aria-current="page">Health' in page.text
    csv = b.get(f"/t/{t.id}/reports/health.csv?{RANGE}")
    api_csv = world.client.get(f"{base(t)}/reports/health?{RANGE}&format=csv", headers=t.admin.headers)
    assert csv.headers["content-type"].startswith("text/csv") and csv.text == api_csv.text


def test_usage_page_draws_the_apis_figures(world: World, app: Any) -> None:
    t, rooms = _fleet(world)
    b = signed_in(world, app, t.admin)
    page = b.get(f"/t/{t.id}/reports/usage?{RANGE}")
    assert page.status_code == 200 and page.text.count('role="img"') == 2
    assert f"The busiest day was {DAY} with 1 meetings" in page.text
    assert f"<td>{DAY}</td><td>1</td><td>1.5</td>" in page.text
    assert f"<td>{rooms[1]['name']}</td><td>1</td><td>1.5</td>" in page.text
    assert re.search(
        r'<title id="chart-rooms-title">Rooms with the most hours: Room \d+ 1.5</title>', page.text
    )
    csv = b.get(f"/t/{t.id}/reports/usage.csv?{RANGE}")
    assert f"{rooms[1]['id']},{rooms[1]['name']},1,1.5" in csv.text.splitlines()


def test_bad_dates_answer_422_with_the_message_on_the_field(world: World, app: Any) -> None:
    t = world.tenant()
    b = signed_in(world, app, t.admin)
    page = b.get(f"/t/{t.id}/reports/health?start=2026-05-02&end=2026-05-01")
    assert page.status_code == 422 and "From must not be after To" in error_of(page, "start")
    page = b.get(f"/t/{t.id}/reports/usage.csv?start=2020-01-01&end=2026-01-01")
    assert page.status_code == 422 and "366 days" in error_of(page, "end")
    page = b.get(f"/t/{t.id}/reports/usage?start=soon")
    assert page.status_code == 422 and "2026-01-31" in error_of(page, "start")
    # Empty dates are the last 30 days.
    assert b.get(f"/t/{t.id}/reports/health").status_code == 200


def test_the_partner_sees_each_customer_and_the_total(world: World, app: Any) -> None:
    t, rooms = _fleet(world)
    p = world.tenant()
    link(world, t, p, scope={"rooms": [rooms[0]["id"]]})
    b = signed_in(world, app, p.admin)
    page = b.get(f"/partner/reports/health?{RANGE}")
    assert page.status_code == 200
    assert f"<td>{t.name}</td><td>{rooms[0]['name']}</td><td>1</td><td>1</td>" in page.text
    assert rooms[1]["name"] + "<" not in page.text
    usage = b.get(f"/partner/reports/usage?{RANGE}")
    assert usage.status_code == 200 and "No meetings on these days" in usage.text
    csv = b.get(f"/partner/reports/health.csv?{RANGE}").text.splitlines()
    assert csv[0] == "customer_id,customer,room_id,room,monitored_days,unhealthy_days" and len(csv) == 2
