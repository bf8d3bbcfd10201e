"""The overview and clients pages in headless Chromium: sorting by a header
click, and the 390 px layout keeping lag and status on screen."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

import rivulet
from rivulet import keys
from rivulet.models import now_ms

from .conftest import TOKEN, LiveServer

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = (
    os.environ.get("RIVULET_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="no chromium to drive"),
]
#: A long path-like name: it must wrap at its separators inside the name column.
LONG = "payments/eu-west-1/settlement-reconciliation/batch-2026-11-30"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def open_tab(chromium: Any, live: LiveServer, **context: Any) -> tuple[Any, Any, list[str]]:
    ctx = chromium.new_context(**context)
    tab = ctx.new_page()
    tab.set_default_timeout(10_000)
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.goto(f"{live.url}/?token={quote(TOKEN, safe='')}")
    return ctx, tab, problems


@pytest.fixture
def channels(make_real_client: Callable[..., rivulet.Client], real_redis: Any) -> None:
    """aa: caught up; LONG: lag 7 with a reader gone quiet; zz: lag 3, reading."""
    for name, lag in (("aa", 0), (LONG, 7), ("zz", 3)):
        writer = make_real_client(f"writer {name[:8]}", name)
        reader = make_real_client(f"reader {name[:8]}", name)
        writer.write(name, [f"m{i}" for i in range(max(lag, 1))])
        writer.read()
        if not lag:
            reader.read()
    real_redis.zadd(keys.read_key(LONG), {f"reader {LONG[:8]}": now_ms() - 600_000})
    # ...and subscribed as long ago: past its first stop_after, so it is stopped.
    real_redis.hset(keys.history_settings_key(LONG), f"s:reader {LONG[:8]}", now_ms() - 600_000)
    # zz's reader read just now: behind, not a problem.
    real_redis.zadd(keys.read_key("zz"), {"reader zz": now_ms()})


def test_clicking_a_header_sorts(chromium: Any, live: LiveServer, channels: None) -> None:
    ctx, tab, problems = open_tab(chromium, live)
    try:
        names = tab.locator("tr[data-channel]")
        expect(names).to_have_count(3)
        assert names.first.get_attribute("data-channel") == "aa"
        tab.locator('th a[data-sort="lag"]').click()
        tab.wait_for_url("**/?sort=lag")
        expect(tab.locator('th[aria-sort="descending"] a[data-sort="lag"]')).to_have_count(1)
        assert [names.nth(i).get_attribute("data-channel") for i in range(3)] == \
            [LONG, "zz", "aa"]
        # Clicking it again flips the order.
        tab.locator('th a[data-sort="lag"]').click()
        tab.wait_for_url("**/?sort=lag&order=asc")
        assert names.first.get_attribute("data-channel") == "aa"
        tab.get_by_role("link", name="Problems only").click()
        tab.wait_for_url("**problems=1**")
        expect(names).to_have_count(1)
        assert names.first.get_attribute("data-channel") == LONG
    finally:
        ctx.close()
    assert problems == [], problems


@pytest.mark.parametrize("path", ["/", "/clients"])
def test_390px_shows_lag_and_status_without_scrolling_sideways(
    chromium: Any, live: LiveServer, channels: None, path: str
) -> None:
    ctx, tab, problems = open_tab(chromium, live, viewport={"width": 390, "height": 844},
                                  device_scale_factor=1)
    try:
        tab.goto(f"{live.url}{path}")
        rows = tab.locator("tbody tr")
        expect(rows.first).to_be_visible()
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        for i in range(rows.count()):
            for cell in ("td.col-lag", "td.col-status"):
                box = rows.nth(i).locator(cell).bounding_box()
                assert box is not None and box["width"] > 0, (path, i, cell)
                assert 0 <= box["x"] and box["x"] + box["width"] <= 390, (path, i, cell, box)
            name = rows.nth(i).locator("td.col-name").bounding_box()
            assert name is not None and name["x"] + name["width"] <= 390
        if path == "/":
            # The long name wraps at its separators, not mid-word.
            lines = tab.evaluate("""() => {
              const a = [...document.querySelectorAll('td.col-name a')]
                .find(el => el.textContent.startsWith('payments/'));
              const range = document.createRange();
              let line = '';
              const out = [];
              // Walk the text nodes (the <wbr>s split it) and group characters by line.
              const walker = document.createTreeWalker(a, NodeFilter.SHOW_TEXT);
              let last = null;
              for (let n = walker.nextNode(); n; n = walker.nextNode()) {
                for (let k = 0; k < n.length; k++) {
                  range.setStart(n, k); range.setEnd(n, k + 1);
                  const top = Math.round(range.getBoundingClientRect().top);
                  if (last !== null && top !== last) { out.push(line); line = ''; }
                  line += n.data[k]; last = top;
                }
              }
              out.push(line);
              return out;
            }""")
            assert len(lines) > 1 and "".join(lines) == LONG, lines
            # Never between two letters or digits: a separator sits at every break.
            assert all(a[-1] in "/-" or b[0] in "/-" for a, b in itertools.pairwise(lines)), lines
    finally:
        ctx.close()
    assert problems == [], problems


def test_sticky_header_sticks(chromium: Any, live: LiveServer,
                              make_real_client: Callable[..., rivulet.Client]) -> None:
    make_real_client("many", [f"ch-{i:02d}" for i in range(40)])
    ctx, tab, problems = open_tab(chromium, live, viewport={"width": 1280, "height": 600})
    try:
        head = tab.locator("table.channels thead th").first
        expect(head).to_be_visible()
        tab.evaluate("window.scrollTo(0, 900)")
        tab.wait_for_function("window.scrollY >= 900")
        box = head.bounding_box()
        assert box is not None and abs(box["y"]) < 1, box
    finally:
        ctx.close()
    assert problems == [], problems


def test_login_page_shows_no_live_control(chromium: Any, live: LiveServer) -> None:
    ctx = chromium.new_context()
    tab = ctx.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda e: problems.append(str(e)))
    try:
        tab.goto(f"{live.url}/")
        expect(tab.get_by_role("heading", name="This dashboard needs its token")).to_be_visible()
        assert tab.locator("#live-control").count() == 0
        assert "Redis" not in tab.locator("footer").inner_text()
    finally:
        ctx.close()
    assert problems == [], problems
