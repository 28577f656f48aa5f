"""Your account (/account): the own-account actions of the API in the portal — a password
change throttled like a sign-in that ends every other session and token, and sign out
everywhere — for local and federated people alike."""

from __future__ import annotations

import uuid
from typing import Any

from roomwarden.identity import sessions
from roomwarden.identity.models import User
from tests.factories import PASSWORD, TenantH, World, expect
from tests.portal.helpers import Browser, error_of, signed_in

NEW_PASSWORD = "quartz lantern orbit 42"


def _failed(world: World, t: TenantH, upn: str) -> list[dict[str, Any]]:
    params = {"result_status": "Failed", "user_upn": upn}
    listed = world.client.get(f"/api/v1/tenants/{t.id}/audit-logs", params=params, headers=t.admin.headers)
    return expect(listed, 200)["items"]


def test_signed_out_goes_to_login(app: Any) -> None:
    response = Browser(app).get("/account")
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/account"


def test_the_page_says_who_and_how_and_every_page_links_to_it(world: World, app: Any) -> None:
    t = world.tenant()
    user = world.user(t)
    browser = signed_in(world, app, user, mfa=True)
    rooms = browser.get(f"/t/{t.id}/rooms")
    assert '<a class="who" href="/account"' in rooms.text
    page = browser.get("/account")
    assert page.status_code == 200
    assert user.upn in page.text and t.name in page.text
    assert "a password and a verification code (multi-factor)" in page.text
    assert ">Current password</label>" in page.text and ">Change password</button>" in page.text
    assert ">Sign out everywhere</button>" in page.text


