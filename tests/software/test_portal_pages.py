"""The portal's software pages: Update rings shows **Paused** and the versions its visible
rooms run, the ring form pauses and defers (0-60 days), a room shows its software, and the
release catalogue is listed for everyone signed in (the operator has no portal session)."""

from __future__ import annotations

import re

from tests.devices.helpers import enroll
from tests.factories import World, expect
from tests.portal.helpers import signed_in
from tests.rooms.helpers import base
from tests.software.helpers import component, publish, ring, send_software


def test_rings_page_shows_paused_versions_and_the_form_pauses(world: World, app) -> None:  # type: ignore[no-untyped-def]
    t = world.tenant()
    r = ring(world, t, 2)
    name = component()
    publish(world, name, "1.0")
    publish(world, name, "2.0", notes="Faster joins")
    for version in ("2.0", "1.0"):
        room = world.room(t, update_ring_id=r["id"])
        expect(send_software(world, enroll(world, t, room["id"]), {name: version}), 200)
    b = signed_in(world, app, t.admin)
    page = b.get(f"/t/{t.id}/update-rings").text
    row = re.search(rf"<tr>\s*<td>{r['name']}.*?</tr>", page, re.S)
    assert row is not None and "Paused" not in row.group(0) and "Active" in row.group(0)
    assert f"{name}</strong>: 2.0 (1 room), 1.0 (1 room); 1 current (2.0)" in row.group(0)
    assert "See the published releases" in page

    form = b.get(f"/t/{t.id}/update-rings/{r['id']}/edit").text
    assert 'name="paused"' in form and 'max="60"' in form
    too_long = b.post(f"/t/{t.id}/update-rings/{r['id']}/edit", {"name": r["name"], "deferral_days": "61"})
    assert too_long.status_code == 422 and 'id="e-deferral_days"' in too_long.text
    saved = b.post(
        f"/t/{t.id}/update-rings/{r['id']}/edit", {"name": r["name"], "deferral_days": "5", "paused": "on"}
    )
    assert saved.status_code == 303
    ring_read = expect(world.client.get(f"{base(t)}/update-rings/{r['id']}", headers=t.admin.headers), 200)
    assert ring_read["paused"] is True and ring_read["deferral_days"] == 5
    row = re.search(rf"<tr>\s*<td>{r['name']}.*?</tr>", b.get(f"/t/{t.id}/update-rings").text, re.S)
    assert row is not None and '<span class="tag">Paused</span>' in row.group(0)
    assert (
        'name="paused" type="checkbox" value="on" checked'
        in b.get(f"/t/{t.id}/update-rings/{r['id']}/edit").text
    )
    resumed = b.post(f"/t/{t.id}/update-rings/{r['id']}/edit", {"name": r["name"], "deferral_days": "5"})
    assert resumed.status_code == 303
    assert (
        expect(world.client.get(f"{base(t)}/update-rings/{r['id']}", headers=t.admin.headers), 200)["paused"]
        is False
    )


def test_a_room_shows_its_software(world: World, app) -> None:  # type: ignore[no-untyped-def]
    t = world.tenant()
    room = world.room(t)
    name = component()
    publish(world, name, "3.1")
    failed = [{"component": name, "version": "3.1", "status": "failed", "detail": "checksum mismatch"}]
    expect(send_software(world, enroll(world, t, room["id"]), {name: "3.0"}, failed), 200)
    page = signed_in(world, app, t.admin).get(f"/t/{t.id}/rooms/{room['id']}").text
    section = page[page.index('id="h-software"') :]
    assert name in section and "3.0" in section and "Outdated" in section
    assert "3.1: Failed (checksum mismatch)" in section


def test_the_releases_page_lists_the_catalogue_for_anyone_signed_in(world: World, app) -> None:  # type: ignore[no-untyped-def]
    name = component()
    publish(world, name, "0.9", notes="First of its name")
    t = world.tenant()
    nobody = world.user(t)  # no role: signed in is enough
    page = signed_in(world, app, nobody).get(f"/t/{t.id}/update-rings/releases")
    assert page.status_code == 200
    assert re.search(rf"<td>{name}</td>\s*<td>0.9</td>", page.text)
    assert "First of its name" in page.text
