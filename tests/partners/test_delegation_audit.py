"""A partner's delegation widened or narrowed through a room group its link names is recorded
on the link too (issue 9), not only as a change of the room group."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from roomwarden.audit.models import AuditRecord
from tests.factories import World, expect
from tests.partners.helpers import link


def _link_records(world: World, link_id: str) -> list[dict[str, Any]]:
    with world.transaction(write=False) as session:
        rows = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.object_id == link_id, AuditRecord.category == "Partner")
            .order_by(AuditRecord.seq)
        ).all()
        return [dict(r.details or {}, operation=r.operation, result=r.result_status) for r in rows]


def test_group_membership_changes_are_recorded_on_the_link(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    first, second = world.room(c), world.room(c)
    group = world.room_group(c, [first["id"]])
    unrelated = world.room_group(c, [])
    lk = link(world, c, p, {"room_groups": [group["id"]]})
    before = len(_link_records(world, lk["id"]))
    url = f"/api/v1/tenants/{c.id}/room-groups"
    expect(
        world.client.patch(
            f"{url}/{group['id']}", json={"room_ids": [first["id"], second["id"]]}, headers=c.admin.headers
        ),
        200,
    )
    expect(
        world.client.patch(
            f"{url}/{group['id']}", json={"room_ids": [second["id"]]}, headers=c.admin.headers
        ),
        200,
    )
    created = world.room(c, room_group_ids=[group["id"]])
    expect(
        world.client.patch(
            f"{url}/{unrelated['id']}", json={"room_ids": [first["id"]]}, headers=c.admin.headers
        ),
        200,
    )
    expect(world.client.patch(f"{url}/{group['id']}", json={"name": "Renamed"}, headers=c.admin.headers), 200)
    expect(world.client.delete(f"{url}/{group['id']}", headers=c.admin.headers), 204)
    records = _link_records(world, lk["id"])[before:]
    assert [(r["rooms_delegated"], r["rooms_withdrawn"]) for r in records] == [
        ([second["id"]], []),
        ([], [first["id"]]),
        ([created["id"]], []),
        ([], sorted([second["id"], created["id"]])),
    ]
    assert all(r["operation"] == "Update" and r["result"] == "Successful" for r in records)
    assert records[-1]["room_group_deleted"] is True
    assert {r["via_room_group"]["id"] for r in records} == {group["id"]}
