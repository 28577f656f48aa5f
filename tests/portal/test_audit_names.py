"""The audit log names its objects (issue 22, "Some audit object names are bare ids"): after
the everyday changes of a customer and its partner — rooms, groups, rings, roles and
assignments, users and security groups, tickets, a partner link and its scope, a held change
and its decision — no record's Object is a bare id, in the API's list and on the page."""

from __future__ import annotations

import re

from tests.approvals.helpers import ALL_MANUAL
from tests.factories import World, expect
from tests.partners.helpers import accept, invite
from tests.portal.helpers import signed_in

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_no_audit_object_is_a_bare_id(world: World, app) -> None:  # type: ignore[no-untyped-def]
    c, p = world.tenant(), world.tenant()
    api = f"/api/v1/tenants/{c.id}"
    h = c.admin.headers
    room = world.room(c, "DE")
    expect(world.client.patch(f"{api}/rooms/{room['id']}", json={"city": "Bonn"}, headers=h), 200)
    group = world.room_group(c, [room["id"]])
    expect(world.client.patch(f"{api}/room-groups/{group['id']}", json={"name": "Renamed"}, headers=h), 200)
    ring = expect(
        world.client.post(f"{api}/update-rings", json={"name": "Pilot", "deferral_days": 3}, headers=h), 201
    )
    expect(world.client.patch(f"{api}/update-rings/{ring['id']}", json={"deferral_days": 4}, headers=h), 200)
    role_id = world.role(c, ["rooms.view"])
    user = world.user(c)
    world.assign(c, role_id, users=[user])
    sg = expect(
        world.client.post(
            f"{api}/security-groups", json={"name": "Techs", "member_ids": [user.id]}, headers=h
        ),
        201,
    )
    expect(world.client.patch(f"{api}/security-groups/{sg['id']}", json={"member_ids": []}, headers=h), 200)
    incident = world.incident(c, room["id"])
    expect(
        world.client.patch(
            f"{api}/tickets/{incident['id']}", json={"status": "resolved", "comment": "done"}, headers=h
        ),
        200,
    )
    inv = invite(world, c, p, scope={"room_groups": [group["id"]]}, approval_policy=ALL_MANUAL)
    lk = expect(accept(world, p.admin, inv["id"]), 201)
    expect(
        world.client.patch(f"{api}/partners/{lk['id']}", json={"scope": {"rooms": [room["id"]]}}, headers=h),
        200,
    )
    held = world.client.patch(f"{api}/rooms/{room['id']}", json={"city": "Köln"}, headers=p.admin.headers)
    assert held.status_code == 202, held.text
    request_id = held.json()["id"]
    expect(world.client.post(f"{api}/approval-requests/{request_id}/approve", json={}, headers=h), 200)
    records = expect(world.client.get(f"{api}/audit-logs?limit=200", headers=h), 200)["items"]
    assert len(records) > 15
    bare = [
        (r["category"], r["operation"], r["object_name"]) for r in records if UUID.fullmatch(r["object_name"])
    ]
    assert bare == []
    page = signed_in(world, app, c.admin).get(f"/t/{c.id}/audit-log").text
    objects = re.findall(r"<td>([^<]*)</td>\s*<td>(?:Successful|Failed)</td>", page)
    assert objects and not [o for o in objects if UUID.fullmatch(o.strip())]
