"""The dashboard in a real headless Chromium (Debian's, driven by Playwright).

Never `playwright install`: the system browser is used through executable_path.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

import rivulet

from .conftest import TOKEN, LiveServer, seg

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = (
    os.environ.get("RIVULET_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="no chromium to drive"),
]

HOSTILE = "orders/<b>eu</b> #1 100%?"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, live: LiveServer) -> Iterator[Any]:
    context = chromium.new_context()
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    problems: list[str] = []
    # CSP violations and script errors show up on the console.
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.goto(f"{live.url}/?token={quote(TOKEN, safe='')}")
    yield tab
    context.close()
    assert problems == [], problems


@pytest.fixture
def channel(make_real_client: Callable[..., rivulet.Client]) -> rivulet.Client:
    writer = make_real_client("writer", HOSTILE)
    make_real_client("slow <reader>", HOSTILE)
    writer.write(HOSTILE, ['{"hello": "world"}', "second"])
    writer.read()
    return writer


def test_overview_and_following_a_channel_link(page: Any, live: LiveServer, channel: Any) -> None:
    # The login redirect dropped the token from the address bar.
    assert page.url == f"{live.url}/"
    link = page.get_by_role("link", name=HOSTILE, exact=True)
    expect(link).to_be_visible()
    row = page.locator("tr[data-channel]").filter(has=link)
    expect(row.locator("td.lag")).to_have_text("2")
    link.click()
    expect(page.locator("h1.channel-name")).to_have_text(HOSTILE)
    assert page.url == f"{live.url}/channels/{seg(HOSTILE)}"
    expect(page.locator("td.data pre").first).to_have_text("second")
    expect(page.locator("td.data pre").nth(1)).to_contain_text('"hello": "world"')


def test_lag_changes_without_a_reload(
    page: Any, live: LiveServer, channel: rivulet.Client, make_real_client: Any
) -> None:
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    lag = page.locator('tr[data-client="slow <reader>"] td.lag')
    expect(lag).to_have_text("2")
    page.evaluate("window.notReloaded = true")
    channel.write(HOSTILE, [f"m{i}" for i in range(5)])
    expect(lag).to_have_text("7")
    status = page.locator('tr[data-client="slow <reader>"] td.col-status .status')
    expect(status).to_have_text("behind")
    # The new messages appear in the live message list too.
    expect(page.locator("tr[data-id='7']")).to_be_visible()
    slow = make_real_client("slow <reader>")
    slow.read()
    expect(lag).to_have_text("0")
    expect(status).to_have_text("caught up")
    assert page.evaluate("window.notReloaded") is True


def test_pause_stops_refreshing_and_resume_restarts(
    page: Any, live: LiveServer, channel: rivulet.Client
) -> None:
    page.goto(f"{live.url}/")
    lag = page.locator("tr[data-channel] td.lag").first
    expect(lag).to_have_text("2")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#live-status")).to_have_text("paused")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    channel.write(HOSTILE, ["more"])
    # Nothing to wait for when nothing should happen: give it over two intervals.
    page.wait_for_timeout(2500)
    assert not [u for u in requests if "/_channels" in u]
    expect(lag).to_have_text("2")
    page.get_by_role("button", name="Resume").click()
    expect(lag).to_have_text("3")
    # The choice of interval survives a reload.
    page.select_option("#refresh-interval", "5")
    page.reload()
    expect(page.locator("#refresh-interval")).to_have_value("5")


def test_pause_in_one_tab_pauses_and_resumes_the_others(
    page: Any, live: LiveServer, channel: rivulet.Client
) -> None:
    other = page.context.new_page()  # same browser profile: same stored choice
    other.goto(f"{live.url}/")
    page.goto(f"{live.url}/")
    page.get_by_role("button", name="Pause").click()
    expect(other.get_by_role("button", name="Resume")).to_be_visible()
    page.get_by_role("button", name="Resume").click()
    expect(other.get_by_role("button", name="Pause")).to_be_visible()
    channel.write(HOSTILE, ["more"])
    expect(other.locator("tr[data-channel] td.lag").first).to_have_text("3")
    other.close()


def test_post_through_the_form(page: Any, live: LiveServer, channel: Any) -> None:
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    page.fill("#post-data", '{"posted": "<i>from the browser</i>"}')
    page.fill("#post-src", "browser test")
    page.get_by_role("button", name="Post message").click()
    expect(page.locator(".flash-ok")).to_have_text("Posted message 3 as 'browser test'.")
    # Back at the form it came from, at its outcome, not at the top of the page.
    assert page.url == f"{live.url}/channels/{seg(HOSTILE)}#post-form-outcome"
    newest = page.locator("tr[data-id='3']")
    expect(newest.locator("td.src")).to_have_text("browser test")
    expect(newest.locator("pre")).to_contain_text('"posted": "<i>from the browser</i>"')


def test_delete_with_the_confirmation(
    page: Any, live: LiveServer, channel: Any, real_redis: Any
) -> None:
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    expect(page.locator("#delete-form")).to_contain_text("2 stored messages")
    channel.write(HOSTILE, ["one more"])
    # What will be lost stays current: it rides along with each live refresh.
    expect(page.locator("#delete-form")).to_contain_text("3 stored messages")
    page.fill("#delete-confirm", "orders")
    page.get_by_role("button", name="Delete channel").click()
    expect(page.locator(".flash-error")).to_contain_text("type its name exactly")
    assert rivulet.Admin(real_redis).channel_count() == 1
    page.fill("#delete-confirm", HOSTILE)
    page.get_by_role("button", name="Delete channel").click()
    expect(page.locator(".flash-ok")).to_have_text(f"Deleted channel {HOSTILE!r}.")
    # At the overview's flashes, focused (tests/dashboard/test_browser_outcomes.py).
    assert page.url == f"{live.url}/#flashes"
    expect(page.locator("#flashes")).to_be_focused()
    expect(page.get_by_role("link", name=HOSTILE)).to_have_count(0)
    assert rivulet.Admin(real_redis).channel_count() == 0


def test_a_channel_deleted_elsewhere_says_so(
    page: Any, live: LiveServer, channel: Any, real_redis: Any
) -> None:
    page.goto(f"{live.url}/channels/{seg(HOSTILE)}")
    expect(page.locator("#channel-live")).to_contain_text("slow <reader>")
    rivulet.Admin(real_redis).delete_channel(HOSTILE)
    expect(page.locator("#channel-live")).to_contain_text("no longer exists")


def test_without_a_token_the_login_page_logs_in(chromium: Any, live: LiveServer) -> None:
    context = chromium.new_context()
    tab = context.new_page()
    response = tab.goto(f"{live.url}/clients")
    assert response is not None and response.status == 401
    tab.fill("#token", TOKEN)
    tab.get_by_role("button", name="Log in").click()
    expect(tab.locator("h1")).to_have_text("Clients")
    assert tab.url == f"{live.url}/clients"
    context.close()
