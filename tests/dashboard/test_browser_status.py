"""The channel page's sparklines and status in a real headless Chromium: the
live refresh redraws the sparklines, and at 390 px lag and status stay on screen.

Fixtures (chromium, page) come from test_browser.py's module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import rivulet

from .conftest import LiveServer, seg
from .test_browser import chromium, page  # noqa: F401  (fixtures)
from .test_browser_overview import open_tab

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser]

NAME = "status/sparkline-demo.channel"
#: The slow reader's id: long, with separators, so the name column must wrap.
SLOW = "billing-service/eu-west-1/reader.replica-02"


@pytest.fixture
def lagging(make_real_client: Callable[..., rivulet.Client], real_redis: Any) -> rivulet.Client:
    """A writer (caught up) and a slow reader that has read nothing, with a
    snapshot recorded at every write."""
    writer = make_real_client("writer", NAME)
    make_real_client(SLOW, NAME)
    rivulet.Admin(real_redis).set_history(NAME, interval=0.001)
    writer.write(NAME, ["a", "b"])
    writer.read()
    return writer


def test_the_sparkline_follows_live_refresh(
    page: Any, live: LiveServer, lagging: rivulet.Client  # noqa: F811
) -> None:
    page.goto(f"{live.url}/channels/{seg(NAME)}")
    row = page.locator(f"tr[data-client='{SLOW}']")
    svg = row.locator("svg.spark")
    expect(svg).to_be_visible()
    first = svg.inner_html()
    label = svg.get_attribute("aria-label")
    lagging.write(NAME, [f"m{i}" for i in range(5)])
    # The refresh that brings lag 7 redraws the sparkline (morphed in place).
    expect(row.locator("td.col-lag")).to_have_text("7")
    expect(svg).not_to_have_attribute("aria-label", label or "")
    assert svg.inner_html() != first
    assert "now 7" in (svg.get_attribute("aria-label") or "")


def test_390px_channel_page_shows_lag_and_status(
    chromium: Any, live: LiveServer, lagging: rivulet.Client  # noqa: F811
) -> None:
    ctx, tab, problems = open_tab(chromium, live, viewport={"width": 390, "height": 844},
                                  device_scale_factor=1)
    try:
        tab.goto(f"{live.url}/channels/{seg(NAME)}")
        rows = tab.locator("table.subscribers tbody tr")
        expect(rows.first).to_be_visible()
        assert rows.count() == 2
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        for i in range(rows.count()):
            for cell in ("td.col-lag", "td.col-status", "td.col-name"):
                box = rows.nth(i).locator(cell).bounding_box()
                assert box is not None and box["width"] > 0, (i, cell)
                assert 0 <= box["x"] and box["x"] + box["width"] <= 390, (i, cell, box)
        # The long client id wraps at its separators only.
        breaks = tab.evaluate("""(id) => {
          const td = document.querySelector(`tr[data-client="${id}"] td.col-name`);
          const range = document.createRange();
          const lines = []; let line = ''; let last = null;
          const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
          for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            for (let k = 0; k < n.length; k++) {
              range.setStart(n, k); range.setEnd(n, k + 1);
              const top = Math.round(range.getBoundingClientRect().top);
              if (last !== null && top !== last) { lines.push(line); line = ''; }
              line += n.data[k]; last = top;
            }
          }
          lines.push(line);
          return lines;
        }""", SLOW)
        assert "".join(breaks) == SLOW
        assert len(breaks) > 1, breaks
        assert all(a[-1] in "/-._" for a in breaks[:-1]), breaks
        expect(tab.locator("#worst-lag")).to_have_class("stat-warn")
    finally:
        ctx.close()
    assert problems == [], problems
