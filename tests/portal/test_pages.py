"""Every portal page as a Global admin, and the forms' round trips: what a change does is
read back through the API; a refused form keeps what was typed and says why next to it."""

from __future__ import annotations

import re

import pytest
from starlette.routing import NoMatchFound

from roomwarden.portal.nav import ENTRIES, NavEntry
from tests.factories import PASSWORD, TenantH, World, expect
from tests.portal.helpers import Browser, signed_in


def api(world: World, t: TenantH, path: str):  # type: ignore[no-untyped-def]
    return expect(world.client.get(f"/api/v1/tenants/{t.id}{path}", headers=t.admin.headers), 200)


@pytest.fixture
def site(world, app):  # type: ignore[no-untyped-def]
    t = world.tenant()
    de = world.room(t, "DE", city="Berlin")
    us = world.room(t, "US")
    group = world.room_group(t, [de["id"]], name="Berlin rooms")
    ticket = world.incident(t, de["id"])
    role = world.role(t, ["rooms.view"], name="Viewers")
    user = world.user(t, name="dana")
    sg = world.security_group(t, [user])
    world.assign(t, role, groups=[sg], scope={"rooms": [de["id"]]})
    b = signed_in(world, app, t.admin)
    return t, b, {"de": de, "us": us, "group": group, "ticket": ticket, "role": role, "user": user, "sg": sg}


def test_every_page_renders_for_a_global_admin(world, site):
    t, b, o = site
    base = f"/t/{t.id}"
    pages = [
        "/rooms",
        "/rooms?country=DE&health=unknown",
        "/rooms/new",
        f"/rooms/{o['de']['id']}",
        f"/rooms/{o['de']['id']}/edit",
        f"/rooms/{o['de']['id']}/reset-key",
        f"/rooms/{o['de']['id']}/unenroll",
        "/room-groups",
        "/room-groups/new",
        f"/room-groups/{o['group']['id']}",
        f"/room-groups/{o['group']['id']}/edit",
        f"/room-groups/{o['group']['id']}/delete",
        "/update-rings",
        "/update-rings/new",
        "/update-rings/releases",
        "/tickets",
        "/tickets?status=open",
        f"/tickets/{o['ticket']['id']}",
        "/incidents/new",
        "/reports",
        "/roles",
        "/roles/new",
        f"/roles/{o['role']}",
        f"/roles/{o['role']}/edit",
        f"/roles/{o['role']}/assignments/new",
        "/settings",
        "/users",
        "/users/new",
        f"/users/{o['user'].id}",
        "/security-groups",
        "/security-groups/new",
        f"/security-groups/{o['sg']}",
        "/approvals",
    ]
    for path in pages:
        page = b.get(base + path)
        assert page.status_code == 200, (path, page.text[-2000:])
        assert '<nav aria-label="Main"' in page.text and ">Sign out</button>" in page.text
        assert '<label for="tenant-select">Tenant</label>' in page.text


