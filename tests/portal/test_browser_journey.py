"""The seed's journey through the portal, in Chromium, with one browser context per person
and every step by SPEC §9's accessible names: Contoso's Global admin invites Fabrikam with a
scope (the Add partner wizard); Fabrikam's admin accepts naming Primary admins, creates a
partner role and assigns a technician; the technician switches tenant, sees exactly the
delegated rooms and opens an incident; Contoso changes the scope and the technician's next
page shows it; Contoso reads the audit log and exports it as CSV; Contoso removes the partner
and the technician's next request finds Contoso's rooms as missing as a room that never was.

A second test does the Add partner wizard and the invitation's acceptance with the keyboard
alone. Only the starting tenants, users and rooms are made through the API."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, TenantH, UserH, World
from tests.portal import browser as plumbing

pytestmark = pytest.mark.browser


class Seed:
    """Contoso with four rooms (two of them in the group "US rooms"), Fabrikam with its
    Global admin and a technician who holds nothing yet."""

    def __init__(self, world: World) -> None:
        self.contoso: TenantH = world.tenant(name=f"Contoso {world.tag}")
        self.fabrikam: TenantH = world.tenant(name=f"Fabrikam {world.tag}")
        c = self.contoso
        self.seattle = world.room(c, "US", name="Seattle Boardroom", city="Seattle")
        self.boston = world.room(c, "US", name="Boston Huddle", city="Boston")
        self.berlin = world.room(c, "DE", name="Berlin Focus", city="Berlin")
        self.seoul = world.room(c, "KR", name="Seoul Studio", city="Seoul")
        self.us = world.room_group(c, [self.seattle["id"], self.boston["id"]], name="US rooms")
        self.tech: UserH = world.user(self.fabrikam, name="tech")


@pytest.fixture
def seed(world: World) -> Seed:
    return Seed(world)


def _nav(page: Page, name: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()


def _room_names(page: Page) -> list[str]:
    """The first column of the rooms table (the room names), in the table's order."""
    table = page.get_by_role("table")
    expect(table).to_be_visible()
    return [t.strip() for t in table.locator("tbody tr > :first-child").all_inner_texts()]


def _status(page: Page, path: str) -> tuple[int, str, str]:
    response = page.goto(path)
    assert response is not None
    return (
        response.status,
        page.get_by_role("heading", level=1).inner_text(),
        page.locator(".error-detail").inner_text() if page.locator(".error-detail").count() else "",
    )


def _switch_to(page: Page, tenant: TenantH) -> None:
    page.get_by_label("Tenant").select_option(label=tenant.name)
    page.get_by_role("button", name="Switch").click()
    page.wait_for_url(f"**/t/{tenant.id}/**")


