"""The channel page in a real headless Chromium: refreshes that keep the
person's place, the 503 page obeying Pause, prune preview then confirm.

Fixtures (chromium, page, channel) come from test_browser.py's module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask

import rivulet
from dashboard import create_app

from ..conftest import free_port
from .conftest import TOKEN, LiveServer, seg
from .test_browser import HOSTILE, channel, chromium, page  # noqa: F401  (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser]

#: Counts finished htmx swaps, so a test waits for refreshes by event, not by time.
COUNT_SWAPS = """() => {
  window.swaps = 0;
  document.body.addEventListener('htmx:afterSettle', () => { window.swaps += 1; });
}"""


def test_selection_and_typed_text_survive_three_refreshes(
    page: Any, live: LiveServer, channel: rivulet.Client  # noqa: F811
) -> None:
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    page.evaluate(COUNT_SWAPS)
    # Type into the post form, then select the oldest message's source cell.
    page.locator("#post-data").type("half-typed <note>")
    page.evaluate("""() => {
      document.getElementById('post-data').blur();
      const cell = document.querySelector("tr[data-id='1'] td.src");
      const range = document.createRange();
      range.selectNodeContents(cell);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
    }""")
    assert page.evaluate("window.getSelection().toString()") == "writer"
    for round_ in range(3):
        channel.write(HOSTILE, [f"during refresh {round_}"])
        # The new row shows once a refresh has swapped it in.
        expect(page.locator(f"tr[data-id='{3 + round_}']")).to_be_attached()
    assert page.evaluate("window.swaps") >= 3
    assert page.evaluate("window.getSelection().toString()") == "writer"
    assert page.input_value("#post-data") == "half-typed <note>"


def test_scroll_position_holds_while_the_table_below_grows(
    page: Any, live: LiveServer, channel: rivulet.Client  # noqa: F811
) -> None:
    page.set_viewport_size({"width": 1280, "height": 500})
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    page.evaluate("document.getElementById('messages-heading').scrollIntoView()")
    before = page.evaluate("window.scrollY")
    heading_top = page.evaluate(
        "document.getElementById('messages-heading').getBoundingClientRect().top")
    assert before > 0
    heights = []
    for round_ in range(3):
        # More rows: the table below the heading changes height each round.
        channel.write(HOSTILE, [f"{round_}.{i}" for i in range(4)])
        expect(page.locator(f"tr[data-id='{2 + 4 * (round_ + 1)}']")).to_be_attached()
        heights.append(page.evaluate("document.querySelector('#messages table').offsetHeight"))
        assert page.evaluate("window.scrollY") == before
        assert page.evaluate(
            "document.getElementById('messages-heading').getBoundingClientRect().top"
        ) == heading_top
    assert heights[0] < heights[1] < heights[2]


def test_the_row_you_read_stays_put_while_newer_rows_arrive_above(
    page: Any, live: LiveServer, channel: rivulet.Client  # noqa: F811
) -> None:
    # Newest first: each refresh inserts rows above the one being read. Morphing
    # keeps that row's node, so the browser's scroll anchoring keeps it in place;
    # a replaced table would leave the viewport where it was and the row would
    # slide down out of sight.
    page.set_viewport_size({"width": 900, "height": 300})
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    row = "tr[data-id='1']"
    page.evaluate("r => document.querySelector(r).scrollIntoView()", row)
    top = page.evaluate("r => document.querySelector(r).getBoundingClientRect().top", row)
    assert abs(top) < 2 and page.evaluate("window.scrollY") > 0
    for round_ in range(3):
        channel.write(HOSTILE, [f"{round_}.{i}" for i in range(3)])
        expect(page.locator(f"tr[data-id='{2 + 3 * (round_ + 1)}']")).to_be_attached()
        moved = page.evaluate("r => document.querySelector(r).getBoundingClientRect().top", row)
        assert abs(moved - top) < 2, (round_, top, moved)


def test_relative_times_tick_while_paused(
    page: Any, live: LiveServer, channel: rivulet.Client  # noqa: F811
) -> None:
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    page.get_by_role("button", name="Pause").click()
    first = page.locator("tr[data-id='1'] time")
    shown = first.inner_text()
    # The clock on the page moves on by itself: wait until the text changes.
    page.wait_for_function(
        "t => document.querySelector(\"tr[data-id='1'] time\").textContent !== t", arg=shown)
    assert first.inner_text().endswith("ago")


@pytest.fixture
def dead_live() -> Iterator[LiveServer]:
    """The dashboard over a Redis that is not there (a closed loopback port)."""
    app: Flask = create_app({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                             "DASHBOARD_TOKEN": TOKEN, "REFRESH_SECONDS": 1.0})
    server = LiveServer(app)
    yield server
    server.stop()


def test_pause_stops_the_503_pages_reloads(chromium: Any, dead_live: LiveServer) -> None:  # noqa: F811
    context = chromium.new_context()
    tab = context.new_page()
    loads: list[str] = []
    tab.on("load", lambda: loads.append(tab.url))
    tab.goto(f"{dead_live.url}/?token={quote(TOKEN, safe='')}")
    expect(tab.locator("h1")).to_have_text("Redis is unreachable")
    expect(tab.locator("#retry-seconds")).to_have_text("1")
    expect(tab.locator("#refresh-interval")).to_have_value("1")
    # It reloads by itself (an event to wait for) ...
    count = len(loads)
    tab.wait_for_event("load", timeout=10_000)
    assert len(loads) > count
    tab.get_by_role("button", name="Pause").click()
    expect(tab.locator("#retry-paused")).to_be_visible()
    paused_at = len(loads)
    # ... and not while paused: nothing to wait for, so give it three intervals.
    tab.wait_for_timeout(3000)
    assert len(loads) == paused_at
    tab.get_by_role("button", name="Resume").click()
    tab.wait_for_event("load", timeout=10_000)
    context.close()


def test_prune_preview_then_confirm(
    page: Any, live: LiveServer, channel: rivulet.Client, real_redis: Any  # noqa: F811
) -> None:
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    page.fill("#prune-keep", "1")
    page.get_by_role("button", name="Preview prune").click()
    expect(page.locator("h1")).to_have_text("Prune 1 message?")
    expect(page.locator("table.prune-unread")).to_contain_text("slow <reader>")
    assert rivulet.Admin(real_redis).count(HOSTILE) == 2
    page.get_by_role("button", name="Prune 1 message").click()
    expect(page.locator(".flash-ok")).to_have_text("Pruned 1 message (ids up to 1).")
    assert page.url == f"{live.url}/channels/{seg(HOSTILE)}#prune-form-outcome"
    assert rivulet.Admin(real_redis).count(HOSTILE) == 1


def test_removing_the_last_subscriber_asks_for_the_name(
    page: Any, live: LiveServer, make_real_client: Callable[..., rivulet.Client],  # noqa: F811
    real_redis: Any,
) -> None:
    make_real_client("only one", "solo").write("solo", ["x"])
    page.goto(f"{live.url}/channels/solo")
    page.fill("#sub-client", "only one")
    page.get_by_role("button", name="Remove", exact=True).click()
    expect(page.locator("h1")).to_have_text("Remove the last subscriber?")
    page.fill("#remove-last-confirm", "solo")
    page.get_by_role("button", name="Remove and delete the channel").click()
    expect(page.locator(".flash-ok")).to_contain_text("channel 'solo' is gone")
    assert rivulet.Admin(real_redis).channel_count() == 0
