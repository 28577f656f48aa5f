"""Browser-test plumbing: a real server on a free loopback port over the test database,
Debian's Chromium driven by Playwright, an axe-core check and a screenshot helper.

Playwright cannot download its own browsers on this project's machines, so the tests use the
system Chromium at ``/usr/bin/chromium`` (``scripts/test.sh`` installs it). Without it the
browser tests skip with a message, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from roomwarden.app import create_app
from roomwarden.kit.db import Database
from roomwarden.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: axe-core impacts that fail a page; "moderate" and "minor" are reported, not fatal.
FATAL_IMPACTS = ("serious", "critical")


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = (
        f"browser tests need Chromium at {CHROMIUM}: run scripts/test.sh (it installs Debian's "
        "chromium package) or `apt-get install chromium`"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def live_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """The whole service, served by uvicorn on 127.0.0.1 and a port the OS chose, over the
    same database as the rest of the suite."""
    require_chromium()
    sock = _free_socket()
    port = sock.getsockname()[1]
    live = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    config = uvicorn.Config(create_app(live, db), log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(browser: Browser, live_server: LiveServer) -> Iterator[Callable[..., BrowserContext]]:
    """Opens browser contexts (one per person: cookies are not shared) on the live server;
    all are closed after the test."""
    opened: list[BrowserContext] = []

    def open_context(**options: Any) -> BrowserContext:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        ctx = browser.new_context(base_url=live_server.url, locale="en-US", **options)
        ctx.set_default_timeout(15_000)
        opened.append(ctx)
        return ctx

    yield open_context
    for ctx in opened:
        ctx.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Runs axe-core (from the axe-playwright-python package) in the page; returns the
    violations whose impact is serious or critical."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in FATAL_IMPACTS]


def assert_accessible(page: Page) -> None:
    bad = axe_violations(page)
    report = "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(", ".join(n["target"]) for n in v["nodes"][:5])
        for v in bad
    )
    assert not bad, f"axe found serious or critical violations on {page.url}:\n{report}"


def screenshot(page: Page, name: str) -> Path:
    """Writes ``docs/screenshots/<name>.png`` (the README shows them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, upn: str, password: str) -> None:
    """The portal's two-step sign-in, by its accessible names (SPEC §9)."""
    page.goto("/login")
    page.get_by_label("Email").fill(upn)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


# -- the keyboard -----------------------------------------------------------------------------


def focused(page: Page) -> dict[str, str]:
    """What has the keyboard focus: its tag, id, name attribute, type and text."""
    return page.evaluate(
        "(() => { const el = document.activeElement;"
        " return {tag: el.tagName, id: el.id || '', name: el.getAttribute('name') || '',"
        " type: el.getAttribute('type') || '', text: (el.textContent || '').trim()}; })()"
    )


def tab_to(page: Page, predicate: str, limit: int = 40, key: str = "Tab") -> None:
    """Press Tab (or ``key``, e.g. Shift+Tab) until the focused element matches ``predicate``
    (a JS expression over ``el``)."""
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!({predicate}); }})()"):
            return
    raise AssertionError(f"never reached by {key}: {predicate}")


def focus_is_visible(page: Page) -> bool:
    """The focused element draws a focus indicator (the stylesheet's :focus-visible outline)."""
    return page.evaluate(
        "(() => { const el = document.activeElement; const s = getComputedStyle(el);"
        " return el !== document.body && el.matches(':focus-visible')"
        " && s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0; })()"
    )
