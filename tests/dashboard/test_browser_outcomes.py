"""Where a form's outcome lands in a real browser: in view and focused after
the redirect, at desktop and phone widths; and the skip link.

Fixtures (chromium, page, channel) come from test_browser.py's module.
"""

from __future__ import annotations

from typing import Any

import pytest

import rivulet

from .conftest import LiveServer, seg
from .test_browser import HOSTILE, channel, chromium, expect, page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def in_viewport(tab: Any, selector: str) -> bool:
    """Wholly inside the window, not merely scrolled near it."""
    return bool(tab.evaluate(
        """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                      return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight
                             && r.right <= innerWidth && r.height > 0; }""", selector))


@pytest.mark.parametrize("width", [1280, 390])
def test_the_outcome_of_a_form_low_on_the_page_is_in_view_and_focused(
        page: Any, live: LiveServer, channel: rivulet.Client, width: int) -> None:  # noqa: F811
    page.set_viewport_size({"width": width, "height": 720})
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    # The subscriber form sits low on the page: below the fold before posting.
    page.fill("#sub-client", "slow <reader>")
    page.fill("#sub-index", "1")
    page.get_by_role("button", name="Move", exact=True).click()
    outcome = page.locator("#subscriber-form-outcome")
    expect(outcome).to_have_text("Moved 'slow <reader>' to index 1.")
    expect(outcome).to_have_attribute("role", "status")
    expect(outcome).to_be_focused()
    assert in_viewport(page, "#subscriber-form-outcome")
    assert page.url.endswith("#subscriber-form-outcome")
    # A refused change: an alert, beside the same form, focused and in view.
    page.fill("#sub-client", "nobody")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(outcome).to_contain_text("nobody")
    expect(outcome).to_have_attribute("role", "alert")
    expect(outcome).to_be_focused()
    assert in_viewport(page, "#subscriber-form-outcome")
    # Nothing at the top of the page repeats it.
    expect(page.locator("ul.flashes")).to_have_count(0)


def test_a_refused_delete_focuses_its_error(
        page: Any, live: LiveServer, channel: rivulet.Client) -> None:  # noqa: F811
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    page.fill("#delete-confirm", "orders")
    page.get_by_role("button", name="Delete channel").click()
    error = page.locator("#delete-form-outcome")
    expect(error).to_contain_text("type its name exactly")
    expect(error).to_be_focused()
    assert in_viewport(page, "#delete-form-outcome")
    # The next Tab reaches the box, with what was typed kept.
    page.keyboard.press("Tab")
    expect(page.locator("#delete-confirm")).to_be_focused()
    expect(page.locator("#delete-confirm")).to_have_value("orders")


def test_a_live_refresh_leaves_the_outcome_and_its_focus(
        page: Any, live: LiveServer, channel: rivulet.Client) -> None:  # noqa: F811
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    page.fill("#ret-max", "100")
    page.get_by_role("button", name="Save retention").click()
    outcome = page.locator("#retention-form-outcome")
    expect(outcome).to_be_focused()
    page.evaluate("""window.swaps = 0;
        document.body.addEventListener('htmx:afterSettle', () => { window.swaps += 1; });""")
    channel.write(HOSTILE, ["more"])
    # Two settled refreshes (the live part and the messages) have come and gone.
    page.wait_for_function("() => window.swaps >= 2")
    expect(page.locator("tr[data-id='3']")).to_be_visible()
    expect(outcome).to_contain_text("Retention set")
    expect(outcome).to_be_focused()


@pytest.mark.parametrize("path", ["/", "/clients", "CHANNEL"])
def test_the_first_tab_reaches_the_skip_link(
        page: Any, live: LiveServer, channel: rivulet.Client, path: str) -> None:  # noqa: F811
    page.goto(live.url + (f"/channels/{seg(HOSTILE)}" if path == "CHANNEL" else path))
    skip = page.get_by_role("link", name="Skip to content")
    assert not in_viewport(page, ".skip-link")  # hidden until focused
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    assert in_viewport(page, ".skip-link")
    page.keyboard.press("Enter")
    expect(page.locator("main#content")).to_be_focused()
    assert not in_viewport(page, ".skip-link")