def test_the_seed_journey_in_two_browser_contexts(new_context: Callable[..., Any], seed: Seed) -> None:
    s = seed
    customer = new_context().new_page()
    partner = new_context().new_page()

    # -- the customer invites the partner: Partners > Add partner > the wizard ---------------
    plumbing.sign_in(customer, s.contoso.admin.upn, PASSWORD)
    _nav(customer, "Partners")
    customer.get_by_role("button", name="Add partner").click()
    customer.get_by_label("Partner domain").fill(s.fabrikam.domain)
    customer.get_by_label("Expires in (days)").fill("14")
    customer.get_by_label("room.update").select_option("manual")
    customer.get_by_label("Only the room groups and rooms chosen below").check()
    customer.get_by_label("US rooms", exact=True).check()
    customer.get_by_label("Berlin Focus", exact=True).check()
    customer.get_by_label("I agree to the terms").check()
    customer.get_by_role("button", name="Review").click()
    expect(customer.get_by_role("heading", name="Review the invitation")).to_be_visible()
    review = customer.locator("dl.review")
    expect(review).to_contain_text(s.fabrikam.domain)
    expect(review).to_contain_text("The room group US rooms")
    expect(review).to_contain_text("Berlin Focus")
    expect(review).not_to_contain_text("Seoul Studio")
    customer.get_by_role("button", name="Send invitation").click()
    customer.wait_for_url("**/partners?done=invited")
    expect(customer.get_by_role("cell", name=s.fabrikam.name, exact=True)).to_be_visible()

    # -- the partner's admin accepts, naming the Primary admins --------------------------------
    plumbing.sign_in(partner, s.fabrikam.admin.upn, PASSWORD)
    _nav(partner, "Invitations")
    row = partner.get_by_role("row").filter(has_text=s.contoso.name)
    row.get_by_role("button", name="Accept").click()
    admins = partner.get_by_role("group", name="Primary admins")
    admins.get_by_role("checkbox", name=f"Admin ({s.fabrikam.admin.upn})").check()
    partner.get_by_role("button", name="Confirm").click()
    partner.wait_for_url("**/partner/customers/*?done=accepted")
    link_id = re.search(r"/partner/customers/([0-9a-f-]{36})", partner.url).group(1)  # type: ignore[union-attr]
    expect(partner.get_by_role("heading", level=1)).to_have_text(s.contoso.name)

    # ... creates a partner role for Contoso and assigns the technician to it
    partner.get_by_role("link", name="Add a partner role").click()
    partner.get_by_label("Role name").fill("Fabrikam technicians")
    for permission in ("rooms.view", "tickets.view", "incidents.create"):
        partner.get_by_label(permission).check()
    partner.get_by_role("button", name="Add role").click()
    partner.wait_for_url("**/roles/*?done=created")
    partner.get_by_role("link", name="Add an assignment").click()
    partner.get_by_label("Assignment name").fill("Field team")
    partner.get_by_label(f"tech ({s.tech.upn})").check()
    partner.get_by_label("All rooms delegated to your organisation, now and later").check()
    partner.get_by_role("button", name="Add assignment").click()
    partner.wait_for_url("**/roles/*?done=assigned")
    expect(partner.get_by_role("cell", name=f"tech ({s.tech.upn})")).to_be_visible()

    # -- the technician switches to Contoso and sees exactly the delegated rooms -------------
    tech = new_context().new_page()
    plumbing.sign_in(tech, s.tech.upn, PASSWORD)
    _switch_to(tech, s.contoso)
    _nav(tech, "Rooms")
    assert sorted(_room_names(tech)) == ["Berlin Focus", "Boston Huddle", "Seattle Boardroom"]
    base = f"/t/{s.contoso.id}"
    missing = _status(tech, f"{base}/rooms/{uuid.uuid4()}")
    assert missing[0] == 404
    assert _status(tech, f"{base}/rooms/{s.seoul['id']}") == missing

    # ... and opens an incident on a delegated room
    tech.goto(f"{base}/rooms")
    tech.get_by_role("link", name="Boston Huddle", exact=True).click()
    tech.get_by_role("link", name="Open an incident").first.click()
    expect(tech.get_by_label("Room", exact=True)).to_have_value(s.boston["id"])
    tech.get_by_label("Title").fill("Camera does not start")
    tech.get_by_label("Description").fill("The camera stays dark at the start of every meeting.")
    tech.get_by_role("button", name="Open incident").click()
    tech.wait_for_url("**/tickets/*?done=created")
    expect(tech.get_by_role("heading", name="Camera does not start")).to_be_visible()

    # -- the customer changes the scope: Seoul in, Berlin out ---------------------------------
    _nav(customer, "Partners")
    customer.get_by_role("link", name=s.fabrikam.name, exact=True).click()
    customer.wait_for_url(f"**/partners/{link_id}")
    customer.get_by_label("Seoul Studio", exact=True).check()
    customer.get_by_label("Berlin Focus", exact=True).uncheck()
    customer.get_by_role("button", name="Save delegated rooms").click()
    customer.wait_for_url("**?done=scope")
    expect(customer.get_by_role("status")).to_contain_text("The delegated rooms were saved")

    # ... and the technician's next page shows it
    tech.goto(f"{base}/rooms")
    assert sorted(_room_names(tech)) == ["Boston Huddle", "Seattle Boardroom", "Seoul Studio"]
    assert _status(tech, f"{base}/rooms/{s.berlin['id']}") == missing
    assert _status(tech, f"{base}/rooms/{s.seoul['id']}")[0] == 200

    # -- the customer reads the audit log with filters, then exports it -----------------------
    _nav(customer, "Audit log")
    customer.get_by_label("Category").select_option("Ticket")
    customer.get_by_label("User", exact=True).fill(s.tech.upn)
    customer.get_by_role("button", name="Apply filters").click()
    customer.wait_for_url("**/audit-log?*category=Ticket*")
    rows = customer.get_by_role("table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Camera does not start")
    expect(rows.first).to_contain_text(s.tech.upn)
    expect(rows.first).to_contain_text(s.fabrikam.name)
    customer.get_by_label("Category").select_option("Partner")
    customer.get_by_label("User", exact=True).fill(s.contoso.admin.upn)
    customer.get_by_role("button", name="Apply filters").click()
    customer.wait_for_url("**/audit-log?*category=Partner*")
    rows = customer.get_by_role("table").locator("tbody tr")
    expect(rows.filter(has_text="Update").filter(has_text=s.fabrikam.name)).to_have_count(1)
    # everything the partner's users did in Contoso, newest first
    customer.get_by_label("Category").select_option("")
    customer.get_by_label("User", exact=True).fill("")
    customer.get_by_label("Partner tenant").select_option(label=s.fabrikam.name)
    customer.get_by_role("button", name="Apply filters").click()
    customer.wait_for_url("**/audit-log?*partner=*")
    operations = [
        (r.locator("td").nth(1).inner_text(), r.locator("td").nth(2).inner_text())
        for r in customer.get_by_role("table").locator("tbody tr").all()
    ]
    assert operations == [
        ("Ticket", "Create"),
        ("Assignment", "Create"),
        ("Role", "Create"),
        ("Partner", "Create"),
        ("PartnerInvitation", "Approve"),
    ]
    # the export takes the page's filters: the partner's records only, then everything
    with customer.expect_download() as download:
        customer.get_by_role("button", name="Export CSV").click()
    partner_only = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    assert partner_only and {r["user.userTenantId"] for r in partner_only} == {s.fabrikam.id}
    customer.get_by_label("Partner tenant").select_option("")
    customer.get_by_label("From", exact=True).fill(f"{datetime.now(UTC) - timedelta(days=1):%Y-%m-%d}")
    customer.get_by_label("To", exact=True).fill(f"{datetime.now(UTC) + timedelta(days=1):%Y-%m-%d}")
    with customer.expect_download() as download:
        customer.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename.startswith(f"audit-{s.contoso.id}-")
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    records = {
        (
            r["activity.category"],
            r["activity.operation"],
            r["activity.objectName"],
            r["user.userPrincipalName"],
        )
        for r in exported
    }
    assert ("Ticket", "Create", "Camera does not start", s.tech.upn) in records
    assert ("Role", "Create", "Fabrikam technicians", s.fabrikam.admin.upn) in records
    assert ("Partner", "Update", s.fabrikam.name, s.contoso.admin.upn) in records
    assert ("PartnerInvitation", "Create") in {r[:2] for r in records}
    tech_rows = [r for r in exported if r["user.userPrincipalName"] == s.tech.upn]
    assert {r["user.partnerTenantName"] for r in tech_rows} == {s.fabrikam.name}

    # -- off-boarding: Remove partner > Remove; the technician's next request finds nothing ---
    _nav(customer, "Partners")
    customer.get_by_role("link", name=s.fabrikam.name, exact=True).click()
    customer.get_by_role("button", name="Remove partner").click()
    expect(customer.get_by_role("heading", level=1)).to_have_text(f"Remove the partner {s.fabrikam.name}?")
    customer.get_by_role("button", name="Remove", exact=True).click()
    customer.wait_for_url("**/partners?done=removed")

    gone = _status(tech, f"{base}/rooms/{s.boston['id']}")
    assert gone[0] == 404
    assert _status(tech, f"{base}/rooms/{uuid.uuid4()}") == gone
    assert _status(tech, f"{base}/rooms")[0] == 404
    tech.goto("/partner/customers")
    tenant_options = tech.get_by_label("Tenant").locator("option").all_inner_texts()
    assert s.contoso.name not in tenant_options