def test_a_password_change_ends_every_other_session_and_token_but_not_this_browser(
    world: World, app: Any
) -> None:
    t = world.tenant()
    user = world.user(t)
    here, elsewhere = signed_in(world, app, user), signed_in(world, app, user)
    here.get("/account")
    wrong = here.post(
        "/account/password", {"current_password": "not it at all", "new_password": NEW_PASSWORD}
    )
    assert wrong.status_code == 422
    assert "current password is not correct" in error_of(wrong, "current_password")
    weak = here.post("/account/password", {"current_password": PASSWORD, "new_password": "password1"})
    assert weak.status_code == 422 and error_of(weak, "new_password")
    assert len(_failed(world, t, user.upn)) == 2  # both refusals are in the user's tenant's log
    done = here.post("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/account?done=password"
    assert "Your password was changed." in here.get(done.headers["location"]).text
    assert elsewhere.get("/account").status_code == 303  # sent to /login
    assert world.client.get("/api/v1/me", headers=user.headers).status_code == 401
    token = world.client.post("/api/v1/auth/token", data={"username": user.upn, "password": NEW_PASSWORD})
    assert token.status_code == 200


def test_sign_out_everywhere_ends_this_browser_too(world: World, app: Any) -> None:
    t = world.tenant()
    user = world.user(t)
    browser = signed_in(world, app, user)
    browser.get("/account")
    gone = browser.post("/account/sign-out-everywhere")
    assert gone.status_code == 303 and gone.headers["location"] == "/signed-out"
    assert browser.get("/account").status_code == 303
    assert world.client.get("/api/v1/me", headers=user.headers).status_code == 401
    forged = signed_in(world, app, user)
    assert forged.post("/account/sign-out-everywhere", csrf="forged").status_code == 403


def test_a_federated_person_has_no_password_here(world: World, app: Any) -> None:
    t = world.tenant()
    with world.transaction() as s:
        row = User(
            tenant_id=uuid.UUID(t.id), upn=f"fed@{t.domain}", display_name="Fed Person", password_hash=None
        )
        s.add(row)
        s.flush()
        token = sessions.start_session(s, world.settings, row, mfa=True, method="oidc")
    browser = Browser(app)
    browser.client.cookies.set("roomwarden_session", token, domain="testserver.local")
    page = browser.get("/account")
    assert "your organisation&#39;s identity provider (multi-factor)" in page.text
    assert "Current password" not in page.text and ">Sign out everywhere</button>" in page.text
    refused = browser.post("/account/password", {"current_password": "x", "new_password": NEW_PASSWORD})
    assert refused.status_code == 409


def test_verification_codes_are_set_up_renewed_and_turned_off_in_the_portal(world: World, app: Any) -> None:
    """SPEC §7 in the portal: the same proofs as the API — the password to start, a code from
    the app to turn on, the recovery codes shown once (not stored by the browser), a code or
    a recovery code to renew them or to turn off."""
    import re

    import pyotp

    t = world.tenant()
    user = world.user(t)
    b = signed_in(world, app, user)
    page = b.get("/account")
    assert ">Set up verification codes</button>" in page.text and "<dd>Off</dd>" in page.text
    wrong = b.post("/account/totp", {"totp_password": "not my password"})
    assert wrong.status_code == 422 and "password is not correct" in error_of(wrong, "totp_password")
    started = b.post("/account/totp", {"totp_password": PASSWORD})
    assert started.status_code == 200 and started.headers["cache-control"] == "no-store"
    assert "<svg" in started.text and "QR code of your new second factor" in started.text
    key = re.search(r"Key: <code>([A-Z2-7 ]+)</code>", started.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    bad = "000000" if pyotp.TOTP(key).now() != "000000" else "111111"
    refused = b.post("/account/totp/confirm", {"otp": bad})
    assert refused.status_code == 422 and "not valid" in error_of(refused, "otp")
    assert "QR code of your new second factor" in refused.text  # shown again beside the refusal
    on = b.post("/account/totp/confirm", {"otp": pyotp.TOTP(key).now()})
    assert on.status_code == 200 and on.headers["cache-control"] == "no-store"
    codes = re.findall(r"<li><code>([a-z0-9-]{14})</code></li>", on.text)
    assert len(codes) == 10 and "Verification codes are on." in on.text
    me = expect(world.client.get("/api/v1/me", headers=user.headers), 200)
    assert me["user"].get("totp_enabled", True)
    assert "<dd>On</dd>" in b.get("/account").text
    renewed = b.post("/account/totp/recovery-codes", {"renew_otp": codes[0]})
    assert renewed.status_code == 200
    fresh = re.findall(r"<li><code>([a-z0-9-]{14})</code></li>", renewed.text)
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    assert b.post("/account/totp/disable", {"off_otp": codes[1]}).status_code == 422  # the old ones ended
    off = b.post("/account/totp/disable", {"off_otp": fresh[0]})
    assert off.status_code == 303 and off.headers["location"].endswith("done=totp_off")
    assert "<dd>Off</dd>" in b.get("/account").text


def test_times_are_shown_in_the_persons_time_zone_with_utc_on_hover(world: World, app: Any) -> None:
    """Issue 22: a per-person time zone, defaulting to the tenant's default_time_zone; the
    UTC time stays in the page (the title) and in exports and the API."""
    import re

    t = world.tenant()
    world.incident(t, world.room(t)["id"])
    b = signed_in(world, app, t.admin)  # the Global admin reads the audit log's times

    def shown() -> Any:
        page = b.get(f"/t/{t.id}/audit-log").text
        return re.search(r"<time datetime=\"[^\"]+\"( title=\"[^\"]+ UTC\")?>([^<]+)</time>", page)

    first = shown()
    assert first and first.group(2).endswith(" UTC") and first.group(1) is None
    refused = b.post("/account/time-zone", {"time_zone": "Mars/Olympus"})
    assert refused.status_code == 422 and "Choose a time zone from the list." in error_of(
        refused, "time_zone"
    )
    saved = b.post("/account/time-zone", {"time_zone": "Asia/Seoul"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=time_zone")
    seoul = shown()
    assert seoul and seoul.group(2).endswith(" KST") and seoul.group(1)  # UTC on hover
    # back to the organisation's default, which the tenant sets
    expect(
        world.client.patch(
            f"/api/v1/tenants/{t.id}/settings",
            json={"default_time_zone": "Europe/Berlin"},
            headers=t.admin.headers,
        ),
        200,
    )
    assert b.post("/account/time-zone", {"time_zone": ""}).status_code == 303
    berlin = shown()
    assert berlin and berlin.group(2).split()[-1] in ("CET", "CEST")
    records = world.client.get(
        f"/api/v1/tenants/{t.id}/audit-logs", params={"category": "User"}, headers=t.admin.headers
    ).json()["items"]
    assert any(
        (r.get("details") or {}).get("time_zone") == {"from": "Asia/Seoul", "to": None} for r in records
    )
