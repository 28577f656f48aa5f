"""The seed's journey, end to end: invite → notify → accept → the partner manages an
in-scope room → cannot see an out-of-scope one → the customer adds a room → the partner
updates a ticket in it → the customer removes the partner → the partner sees nothing."""

from __future__ import annotations

from roomwarden.notifications.models import OutgoingMail
from tests.factories import World, expect
from tests.partners.helpers import accept, in_customer


def test_partner_journey(world: World) -> None:
    contoso, fabrikam = world.tenant("Contoso"), world.tenant("Fabrikam")
    us_room, us_room_2 = world.room(contoso, country="US"), world.room(contoso, country="US")
    de_room = world.room(contoso, country="DE")
    us = world.room_group(contoso, [us_room["id"], us_room_2["id"]], name="All US rooms")
    c = world.client

    # The MSA reviews and sends the invitation.
    body = {
        "partner_domain": fabrikam.domain,
        "expires_in_days": 14,
        "scope": {"room_groups": [us["id"]]},
        "approval_policy": {"ticket.update": "auto"},
        "terms_accepted": True,
    }
    review = expect(world.post(contoso, "/partner-invitations/review", body), 200)
    assert review["partner_name"] is None and review["scope"]["room_groups"] == [us["id"]]
    assert review["approval_policy"]["room.update"] == "auto" and review["id"] is None
    inv = expect(world.post(contoso, "/partner-invitations", body), 201)
    assert inv["status"] == "pending"

    # Fabrikam's admins are notified (queued for delivery after commit).
    with world.transaction(write=False) as session:
        mail = session.query(OutgoingMail).filter(OutgoingMail.to_address == fabrikam.admin.upn).all()
    assert len(mail) == 1 and "Contoso" in mail[0].subject

    # Fabrikam sees only high-level metadata and accepts.
    pending = expect(c.get("/api/v1/partner/invitations", headers=fabrikam.admin.headers), 200)["items"]
    assert [(p["customer_name"], p["scope_size"]) for p in pending] == [
        ("Contoso", {"all": False, "rooms": 0, "room_groups": 1})
    ]
    tech = world.user(fabrikam, name="tech")
    link = expect(accept(world, fabrikam.admin, inv["id"], [{"type": "user", "id": tech.id}]), 201)
    assert link["status"] == "active" and link["customer_name"] == "Contoso"

    # The primary admin manages an in-scope room and cannot see the out-of-scope one.
    expect(in_customer(world, contoso, tech, "PATCH", f"/rooms/{us_room['id']}", {"building": "B2"}), 200)
    assert in_customer(world, contoso, tech, "GET", f"/rooms/{de_room['id']}").status_code == 404
    listed = {r["id"] for r in expect(in_customer(world, contoso, tech, "GET", "/rooms"), 200)["items"]}
    assert listed == {us_room["id"], us_room_2["id"]}
    assert in_customer(world, contoso, tech, "GET", "/settings").status_code == 404

    # The customer adds a room to the delegation; the partner updates a ticket in it.
    expect(
        c.patch(
            f"/api/v1/tenants/{contoso.id}/partners/{link['id']}",
            json={"scope": {"room_groups": [us["id"]], "rooms": [de_room["id"]]}},
            headers=contoso.admin.headers,
        ),
        200,
    )
    ticket = world.incident(contoso, de_room["id"])
    updated = expect(
        in_customer(
            world,
            contoso,
            tech,
            "PATCH",
            f"/tickets/{ticket['id']}",
            {"status": "in_progress", "comment": "Fabrikam on site"},
        ),
        200,
    )
    assert updated["updates"][-1]["author_tenant_id"] == fabrikam.id

    # The customer removes the partner: from the next request on, nothing.
    assert (
        c.delete(
            f"/api/v1/tenants/{contoso.id}/partners/{link['id']}", headers=contoso.admin.headers
        ).status_code
        == 422
    )  # needs confirmation
    expect(
        c.delete(
            f"/api/v1/tenants/{contoso.id}/partners/{link['id']}?confirm=true", headers=contoso.admin.headers
        ),
        204,
    )
    for path in ("/rooms", f"/rooms/{us_room['id']}", f"/tickets/{ticket['id']}", "/reports/health"):
        assert in_customer(world, contoso, tech, "GET", path).status_code == 404
    assert expect(c.get("/api/v1/partner/customers", headers=tech.headers), 200)["items"] == []

    # The customer's audit log keeps the partner's records, with the partner's tenant.
    audit = expect(
        c.get(f"/api/v1/tenants/{contoso.id}/audit-logs?limit=200&order=asc", headers=contoso.admin.headers),
        200,
    )["items"]
    partner_records = [(r["category"], r["operation"]) for r in audit if r["user_tenant_id"] == fabrikam.id]
    assert ("PartnerInvitation", "Approve") in partner_records
    assert ("Room", "Update") in partner_records and ("Ticket", "Update") in partner_records
    assert any(r["category"] == "Partner" and r["operation"] == "Delete" for r in audit)
    assert expect(
        c.get(f"/api/v1/tenants/{contoso.id}/audit-logs/verify", headers=contoso.admin.headers), 200
    )["ok"]
