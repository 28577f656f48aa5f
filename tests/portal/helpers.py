"""A browser for portal tests: its own cookie jar, forms sent with their CSRF token."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.testclient import TestClient

from roomwarden.identity import sessions
from roomwarden.identity.models import User
from tests.factories import PASSWORD, UserH, World

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


class Browser:
    def __init__(self, app: Any) -> None:
        self.client = TestClient(app, follow_redirects=False)
        self.last_csrf = ""

    def get(self, path: str, **kw: Any) -> Any:
        response = self.client.get(path, **kw)
        self._remember(response)
        return response

    def follow(self, path: str) -> Any:
        response = self.client.get(path, follow_redirects=True)
        self._remember(response)
        return response

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = None, **kw: Any
    ) -> Any:
        body = dict(data or {})
        body.setdefault("csrf_token", self.last_csrf if csrf is None else csrf)
        response = self.client.post(path, data=body, **kw)
        self._remember(response)
        return response

    def _remember(self, response: Any) -> None:
        if "text/html" in response.headers.get("content-type", "") and (m := CSRF.search(response.text)):
            self.last_csrf = m.group(1)

    def sign_in(
        self, upn: str, password: str = PASSWORD, otp: str | None = None, next_path: str = "/"
    ) -> Any:
        self.get("/login")
        step1 = self.post("/login", {"step": "email", "email": upn, "next": next_path})
        assert step1.status_code == 200, step1.text
        data = {"step": "password", "email": upn, "password": password, "next": next_path}
        if otp is not None:
            data["otp"] = otp
        return self.post("/login", data)

    @property
    def session_token(self) -> str | None:
        return self.client.cookies.get("roomwarden_session")


def signed_in(world: World, app: Any, user: UserH, *, mfa: bool = False) -> Browser:
    """A browser with a session for ``user``, opened as the sign-in form would (without the
    password hashing, for tests about pages rather than sign-in)."""
    browser = Browser(app)
    with world.transaction() as s:
        row = s.get_one(User, uuid.UUID(user.id))
        method = "password+totp" if mfa else "password"
        token = sessions.start_session(s, world.settings, row, mfa=mfa, method=method)
    browser.client.cookies.set("roomwarden_session", token, domain="testserver.local")
    home = browser.get(f"/t/{user.tenant_id}/rooms")
    browser._remember(home)
    return browser


def error_of(page: Any, field: str) -> str:
    """The message shown next to the form field ``field`` (the ``field`` macro's error)."""
    m = re.search(rf'<p class="field-error" id="e-{re.escape(field)}">([^<]*)</p>', page.text)
    assert m, (field, page.text[-3000:])
    return m.group(1)


def value_of(page: Any, field: str) -> str:
    """The value an ``input`` macro field shows (what was typed is kept on a refused form)."""
    m = re.search(
        rf'id="f-{re.escape(field)}" name="{re.escape(field)}" type="[a-z]+" value="([^"]*)"', page.text
    )
    assert m, field
    return m.group(1)
