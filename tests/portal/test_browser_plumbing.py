"""The browser-test plumbing itself: the live server answers the browser, the axe check
fails a page with a serious or critical violation and passes a clean one, screenshots land
where they are asked to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.portal import browser as plumbing

pytestmark = pytest.mark.browser


def test_the_live_server_serves_the_browser(new_context: Callable) -> None:
    page = new_context().new_page()
    response = page.goto("/healthz")
    assert response is not None and response.status == 200
    assert '"ok"' in page.content()


def test_axe_fails_a_page_with_a_critical_violation_and_passes_a_clean_one(new_context: Callable) -> None:
    page = new_context().new_page()
    page.set_content(
        '<html lang="en"><head><title>Bad</title></head><body><main><h1>Bad</h1>'
        '<button></button><img src="data:,"></main></body></html>'
    )
    ids = {v["id"] for v in plumbing.axe_violations(page)}
    assert {"button-name", "image-alt"} <= ids
    with pytest.raises(AssertionError, match="button-name"):
        plumbing.assert_accessible(page)
    page.set_content(
        '<html lang="en"><head><title>Good</title></head><body><main><h1>Good</h1>'
        '<button type="button">Save</button><img src="data:," alt="Logo"></main></body></html>'
    )
    plumbing.assert_accessible(page)


def test_screenshots_are_written_as_png(
    new_context: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plumbing, "SCREENSHOTS", tmp_path / "shots")
    page = new_context().new_page()
    page.set_content('<html lang="en"><title>Shot</title><main><h1>Shot</h1></main></html>')
    path = plumbing.screenshot(page, "example")
    assert path == tmp_path / "shots" / "example.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