# -- the keyboard alone -------------------------------------------------------------------------


def _press_tab_and_see(page: Page) -> dict[str, str]:
    page.keyboard.press("Tab")
    now = plumbing.focused(page)
    assert plumbing.focus_is_visible(page), f"no visible focus on {now}"
    return now


def _keyboard_sign_in(page: Page, upn: str) -> None:
    page.goto("/login")
    plumbing.tab_to(page, "el.id === 'f-email'")
    page.keyboard.type(upn)
    page.keyboard.press("Enter")  # Next
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    plumbing.tab_to(page, "el.id === 'f-password'")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")  # Sign in
    page.get_by_role("heading", name="Home", level=1).wait_for()


def _nav_by_keyboard(page: Page, name: str) -> None:
    plumbing.tab_to(page, f"el.closest('nav') && el.textContent.trim() === {name!r}")
    assert plumbing.focus_is_visible(page)
    page.keyboard.press("Enter")


def test_add_partner_and_accept_with_the_keyboard_alone(new_context: Callable[..., Any], seed: Seed) -> None:
    """The wizard and the acceptance by Tab, Shift+Tab, typing, Space and Enter: every stop
    shows its focus, the stops follow the form's reading order, a refusal's summary leads to
    its field, and both actions complete."""
    s = seed
    customer = new_context().new_page()
    _keyboard_sign_in(customer, s.contoso.admin.upn)
    _nav_by_keyboard(customer, "Partners")
    customer.wait_for_url("**/partners")
    plumbing.tab_to(customer, "el.tagName === 'BUTTON' && el.textContent === 'Add partner'")
    assert plumbing.focus_is_visible(customer)
    customer.keyboard.press("Enter")
    expect(customer.get_by_role("heading", name="Add a partner")).to_be_visible()

    plumbing.tab_to(customer, "el.id === 'f-partner_domain'")
    customer.keyboard.type(s.fabrikam.domain)
    stops = []
    while True:
        now = _press_tab_and_see(customer)
        stops.append(now["id"] or now["text"])
        if now["id"] == "f-expires_in_days":
            customer.keyboard.press("Control+A")
            customer.keyboard.type("10")
        elif now["name"] == "policy.incident.create":
            customer.keyboard.type("M")  # Manual approval
        elif now["id"] == "f-scope-listed":
            assert customer.evaluate("document.activeElement.checked")
        elif now["id"] in ("f-room_groups-r1", "f-rooms-r4"):  # US rooms, Seoul Studio
            customer.keyboard.press("Space")
        elif now["text"] == "Review":
            break
        assert len(stops) < 30, stops
    # the reading order of the form: no control skipped, none out of place
    assert stops == [
        "f-expires_in_days",
        "f-link_duration_days",
        *(f"f-policy-{i}" for i in range(1, 7)),
        "f-scope-listed",
        "f-room_groups-q",
        "Find room groups",
        "f-room_groups-r1",
        "f-rooms-q",
        "Search",
        *(f"f-rooms-r{i}" for i in range(1, 5)),
        "f-terms_accepted",
        "Review",
    ]
    # Shift+Tab goes back the same way
    customer.keyboard.press("Shift+Tab")
    assert plumbing.focused(customer)["id"] == "f-terms_accepted"
    assert plumbing.focus_is_visible(customer)
    customer.keyboard.press("Tab")
    customer.keyboard.press("Enter")  # Review, without agreeing to the terms
    # refused: the summary's link takes the focus to the field; nothing typed is lost
    summary = customer.get_by_role("alert")
    expect(summary).to_contain_text("Agree to the terms to send the invitation.")
    expect(customer.get_by_label("Partner domain")).to_have_value(s.fabrikam.domain)
    expect(customer.get_by_label("Seoul Studio", exact=True)).to_be_checked()
    plumbing.tab_to(customer, "el.closest('.error-summary') && el.tagName === 'A'")
    assert plumbing.focus_is_visible(customer)
    customer.keyboard.press("Enter")
    assert plumbing.focused(customer)["id"] == "f-terms_accepted"
    customer.keyboard.press("Space")
    expect(customer.get_by_label("I agree to the terms")).to_be_checked()
    assert _press_tab_and_see(customer)["text"] == "Review"
    customer.keyboard.press("Enter")
    expect(customer.get_by_role("heading", name="Review the invitation")).to_be_visible()
    review = customer.locator("dl.review")
    expect(review).to_contain_text("The room group US rooms")
    expect(review).to_contain_text("Seoul Studio")
    expect(review).to_contain_text("Opening an incident (incident.create): Manual approval")
    expect(review).to_contain_text("after 10 days")
    expect(review).not_to_contain_text("Berlin Focus")
    plumbing.tab_to(customer, "el.tagName === 'BUTTON' && el.textContent === 'Send invitation'")
    assert plumbing.focus_is_visible(customer)
    customer.keyboard.press("Enter")
    customer.wait_for_url("**/partners?done=invited")
    expect(customer.get_by_role("status")).to_have_text("The invitation was sent.")

    # the partner's admin accepts it, naming itself and the technician Primary admins
    partner = new_context().new_page()
    _keyboard_sign_in(partner, s.fabrikam.admin.upn)
    _nav_by_keyboard(partner, "Invitations")
    partner.wait_for_url("**/partner/invitations")
    accept = partner.get_by_role("row").filter(has_text=s.contoso.name).get_by_role("button", name="Accept")
    accept_id = accept.get_attribute("aria-describedby")
    plumbing.tab_to(
        partner, f"el.textContent === 'Accept' && el.getAttribute('aria-describedby') === {accept_id!r}"
    )
    assert plumbing.focus_is_visible(partner)
    partner.keyboard.press("Space")
    expect(partner.get_by_role("heading", level=1)).to_have_text(
        f"Accept the invitation from {s.contoso.name}"
    )
    # Primary admins: the acceptor is checked; search the users for tech and check it too
    plumbing.tab_to(partner, "el.id === 'f-primary_admins-q'")
    assert plumbing.focus_is_visible(partner)
    partner.keyboard.type("tech")
    partner.keyboard.press("Enter")  # the form's first submit button is the search, not Confirm
    partner.wait_for_load_state()
    expect(partner.get_by_label("Search users")).to_have_value("tech")
    plumbing.tab_to(partner, f"el.type === 'checkbox' && el.labels[0].textContent === 'tech ({s.tech.upn})'")
    assert plumbing.focus_is_visible(partner)
    partner.keyboard.press("Space")
    chosen = partner.locator("input[name=primary_admins]:checked").evaluate_all(
        "els => els.map(el => el.labels[0].textContent)"
    )
    assert chosen == [f"Admin ({s.fabrikam.admin.upn})", f"tech ({s.tech.upn})"]
    plumbing.tab_to(partner, "el.textContent === 'Confirm'")
    partner.keyboard.press("Enter")
    partner.wait_for_url("**/partner/customers/*?done=accepted")
    primary = partner.locator("section[aria-labelledby='h-primary']")
    expect(primary).to_contain_text(s.fabrikam.admin.upn)
    expect(primary).to_contain_text(s.tech.upn)
