"""Portal test fixtures. The browser plumbing lives in ``tests/portal/browser.py``."""

from tests.portal.browser import browser, live_server, new_context  # noqa: F401