def _nav(page) -> list[str]:  # type: ignore[no-untyped-def]
    nav = page.text.split('<nav aria-label="Main"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav)


def test_navigation_of_a_global_admin(app, site):
    """Every surface but the views across customers and Approval requests (it has no
    customers), in the SPEC's order; a surface whose page is not served (yet) is not linked."""
    t, b, _ = site

    def served(entry: NavEntry) -> bool:
        try:
            params = {"tenant_id": t.id} if entry.side == "tenant" else {}
            app.url_path_for(f"portal.{entry.route}", **params)
        except NoMatchFound:
            return False
        return True

    across = {"all_tickets", "all_rooms", "customer_health", "partner_reports", "approval_requests"}
    expected = [e.label for e in ENTRIES if e.key not in across and served(e)]
    assert {
        "Rooms",
        "Room groups",
        "Update rings",
        "Tickets",
        "Reports",
        "Roles",
        "Approvals",
        "Settings",
    } <= set(expected)
    assert _nav(b.get(f"/t/{t.id}/rooms")) == ["Home", *expected]


def test_rooms_table_search_and_filters(world, site):
    t, b, o = site
    page = b.get(f"/t/{t.id}/rooms")
    for label in ("Search", "Country", "Room group", "Update ring", "Health"):
        assert re.search(rf'<label for="f-[a-z]+">{label}</label>', page.text), label
    rows = re.findall(r"<tr>\s*<td><a [^>]*>([^<]+)</a></td>", page.text)
    assert sorted(rows) == sorted([o["de"]["name"], o["us"]["name"]])
    only_de = b.get(f"/t/{t.id}/rooms?country=DE")
    assert o["de"]["name"] in only_de.text and o["us"]["name"] not in only_de.text
    by_group = b.get(f"/t/{t.id}/rooms?group={o['group']['id']}")
    assert o["de"]["name"] in by_group.text and o["us"]["name"] not in by_group.text
    searched = b.get(f"/t/{t.id}/rooms?q={o['us']['name']}")
    assert o["us"]["name"] in searched.text and o["de"]["name"] not in searched.text
    bad = b.get(f"/t/{t.id}/rooms?country=XX&health=sunny")
    assert bad.status_code == 422
    assert "Choose a country from the list." in bad.text and 'aria-describedby="e-country"' in bad.text


def test_rooms_page_with_a_count_and_keep_filters_and_sort(world, app):
    t = world.tenant()
    for _ in range(5):
        world.room(t, "DE")
    world.room(t, "US")
    b = signed_in(world, app, t.admin)
    from roomwarden.portal import rooms as rooms_page

    old, rooms_page.PAGE_SIZE = rooms_page.PAGE_SIZE, 2
    try:
        first = b.get(f"/t/{t.id}/rooms?country=DE&sort=-name")
        assert "5 rooms match the filters · page 1 of 3" in first.text
        nxt = re.search(r'href="([^"]+)" rel="next">Next page', first.text).group(1).replace("&amp;", "&")
        assert "country=DE" in nxt and "sort=-name" in nxt
        second = b.get(nxt)
        third = b.get(
            re.search(r'href="([^"]+)" rel="next">Next page', second.text).group(1).replace("&amp;", "&")
        )
        back = (
            re.search(r'href="([^"]+)" rel="prev">Previous page', third.text).group(1).replace("&amp;", "&")
        )
    finally:
        rooms_page.PAGE_SIZE = old
    names = lambda p: re.findall(r"<tr>\s*<td><a [^>]*>([^<]+)</a></td>", p.text)  # noqa: E731
    seen = names(first) + names(second) + names(third)
    assert len(seen) == 5 and seen == sorted(seen, key=str.lower, reverse=True)
    assert "First page" in third.text and "page=2" in back


def test_rooms_sort_by_the_column_header_with_aria_sort(world, app):
    t = world.tenant()
    for city in ("berlin", "Aachen", "Cologne"):
        world.room(t, "DE", city=city)
    b = signed_in(world, app, t.admin)
    page = b.get(f"/t/{t.id}/rooms")
    assert '<th scope="col" aria-sort="ascending"><a href="' in page.text  # by name, at first
    link = re.search(r'<th scope="col" aria-sort="none"><a href="([^"]+)">City</a>', page.text)
    assert link
    by_city = b.get(link.group(1).replace("&amp;", "&"))
    assert re.search(r'aria-sort="ascending"><a href="[^"]+">City</a>', by_city.text)
    cities = re.findall(r"<td>Germany \(DE\)</td>\s*<td>([^<]*)</td>", by_city.text)
    assert cities == ["Aachen", "berlin", "Cologne"]  # letter case aside
    again = re.search(r'aria-sort="ascending"><a href="([^"]+)">City</a>', by_city.text).group(1)
    down = b.get(again.replace("&amp;", "&"))
    assert re.search(r'aria-sort="descending"><a href="[^"]+">City</a>', down.text)
    assert re.findall(r"<td>Germany \(DE\)</td>\s*<td>([^<]*)</td>", down.text) == [
        "Cologne",
        "berlin",
        "Aachen",
    ]
    assert b.get(f"/t/{t.id}/rooms?sort=nonsense&page=zero").status_code == 200  # read as the defaults


def test_edit_a_room_and_refuse_a_bad_value_keeping_the_rest(world, site):
    t, b, o = site
    room = o["de"]
    path = f"/t/{t.id}/rooms/{room['id']}/edit"
    b.get(path)
    form = {
        "name": "Renamed",
        "resource_account": room["resource_account"],
        "country": "ZZ",
        "city": "Munich",
        "building": "B2",
        "time_zone": "Europe/Vienna",
        "update_ring_id": room["update_ring_id"],
    }
    refused = b.post(path, form)
    assert refused.status_code == 422
    assert 'id="e-country"' in refused.text and "ISO 3166" in refused.text
    assert 'value="Renamed"' in refused.text and 'value="Munich"' in refused.text
    assert api(world, t, f"/rooms/{room['id']}")["name"] == room["name"]
    done = b.post(path, {**form, "country": "AT"})
    assert done.status_code == 303
    after = api(world, t, f"/rooms/{room['id']}")
    assert (after["name"], after["country"], after["city"], after["time_zone"]) == (
        "Renamed",
        "AT",
        "Munich",
        "Europe/Vienna",
    )
    assert "Your changes were saved." in b.follow(done.headers["location"]).text


def test_enrollment_key_download_reset_and_unenrol(world, site):
    t, b, o = site
    room = o["de"]
    page = b.get(f"/t/{t.id}/rooms/{room['id']}")
    assert ">Download enrollment key</button>" in page.text
    key = b.post(f"/t/{t.id}/rooms/{room['id']}/enrollment-key")
    assert key.status_code == 200 and key.headers["content-disposition"].startswith("attachment;")
    api_key = expect(
        world.client.get(
            f"/api/v1/tenants/{t.id}/rooms/{room['id']}/enrollment-key", headers=t.admin.headers
        ),
        200,
    )["enrollment_key"]
    assert key.text.strip() == api_key
    assert b.post(f"/t/{t.id}/rooms/{room['id']}/enrollment-key", csrf="forged").status_code == 403
    confirm = b.get(f"/t/{t.id}/rooms/{room['id']}/reset-key")
    assert ">Reset key</button>" in confirm.text
    assert b.post(f"/t/{t.id}/rooms/{room['id']}/reset-key").status_code == 303
    new_key = b.post(f"/t/{t.id}/rooms/{room['id']}/enrollment-key").text.strip()
    assert new_key != api_key
    assert b.post(f"/t/{t.id}/rooms/{room['id']}/unenroll").status_code == 303
    assert api(world, t, f"/rooms/{room['id']}")["enrollment_state"] == "unenrolled"
    again = b.post(f"/t/{t.id}/rooms/{room['id']}/unenroll")
    assert again.status_code == 409 and "already unenrolled" in again.text


def test_add_a_room(world, site):
    t, b, o = site
    b.get(f"/t/{t.id}/rooms/new")
    form = {"name": "Board room", "resource_account": f"board@{t.domain}", "country": "FR", "city": "Paris"}
    taken = b.post(f"/t/{t.id}/rooms/new", {**form, "resource_account": o["de"]["resource_account"]})
    assert (
        taken.status_code == 409
        and 'id="e-resource_account"' in taken.text
        and 'value="Board room"' in taken.text
    )
    done = b.post(f"/t/{t.id}/rooms/new", {**form, "room_group_ids": [o["group"]["id"]]})
    assert done.status_code == 303
    created = [r for r in api(world, t, "/rooms")["items"] if r["name"] == "Board room"]
    assert len(created) == 1 and created[0]["country"] == "FR"
    assert created[0]["id"] in api(world, t, f"/room-groups/{o['group']['id']}")["room_ids"]


def test_incident_and_ticket_updates(world, site):
    t, b, o = site
    b.get(f"/t/{t.id}/incidents/new?room_id={o['us']['id']}")
    missing_title = b.post(
        f"/t/{t.id}/incidents/new",
        {"room_id": o["us"]["id"], "title": "", "description": "Dark", "severity": "important"},
    )
    assert (
        missing_title.status_code == 422
        and 'id="e-title"' in missing_title.text
        and "Dark" in missing_title.text
    )
    done = b.post(
        f"/t/{t.id}/incidents/new",
        {"room_id": o["us"]["id"], "title": "Screen dark", "description": "Dark", "severity": "important"},
    )
    assert done.status_code == 303
    ticket_path = done.headers["location"].split("?")[0]
    update = b.post(ticket_path, {"status": "in_progress", "comment": "On my way"})
    assert update.status_code == 303
    page = b.get(ticket_path)
    assert "On my way" in page.text and "open → in progress" in page.text
    closed = b.post(ticket_path, {"status": "closed", "comment": ""})
    assert closed.status_code == 303
    reopened = b.post(ticket_path, {"status": "open", "comment": "again"})
    assert reopened.status_code in (403, 409)


def test_room_group_ring_and_settings_forms(world, site):
    t, b, o = site
    b.get(f"/t/{t.id}/room-groups/new")
    dup = b.post(f"/t/{t.id}/room-groups/new", {"name": "Berlin rooms", "room_ids": [o["us"]["id"]]})
    assert dup.status_code == 409 and 'id="e-name"' in dup.text
    made = b.post(f"/t/{t.id}/room-groups/new", {"name": "US rooms", "room_ids": [o["us"]["id"]]})
    assert made.status_code == 303
    b.get(f"/t/{t.id}/update-rings/new")
    bad = b.post(f"/t/{t.id}/update-rings/new", {"name": "Pilot", "deferral_days": "400"})
    assert bad.status_code == 422 and 'id="e-deferral_days"' in bad.text and 'value="Pilot"' in bad.text
    assert b.post(f"/t/{t.id}/update-rings/new", {"name": "Pilot", "deferral_days": "3"}).status_code == 303
    assert "Pilot" in [r["name"] for r in api(world, t, "/update-rings")["items"]]
    b.get(f"/t/{t.id}/settings")
    wrong = b.post(
        f"/t/{t.id}/settings", {"notification_email": "not an address", "enable_all_tickets_view": "on"}
    )
    assert wrong.status_code == 422 and 'value="not an address"' in wrong.text
    ok = b.post(
        f"/t/{t.id}/settings", {"notification_email": f"ops@{t.domain}", "require_mfa_for_partners": "on"}
    )
    assert ok.status_code == 303
    after = api(world, t, "/settings")
    assert after["require_mfa_for_partners"] is True and after["enable_all_tickets_view"] is False


def test_a_rule_group_from_the_form_with_its_preview(world, site):
    """The group form's Rule field and Preview (SPEC §9): a preview saves nothing and shows
    what the rule selects; an invalid rule is refused next to the field, keeping what was typed."""
    t, b, o = site
    form = b.get(f"/t/{t.id}/room-groups/new")
    assert 'name="rule"' in form.text and ">Preview</button>" in form.text
    rule = 'country == "US"'
    shown = b.post(f"/t/{t.id}/room-groups/preview", {"name": "US by rule", "rule": rule})
    assert shown.status_code == 200 and "The rule selects 1 room you can see" in shown.text
    assert o["us"]["name"] in shown.text
    assert "US by rule" not in [g["name"] for g in api(world, t, "/room-groups")["items"]]
    bad = b.post(f"/t/{t.id}/room-groups/preview", {"name": "US by rule", "rule": 'country = "US"'})
    assert bad.status_code == 422 and 'id="e-rule"' in bad.text and "position 9" in bad.text
    assert "country = &#34;US&#34;" in bad.text or "country = &quot;US&quot;" in bad.text
    made = b.post(f"/t/{t.id}/room-groups/new", {"name": "US by rule", "rule": rule})
    assert made.status_code == 303
    group = next(g for g in api(world, t, "/room-groups")["items"] if g["name"] == "US by rule")
    assert group["rule"] == rule and group["room_count"] == 1
    page = b.get(made.headers["location"].split("?")[0])
    assert "Its members follow the rule" in page.text and o["us"]["name"] in page.text


def test_roles_and_assignments(world, site):
    t, b, o = site
    b.get(f"/t/{t.id}/roles/new")
    none = b.post(f"/t/{t.id}/roles/new", {"name": "Key keepers", "description": "keys"})
    assert (
        none.status_code == 422 and 'id="e-permissions"' in none.text and 'value="Key keepers"' in none.text
    )
    made = b.post(
        f"/t/{t.id}/roles/new",
        {"name": "Key keepers", "permissions": ["rooms.view", "rooms.download_key"]},
    )
    assert made.status_code == 303
    role_path = made.headers["location"].split("?")[0]
    role_id = role_path.rsplit("/", 1)[1]
    assert set(api(world, t, f"/roles/{role_id}")["permissions"]) == {"rooms.view", "rooms.download_key"}
    b.get(f"{role_path}/assignments/new")
    nobody = b.post(
        f"{role_path}/assignments/new", {"name": "Berlin", "scope": "listed", "rooms": [o["de"]["id"]]}
    )
    assert nobody.status_code == 422
    assigned = b.post(
        f"{role_path}/assignments/new",
        {"name": "Berlin", "users": [o["user"].id], "scope": "listed", "room_groups": [o["group"]["id"]]},
    )
    assert assigned.status_code == 303
    (a,) = api(world, t, f"/roles/{role_id}/assignments")["items"]
    assert [(m["type"], m["id"]) for m in a["members"]] == [("user", o["user"].id)]
    assert a["scope"] == {"all": False, "rooms": [], "room_groups": [o["group"]["id"]]}
    user_page = b.get(f"/t/{t.id}/users/{o['user'].id}")
    assert (
        "Key keepers" in user_page.text
        and "Viewers" in user_page.text
        and "through the group" in user_page.text
    )


def test_directory_deactivation_signs_the_user_out(world, app, site):
    t, b, o = site
    dana = signed_in(world, app, o["user"])
    assert dana.get(f"/t/{t.id}/rooms").status_code == 200
    b.get(f"/t/{t.id}/users/{o['user'].id}")
    assert b.post(f"/t/{t.id}/users/{o['user'].id}", {"display_name": "Dana"}).status_code == 303
    assert dana.get(f"/t/{t.id}/rooms").status_code == 303
    last_admin = b.post(f"/t/{t.id}/users/{t.admin.id}", {"display_name": "Admin", "is_active": "on"})
    assert last_admin.status_code == 409 and "last active Global admin" in last_admin.text


def test_reports_draw_svg_and_a_table(site):
    t, b, _ = site
    page = b.get(f"/t/{t.id}/reports")
    assert page.text.count("<svg") == 2 and 'role="img"' in page.text
    assert (
        '<title id="chart-health-title">Rooms per health state: Healthy 0, Degraded 0, Unhealthy 0, Unknown 2'
        in page.text
    )
    assert re.search(r"<td>DE</td><td>0</td><td>0</td><td>0</td><td>1</td><td>1</td>", page.text)


def test_approvals_page_says_what_is_pending(site):
    t, b, _ = site
    page = b.get(f"/t/{t.id}/approvals")
    assert "No partner change is waiting for your review." in page.text
    assert "How change control works" in page.text


def test_sign_in_through_the_form_lands_on_home(world, app):
    t = world.tenant()
    b = Browser(app)
    assert b.sign_in(t.admin.upn, PASSWORD).status_code == 303
    home = b.follow("/")
    assert home.url.path == "/" and "<h1>Home</h1>" in home.text


def test_names_are_text_never_markup(world, app):
    """A room, group or ticket named like markup is shown as text (autoescaping)."""
    t = world.tenant()
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    room = world.room(t, name=evil)
    world.room_group(t, [room["id"]], name=evil)
    expect(world.post(t, "/incidents", {"room_id": room["id"], "title": evil, "severity": "warning"}), 201)
    b = signed_in(world, app, t.admin)
    for path in ("/rooms", f"/rooms/{room['id']}", "/room-groups", "/tickets"):
        page = b.get(f"/t/{t.id}{path}")
        assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, path


def test_a_refused_form_is_recorded_in_the_audit_log(world, app):
    """Refused attempts through the portal are audited like the API's (SPEC §6)."""
    t = world.tenant()
    room = world.room(t)
    tech = world.user(t)
    world.assign(t, t.roles["Site Tech"], users=[tech], scope={"rooms": [room["id"]]})
    b = signed_in(world, app, tech)
    refused = b.post(f"/t/{t.id}/rooms/{room['id']}/reset-key")
    assert refused.status_code == 403 and "rooms.reset_key" in refused.text
    log = expect(world.client.get(f"/api/v1/tenants/{t.id}/audit-logs", headers=t.admin.headers), 200)[
        "items"
    ]
    failed = [r for r in log if r["result_status"] == "Failed" and r["user_id"] == tech.id]
    assert len(failed) == 1 and failed[0]["category"] == "EnrollmentKey"
    assert failed[0]["details"]["path"] == f"/t/{t.id}/rooms/{room['id']}/reset-key"
