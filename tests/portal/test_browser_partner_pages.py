"""The partner-side pages in Chromium: axe-core finds no serious or critical violation on
any of them, an invitation is accepted and another denied by the controls' accessible names
(SPEC §9: Accept, Primary admins, Confirm, Deny), the Tenant control then offers the new
customer, and Invitations, All rooms and Customer health are photographed for the README
(docs/screenshots/)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import update

from roomwarden.rooms.models import Room
from tests.factories import PASSWORD, World, expect
from tests.partners.helpers import accept, invite
from tests.portal import browser as plumbing

pytestmark = pytest.mark.browser


def _health(world: World, room: dict, state: str) -> None:
    with world.transaction() as session:
        session.execute(update(Room).where(Room.id == uuid.UUID(room["id"])).values(reported_health=state))


@pytest.fixture
def msp(world: World):  # type: ignore[no-untyped-def]
    """Fabrikam manages rooms of Contoso (its US rooms) and Northwind (all of them); Woodgrove
    and Litware have invitations pending."""
    p = world.tenant(name=f"Fabrikam {world.tag}")
    contoso = world.tenant(name=f"Contoso {world.tag}")
    northwind = world.tenant(name=f"Northwind {world.tag}")
    us = [world.room(contoso, "US", city="Seattle"), world.room(contoso, "US", city="Boston")]
    world.room(contoso, "DE", city="Berlin")  # not delegated
    group = world.room_group(contoso, [r["id"] for r in us], name="All US rooms")
    nw = [world.room(northwind, "GB", city="London"), world.room(northwind, "KR", city="Seoul")]
    for room, state in ((us[0], "healthy"), (us[1], "degraded"), (nw[0], "unhealthy"), (nw[1], "healthy")):
        _health(world, room, state)
    link = expect(
        accept(world, p.admin, invite(world, contoso, p, scope={"room_groups": [group["id"]]})["id"]), 201
    )
    expect(accept(world, p.admin, invite(world, northwind, p)["id"]), 201)
    expect(
        world.client.patch(
            f"/api/v1/tenants/{contoso.id}/settings",
            json={"enable_all_tickets_view": True},
            headers=contoso.admin.headers,
        ),
        200,
    )
    ticket = world.incident(contoso, us[1]["id"])
    woodgrove, litware = (
        world.tenant(name=f"Woodgrove {world.tag}"),
        world.tenant(name=f"Litware {world.tag}"),
    )
    pending = [
        invite(
            world,
            woodgrove,
            p,
            scope={"rooms": [world.room(woodgrove)["id"]]},
            approval_policy={"room.update": "manual"},
        ),
        invite(world, litware, p),
    ]
    tech = world.user(p, name="tech")
    world.security_group(p, [tech])
    return p, {
        "contoso": contoso,
        "woodgrove": woodgrove,
        "litware": litware,
        "link": link,
        "ticket": ticket,
        "pending": pending,
    }


def test_every_partner_page_passes_axe(new_context: Callable, msp) -> None:  # type: ignore[no-untyped-def]
    p, o = msp
    page = new_context().new_page()
    plumbing.sign_in(page, p.admin.upn, PASSWORD)
    shots = {
        "/partner/invitations": "partner-invitations",
        "/partner/rooms": "partner-rooms",
        "/partner/health": "partner-health",
    }
    for path in (
        "/partner/invitations",
        f"/partner/invitations/{o['pending'][0]['id']}/accept",
        "/partner/customers",
        f"/partner/customers/{o['link']['id']}",
        f"/partner/customers/{o['link']['id']}/remove",
        "/partner/tenant-managers",
        "/partner/tickets",
        "/partner/tickets?status=sunny",
        "/partner/rooms",
        "/partner/rooms?health=healthy",
        "/partner/health",
        f"/partner/customers/{uuid.uuid4()}",
    ):
        page.goto(path)
        plumbing.assert_accessible(page)
        if path in shots:
            plumbing.screenshot(page, shots[path])
    # a refused form: the error summary and the field's error
    page.goto("/partner/tenant-managers")
    page.get_by_role("button", name="Add tenant manager").click()
    assert page.get_by_label("User", exact=True).get_attribute("aria-invalid") == "true"
    plumbing.assert_accessible(page)


def test_accept_and_deny_by_their_accessible_names(new_context: Callable, msp) -> None:  # type: ignore[no-untyped-def]
    p, o = msp
    page = new_context().new_page()
    plumbing.sign_in(page, p.admin.upn, PASSWORD)
    nav = page.get_by_role("navigation")
    for name in ("Invitations", "Customers", "All tickets", "All rooms", "Customer health"):
        assert nav.get_by_role("link", name=name, exact=True).is_visible(), name
    nav.get_by_role("link", name="Invitations", exact=True).click()
    woodgrove = page.get_by_role("row").filter(has_text=o["woodgrove"].name)
    woodgrove.get_by_role("button", name="Accept").click()
    admins = page.get_by_role("group", name="Primary admins")
    assert admins.is_visible()
    admins.get_by_role("checkbox", name=f"Admin ({p.admin.upn})").check()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/partner/customers/*?done=accepted")
    assert page.get_by_role("status").filter(has_text="You accepted the invitation").is_visible()
    # the new customer is in the Tenant control
    tenant = page.get_by_label("Tenant")
    tenant.select_option(o["woodgrove"].id)
    page.get_by_role("button", name="Switch").click()
    page.wait_for_url(f"**/t/{o['woodgrove'].id}/**")
    assert page.get_by_label("Tenant").input_value() == o["woodgrove"].id
    assert page.get_by_role("navigation").get_by_role("link", name="Rooms", exact=True).is_visible()
    # deny the other one
    page.get_by_role("navigation").get_by_role("link", name="Invitations", exact=True).click()
    litware = page.get_by_role("row").filter(has_text=o["litware"].name)
    litware.get_by_role("button", name="Deny").click()
    page.get_by_role("heading", name=f"Deny the invitation from {o['litware'].name}?").wait_for()
    page.get_by_role("main").get_by_role("button", name="Deny").click()
    page.wait_for_url("**/partner/invitations?done=denied*")
    assert (
        page.get_by_role("status")
        .filter(has_text=f"You denied the invitation from {o['litware'].name}")
        .is_visible()
    )
    assert page.get_by_role("button", name="Accept").count() == 0
    # the views across customers, by their names
    page.get_by_role("navigation").get_by_role("link", name="All rooms", exact=True).click()
    page.get_by_label("Customer").select_option(label=o["contoso"].name)
    page.get_by_label("Health").select_option("degraded")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**/partner/rooms?*health=degraded*")  # a click only starts the navigation
    assert page.locator("table.data tbody tr").count() == 1
    page.get_by_role("navigation").get_by_role("link", name="All tickets", exact=True).click()
    page.wait_for_url("**/partner/tickets")
    assert page.get_by_role("link", name=o["ticket"]["title"]).is_visible()
    page.get_by_role("navigation").get_by_role("link", name="Customer health", exact=True).click()
    page.wait_for_url("**/partner/health*")
    assert page.get_by_role("img", name="Rooms per health state for each customer").is_visible()


def test_remove_customer_by_its_accessible_names(new_context: Callable, msp) -> None:  # type: ignore[no-untyped-def]
    """SPEC §4's off-boarding by the partner: Remove customer, then Remove; Cancel first."""
    p, o = msp
    page = new_context().new_page()
    plumbing.sign_in(page, p.admin.upn, PASSWORD)
    page.get_by_role("navigation").get_by_role("link", name="Customers", exact=True).click()
    page.get_by_role("link", name=o["contoso"].name, exact=True).click()
    page.get_by_role("button", name="Remove customer").click()
    page.get_by_role("button", name="Remove", exact=True).wait_for()  # the confirmation has come
    assert page.get_by_role("heading", name=f"Remove the customer {o['contoso'].name}?").is_visible()
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(f"**/partner/customers/{o['link']['id']}")
    page.get_by_role("button", name="Remove customer").click()
    page.get_by_role("button", name="Remove", exact=True).click()
    page.wait_for_url("**/partner/customers?done=removed")
    assert page.get_by_role("status").filter(has_text="The customer was removed").is_visible()
    assert page.get_by_role("link", name=o["contoso"].name, exact=True).count() == 0
    assert o["contoso"].name not in page.get_by_label("Tenant").locator("option").all_inner_texts()
