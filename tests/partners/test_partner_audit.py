"""Every partner step is written in the customer's audit log with the partner's tenant,
refused attempts included."""

from __future__ import annotations

from tests.factories import World, expect
from tests.partners.helpers import accept, in_customer, invite


def _log(world: World, customer) -> list[dict]:  # type: ignore[no-untyped-def]
    url = f"/api/v1/tenants/{customer.id}/audit-logs?limit=200&order=asc"
    return expect(world.client.get(url, headers=customer.admin.headers), 200)["items"]


def test_partner_steps_and_refusals_are_audited_in_the_customer(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    inside, outside = world.room(c), world.room(c)
    inv = invite(world, c, p, scope={"rooms": [inside["id"]]})
    expect(accept(world, p.admin, inv["id"]), 201)
    assert accept(world, p.admin, inv["id"]).status_code == 409  # refused: already accepted
    expect(in_customer(world, c, p.admin, "PATCH", f"/rooms/{inside['id']}", {"city": "Oslo"}), 200)
    assert (
        in_customer(world, c, p.admin, "PATCH", f"/rooms/{outside['id']}", {"city": "Oslo"}).status_code
        == 404
    )
    assert in_customer(world, c, p.admin, "POST", f"/rooms/{inside['id']}/reset-key").status_code == 403
    partner_rows = [
        (r["category"], r["operation"], r["result_status"], r["object_id"])
        for r in _log(world, c)
        if r["user_tenant_id"] == p.id
    ]
    assert partner_rows == [
        ("PartnerInvitation", "Approve", "Successful", inv["id"]),
        ("Partner", "Create", "Successful", partner_rows[1][3]),
        ("PartnerInvitation", "Approve", "Failed", inv["id"]),
        ("Room", "Update", "Successful", inside["id"]),
        ("Room", "Update", "Failed", outside["id"]),
        ("EnrollmentKey", "Update", "Failed", inside["id"]),
    ]
    assert all(r["tenant_id"] == c.id for r in _log(world, c))
    # an invitation's records are named by the partner, as its creation is, never by a bare id
    named = {
        r["object_name"]
        for r in _log(world, c)
        if r["category"] == "PartnerInvitation" and r["result_status"] == "Successful"
    }
    assert named == {p.name}, named
    # The partner's own tenant holds none of the customer's records.
    own = expect(
        world.client.get(f"/api/v1/tenants/{p.id}/audit-logs?limit=200&order=asc", headers=p.admin.headers),
        200,
    )["items"]
    assert all(r["category"] in ("Tenant", "User") for r in own)


def test_denied_and_revoked_invitations_are_recorded_by_the_partners_name(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    denied = invite(world, c, p)
    deny = f"/api/v1/partner/invitations/{denied['id']}/deny"
    expect(world.client.post(deny, headers=p.admin.headers), 200)
    revoked = invite(world, c, p)
    url = f"/api/v1/tenants/{c.id}/partner-invitations/{revoked['id']}"
    assert world.client.delete(url, headers=c.admin.headers).status_code in (200, 204)
    rows = {
        (r["operation"], r["object_id"]): r["object_name"]
        for r in _log(world, c)
        if r["category"] == "PartnerInvitation"
    }
    assert rows[("Reject", denied["id"])] == p.name and rows[("Delete", revoked["id"])] == p.name
