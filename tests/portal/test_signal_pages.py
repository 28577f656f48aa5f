"""The room page's Device and Signals (SPEC §9): the device a room reports from, each signal
with its state and since, Suppress (Reason, Until) and End suppression round trips through the
API's rules, and tickets showing their Source."""

from __future__ import annotations

from datetime import timedelta

from roomwarden.kit.time import utcnow
from tests.devices.helpers import enroll, report
from tests.factories import World, expect
from tests.portal.helpers import signed_in


def api(world: World, t, path: str):  # type: ignore[no-untyped-def]
    return expect(world.client.get(f"/api/v1/tenants/{t.id}{path}", headers=t.admin.headers), 200)


def test_device_signals_suppress_and_end_suppression(world: World, app) -> None:  # type: ignore[no-untyped-def]
    t = world.tenant()
    room = world.room(t)
    b = signed_in(world, app, t.admin)
    page = b.get(f"/t/{t.id}/rooms/{room['id']}")
    assert "No device has enrolled in this room." in page.text and ">Signals<" in page.text
    device = enroll(world, t, room["id"], serial="SN-PORTAL-1")
    report(world, device, {"display": "failed", "camera": "ok"})
    page = b.get(f"/t/{t.id}/rooms/{room['id']}")
    assert "SN-PORTAL-1" in page.text and "Console 7" in page.text
    assert '<th scope="row">Display</th>' in page.text and "Failed" in page.text
    suppress = f"/t/{t.id}/rooms/{room['id']}/signals/display/suppress"
    assert f'href="{suppress}"' in page.text
    form = b.get(suppress)
    assert (
        form.status_code == 200 and 'for="f-reason"' in form.text.replace('id="f-', 'for="f-')
    ) or "Reason" in form.text
    too_late = (utcnow() + timedelta(days=120)).date().isoformat()
    refused = b.post(suppress, {"reason": "Display ordered", "until": too_late})
    assert (
        refused.status_code == 422 and "90 days" in refused.text and 'value="Display ordered"' in refused.text
    )
    until = (utcnow() + timedelta(days=3)).date().isoformat()
    done = b.post(suppress, {"reason": "Display ordered", "until": until})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=suppressed")
    [row] = api(world, t, f"/rooms/{room['id']}/suppressions")["items"]
    assert row["signal"] == "display" and row["reason"] == "Display ordered"
    assert api(world, t, f"/rooms/{room['id']}")["health_state"] == "healthy"
    page = b.follow(done.headers["location"])
    assert "End suppression" in page.text
    end = b.post(f"/t/{t.id}/rooms/{room['id']}/signals/display/end-suppression", {})
    assert end.status_code == 303
    assert api(world, t, f"/rooms/{room['id']}/suppressions")["items"] == []
    tickets = b.get(f"/t/{t.id}/tickets?source=monitoring")
    assert (
        tickets.status_code == 200 and "Display not working" in tickets.text and "Monitoring" in tickets.text
    )
    assert b.get(f"/t/{t.id}/rooms?health=unhealthy").text.count(room["name"]) >= 1


def test_a_viewer_sees_signals_but_no_suppress(world: World, app) -> None:  # type: ignore[no-untyped-def]
    t = world.tenant()
    room = world.room(t)
    viewer = world.user(t)
    world.assign(t, world.role(t, ["rooms.view"]), users=[viewer], scope={"rooms": [room["id"]]})
    report(world, enroll(world, t, room["id"]), {"calendar": "failed"})
    b = signed_in(world, app, viewer)
    page = b.get(f"/t/{t.id}/rooms/{room['id']}")
    assert ">Signals<" in page.text and "Suppress<" not in page.text
    assert b.get(f"/t/{t.id}/rooms/{room['id']}/signals/calendar/suppress").status_code == 403
    assert b.get(f"/t/{t.id}/rooms/{room['id']}/signals/offline/suppress").status_code == 404
