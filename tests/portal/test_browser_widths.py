"""The portal at a phone's width and at a laptop's: no page is wider than the window (the
header wraps, long names shorten, wide tables scroll inside their own box), and the main pages
are photographed at 390 px and 1366 px for the README (docs/screenshots/)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.factories import PASSWORD, World
from tests.partners.helpers import link
from tests.portal import browser as plumbing

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
def crowded(world: World):  # type: ignore[no-untyped-def]
    """A customer and a partner with long names, as real organisations have."""
    c = world.tenant(name=f"Contoso Pharmaceuticals International Holdings {world.tag}")
    rooms = [
        world.room(c, "US", city="San Francisco", building="Embarcadero Center Tower Four"),
        world.room(c, "DE", city="Berlin"),
    ]
    p = world.tenant(name=f"Fabrikam Managed Workplace Services Europe {world.tag}")
    lk = link(world, c, p)
    return c, p, rooms, lk


def _overflow(page) -> int:  # type: ignore[no-untyped-def]
    """How many pixels the page is wider than its window (0 when it fits)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_no_page_is_wider_than_a_phone(new_context: Callable, crowded) -> None:  # type: ignore[no-untyped-def]
    c, p, rooms, lk = crowded
    for who, pages in (
        (c.admin, ["/t/{c}/rooms", "/t/{c}/rooms/{room}", "/t/{c}/partners", "/t/{c}/partners/{link}"]),
        (c.admin, ["/", "/account", "/t/{c}/roles", "/t/{c}/audit-log"]),
        (p.admin, ["/", "/t/{c}/rooms", "/partner/customers", "/partner/tickets"]),
    ):
        page = new_context(viewport=PHONE).new_page()
        plumbing.sign_in(page, who.upn, PASSWORD)
        for path in pages:
            url = path.format(c=c.id, room=rooms[0]["id"], link=lk["id"])
            page.goto(url)
            assert _overflow(page) <= 0, f"{url} as {who.upn} is {_overflow(page)} px wider than a phone"
            header = page.get_by_role("banner").bounding_box()
            assert header is not None and header["width"] <= PHONE["width"], url


def test_the_main_pages_at_both_widths(new_context: Callable, crowded) -> None:  # type: ignore[no-untyped-def]
    c, p, _rooms, lk = crowded
    partner = new_context(viewport=LAPTOP).new_page()
    plumbing.sign_in(partner, p.admin.upn, PASSWORD)
    partner.goto("/")
    partner.get_by_role("link", name=f"Unhealthy rooms at {c.name} 0").wait_for()
    plumbing.assert_accessible(partner)
    plumbing.screenshot(partner, "home-partner")
    for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page = new_context(viewport=viewport).new_page()
        plumbing.sign_in(page, c.admin.upn, PASSWORD)
        for path, shot in (
            ("/", "home"),
            (f"/t/{c.id}/rooms", "rooms"),
            (f"/t/{c.id}/partners/{lk['id']}", "partner"),
            (f"/t/{c.id}/partners/new", "wizard"),
        ):
            page.goto(path)
            plumbing.assert_accessible(page)
            plumbing.screenshot(page, f"{shot}-{name}")


def test_setting_up_verification_codes_in_the_browser(new_context: Callable, world: World) -> None:
    """Your account → Verification codes by accessible names, with a QR code drawn on the
    server; the page passes axe at each step."""
    import pyotp

    t = world.tenant()
    user = world.user(t)
    page = new_context(viewport=LAPTOP).new_page()
    plumbing.sign_in(page, user.upn, PASSWORD)
    page.goto("/account")
    page.get_by_label("Your password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Set up verification codes").click()
    key = page.locator("figure.qr code").inner_text().replace(" ", "")
    plumbing.assert_accessible(page)
    plumbing.screenshot(page, "account-verification-codes")
    page.get_by_label("Code from your app").fill(pyotp.TOTP(key).now())
    page.get_by_role("button", name="Turn on verification codes").click()
    page.get_by_role("status").filter(has_text="Verification codes are on.").wait_for()
    assert page.locator("ul.codes li").count() == 10
    plumbing.assert_accessible(page)
