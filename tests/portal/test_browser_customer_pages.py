"""The customer pages in Chromium: axe-core finds no serious or critical violation on any of
them, a whole task is done with the keyboard alone, and the main pages are photographed
for the README (docs/screenshots/)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import PASSWORD, World
from tests.partners.helpers import link
from tests.portal import browser as plumbing

pytestmark = pytest.mark.browser


@pytest.fixture
def fleet(world: World):  # type: ignore[no-untyped-def]
    t = world.tenant(name=f"Contoso {world.tag}")
    rooms = [
        world.room(t, "US", city="Seattle", building="North"),
        world.room(t, "DE", city="Berlin"),
        world.room(t, "KR", city="Seoul"),
    ]
    group = world.room_group(t, [rooms[0]["id"]], name="All US rooms")
    ticket = world.incident(t, rooms[1]["id"])
    role = world.role(t, ["rooms.view", "tickets.view"], name="Help desk")
    user = world.user(t, name="dana")
    world.assign(t, role, users=[user], scope={"room_groups": [group["id"]]})
    partner = world.tenant(name=f"Fabrikam {world.tag}")
    lk = link(world, t, partner, scope={"room_groups": [group["id"]]})
    objects = {"rooms": rooms, "group": group, "ticket": ticket, "role": role, "user": user, "link": lk}
    return t, objects


def test_every_customer_page_passes_axe(new_context: Callable, fleet) -> None:  # type: ignore[no-untyped-def]
    t, o = fleet
    page = new_context().new_page()
    page.goto("/login")
    plumbing.assert_accessible(page)
    plumbing.screenshot(page, "sign-in")
    plumbing.sign_in(page, t.admin.upn, PASSWORD)
    base = f"/t/{t.id}"
    room = o["rooms"][1]["id"]
    partner = f"/partners/{o['link']['id']}"
    shots = {
        "/rooms": "rooms",
        f"/rooms/{room}": "room",
        "/reports": "reports",
        "/roles": "roles",
        "/partners": "partners",
        "/audit-log": "audit-log",
    }
    for path in (
        "/rooms",
        "/rooms?country=XX",
        "/rooms/new",
        f"/rooms/{room}",
        f"/rooms/{room}/edit",
        f"/rooms/{room}/reset-key",
        "/room-groups",
        f"/room-groups/{o['group']['id']}",
        f"/room-groups/{o['group']['id']}/edit",
        "/room-groups/new",
        "/rooms?sort=-city",
        "/update-rings",
        "/update-rings/new",
        "/update-rings/releases",
        "/tickets",
        "/tickets?sort=title",
        f"/tickets/{o['ticket']['id']}",
        "/incidents/new",
        "/reports",
        "/roles",
        f"/roles/{o['role']}",
        "/roles/new",
        f"/roles/{o['role']}/assignments/new",
        "/settings",
        "/users",
        "/users?sort=upn",
        "/sign-in-settings",
        f"/users/{o['user'].id}",
        "/security-groups",
        "/security-groups/new",
        "/approvals",
        "/approvals?sort=requested",
        "/partners",
        "/partners/new",
        partner,
        f"{partner}?room={o['rooms'][0]['id']}",
        f"{partner}/remove",
        "/audit-log",
        "/audit-log?verify=1",
        "/audit-log?sort=category",
        "/audit-log?start=yesterday",
        f"/users/{o['user'].id}?room={o['rooms'][0]['id']}",
        "/no-such-page",
        "/account",
    ):
        page.goto(path if path in ("/no-such-page", "/account") else base + path)
        plumbing.assert_accessible(page)
        if path in shots:
            plumbing.screenshot(page, shots[path])
    # a refused form: the error summary and the field errors
    page.goto(f"{base}/update-rings/new")
    page.get_by_label("Ring name").fill("Pilot")
    page.get_by_label("Deferral in days").fill("400")
    page.get_by_role("button", name="Add ring").click()
    assert page.get_by_label("Ring name").input_value() == "Pilot"
    assert page.get_by_label("Deferral in days").get_attribute("aria-invalid") == "true"
    plumbing.assert_accessible(page)


def test_keyboard_only_sign_in_filter_and_open_an_incident(new_context: Callable, fleet) -> None:  # type: ignore[no-untyped-def]
    t, o = fleet
    page = new_context().new_page()
    page.goto("/login")
    plumbing.tab_to(page, "el.id === 'f-email'")
    assert plumbing.focus_is_visible(page)
    page.keyboard.type(t.admin.upn)
    page.keyboard.press("Enter")  # Next
    page.wait_for_selector("#f-password")
    plumbing.tab_to(page, "el.id === 'f-password'")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")  # Sign in
    page.get_by_role("heading", name="Home", level=1).wait_for()  # signed in, Home
    plumbing.tab_to(page, "el.closest('nav') && el.textContent.trim() === 'Rooms'")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/t/{t.id}/rooms")
    # the skip link is the first stop and moves past the navigation
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    assert plumbing.focus_is_visible(page)
    page.keyboard.press("Enter")
    plumbing.tab_to(page, "el.id === 'f-q'")
    page.keyboard.type(o["rooms"][1]["name"])
    page.keyboard.press("Enter")
    page.wait_for_url("**/rooms?q=*")
    rows = page.locator("table.data tbody tr")
    assert rows.count() == 1
    plumbing.tab_to(page, f"el.textContent === {o['rooms'][1]['name']!r}")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/rooms/{o['rooms'][1]['id']}")
    plumbing.tab_to(page, "el.textContent === 'Open an incident'")
    page.keyboard.press("Enter")
    page.wait_for_selector("#f-title")
    plumbing.tab_to(page, "el.id === 'f-title'")
    page.keyboard.type("Display flickers")
    plumbing.tab_to(page, "el.tagName === 'BUTTON' && el.textContent === 'Open incident'")
    page.keyboard.press("Enter")
    page.wait_for_url("**/tickets/*?done=created")
    assert page.get_by_role("heading", name="Display flickers").is_visible()
    plumbing.screenshot(page, "ticket")
    # and out again, by the keyboard
    page.get_by_role("button", name="Sign out").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/signed-out")
    assert page.get_by_text("You have signed out.").is_visible()


def test_the_tenant_control_and_navigation_by_their_names(new_context: Callable, fleet) -> None:  # type: ignore[no-untyped-def]
    t, _ = fleet
    page = new_context().new_page()
    plumbing.sign_in(page, t.admin.upn, PASSWORD)
    nav = page.get_by_role("navigation")
    for name in ("Rooms", "Room groups", "Update rings", "Reports", "Roles", "Approvals", "Settings"):
        assert nav.get_by_role("link", name=name, exact=True).is_visible(), name
    tenant = page.get_by_label("Tenant")
    assert tenant.input_value() == t.id
    page.get_by_role("button", name="Switch").click()
    page.wait_for_url(f"**/t/{t.id}/**")
    nav.get_by_role("link", name="Reports", exact=True).click()
    assert (
        page.get_by_role("img", name="Rooms per health state").is_visible()
        or page.locator("svg.chart").count() == 2
    )
    rooms = page.get_by_role("navigation").get_by_role("link", name="Rooms", exact=True)
    rooms.click()
    for label in ("Search", "Country", "Room group", "Update ring", "Health"):
        assert page.get_by_label(label, exact=True).is_visible(), label


def test_partners_and_audit_log_by_their_accessible_names(new_context: Callable, world: World, fleet) -> None:  # type: ignore[no-untyped-def]
    """SPEC §9's names: Add partner, the wizard's fields, Review, Send invitation; Remove
    partner and Remove; From, To, Export CSV and Verify."""
    t, o = fleet
    invited = world.tenant()
    page = new_context().new_page()
    plumbing.sign_in(page, t.admin.upn, PASSWORD)
    page.get_by_role("navigation").get_by_role("link", name="Partners", exact=True).click()
    page.get_by_role("button", name="Add partner").click()
    page.get_by_label("Partner domain").fill(invited.domain)
    page.get_by_label("Expires in (days)").fill("5")
    page.get_by_label("room.update").select_option("manual")
    page.get_by_label(o["rooms"][1]["name"], exact=True).check()
    page.get_by_label("I agree to the terms").check()
    page.get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Send invitation").wait_for()  # the review page has come
    assert page.get_by_text(invited.domain).first.is_visible()
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_url("**/partners?done=invited")
    assert page.get_by_role("cell", name=invited.name, exact=True).is_visible()
    page.goto(f"/t/{t.id}/partners/{o['link']['id']}")
    page.get_by_role("button", name="Remove partner").click()
    page.get_by_role("button", name="Remove", exact=True).click()
    page.wait_for_url("**/partners?done=removed")
    page.get_by_role("navigation").get_by_role("link", name="Audit log", exact=True).click()
    page.get_by_label("From", exact=True).fill(f"{datetime.now(UTC) - timedelta(days=30):%Y-%m-%d}")
    page.get_by_label("To", exact=True).fill("2099-12-31")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename.startswith(f"audit-{t.id}-")
    page.get_by_role("button", name="Verify").click()
    page.get_by_text("The audit log verifies.").wait_for()  # a click only starts the navigation
    assert page.get_by_text("The audit log verifies.").is_visible()
