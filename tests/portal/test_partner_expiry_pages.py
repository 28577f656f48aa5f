"""The end of a partnership on the customer's partner pages (SPEC §4, §9): **Expires** on the
list and the page, the end set, moved and cleared through the form, and **Renew** for an
expired link, each read back through the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from roomwarden.partners.models import PartnerLink
from tests.factories import expect
from tests.partners.helpers import link
from tests.portal.helpers import error_of, signed_in


def _api(world, c, lk):  # type: ignore[no-untyped-def]
    return expect(
        world.client.get(f"/api/v1/tenants/{c.id}/partners/{lk['id']}", headers=c.admin.headers), 200
    )


def test_the_end_is_set_moved_and_cleared_from_the_page(world, app):  # type: ignore[no-untyped-def]
    c, p = world.tenant(), world.tenant()
    lk = link(world, c, p)
    b = signed_in(world, app, c.admin)
    page = b.get(f"/t/{c.id}/partners/{lk['id']}")
    assert "<dt>Expires</dt><dd>Never" in page.text
    assert ">Expires</label>" in page.text and ">Renew</button>" not in page.text
    url = f"/t/{c.id}/partners/{lk['id']}/expiry"
    end = (datetime.now(UTC) + timedelta(days=40)).replace(second=0, microsecond=0)
    done = b.post(url, {"expires_at": f"{end:%Y-%m-%dT%H:%M}"})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=expiry")
    assert datetime.fromisoformat(_api(world, c, lk)["expires_at"]) == end
    listing = b.get(f"/t/{c.id}/partners")
    assert ">Expires</th>" in listing.text and f"{end:%Y-%m-%d}" in listing.text
    for bad in ("yesterday", f"{datetime.now(UTC) - timedelta(days=1):%Y-%m-%dT%H:%M}", "2099-01-01T00:00"):
        refused = b.post(url, {"expires_at": bad})
        assert refused.status_code == 422 and "730 days" in error_of(refused, "expires_at"), bad
    assert datetime.fromisoformat(_api(world, c, lk)["expires_at"]) == end
    assert b.post(url, {"expires_at": ""}).status_code == 303
    assert _api(world, c, lk)["expires_at"] is None


def test_an_expired_link_shows_renew_and_renewing_restores_it(world, app):  # type: ignore[no-untyped-def]
    c, p = world.tenant(), world.tenant()
    room = world.room(c)
    lk = link(world, c, p)
    with world.transaction() as session:
        session.execute(
            update(PartnerLink)
            .where(PartnerLink.id == uuid.UUID(lk["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(hours=1))
        )
    room_url = f"/api/v1/tenants/{c.id}/rooms/{room['id']}"
    assert world.client.get(room_url, headers=p.admin.headers).status_code == 404
    b = signed_in(world, app, c.admin)
    page = b.get(f"/t/{c.id}/partners/{lk['id']}")
    assert ">Expired<" in page.text and ">Renew</button>" in page.text and "renewable until" in page.text
    assert "<h2>Change control</h2>" not in page.text
    assert ">Expired<" in b.get(f"/t/{c.id}/partners").text
    done = b.post(f"/t/{c.id}/partners/{lk['id']}/renew", {"expires_at": ""})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=renewed")
    read = _api(world, c, lk)
    assert read["status"] == "active" and read["expires_at"] is None
    assert world.client.get(room_url, headers=p.admin.headers).status_code == 200
    # A second renewal is a conflict, said on the page.
    again = b.post(f"/t/{c.id}/partners/{lk['id']}/renew", {"expires_at": ""})
    assert again.status_code == 409
