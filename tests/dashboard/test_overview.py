"""The overview's sort, order and problems filter, its status summary, and the
same parameters on /api/channels."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import rivulet
from rivulet import keys
from rivulet.models import now_ms

from .conftest import HOSTILE_NAMES, login, seg

#: Statuses ``problems=1`` keeps (SPEC section 9).
PROBLEMS = {"stopped", "stalled", "falling behind", "beyond head"}


def rows(page: str) -> list[str]:
    """Channel names of the overview's rows, in order."""
    return [html.unescape(n) for n in re.findall(r'<tr data-channel="([^"]*)"', page)]


def statuses(page: str) -> dict[str, str]:
    return {html.unescape(n): html.unescape(s) for n, s in
            re.findall(r'<tr data-channel="([^"]*)" id="[^"]+" data-status="([^"]*)"', page)}


def lagging(make_client: Callable[..., rivulet.Client], name: str, lag: int) -> rivulet.Client:
    """A channel with a writer that read everything and a reader ``lag`` behind."""
    writer = make_client(f"w-{name}", name)
    reader = make_client(f"r-{name}", name)
    writer.write(name, [f"m{i}" for i in range(lag)] or ["only"])
    writer.read()  # auto-commits
    if not lag:
        reader.read()
    return reader


def gone_quiet(store: Any, channel: str, client_id: str) -> None:
    """Make ``client_id`` look like a reader that last read ten minutes ago:
    with lag left, that is ``stalled`` (or ``stopped`` once the library tells them apart)."""
    store.zadd(keys.read_key(channel), {client_id: now_ms() - 600_000})
    # ...and subscribed as long ago: past the grace a new subscriber gets.
    store.hset(keys.history_settings_key(channel), f"s:{client_id}", now_ms() - 600_000)


@pytest.fixture
def three(make_client: Callable[..., rivulet.Client], store: Any) -> None:
    """a: caught up; b: lag 5, its reader gone quiet; c: lag 2, read just now
    (``behind``: not judged a problem)."""
    lagging(make_client, "a", 0)
    lagging(make_client, "b", 5)
    gone_quiet(store, "b", "r-b")
    lagging(make_client, "c", 2)
    store.zadd(keys.read_key("c"), {"r-c": now_ms()})


@pytest.fixture
def one_per_page(make_app: Callable[..., Flask]) -> FlaskClient:
    return login(make_app(PAGE_SIZE=1, REFRESH_SECONDS=60))


def test_sort_by_lag_brings_the_worst_channel_to_page_one(
    one_per_page: FlaskClient, three: None
) -> None:
    assert rows(one_per_page.get("/").get_data(as_text=True)) == ["a"]
    assert rows(one_per_page.get("/?sort=lag").get_data(as_text=True)) == ["b"]
    assert rows(one_per_page.get("/?sort=lag&page=2").get_data(as_text=True)) == ["c"]
    assert rows(one_per_page.get("/?sort=lag&order=asc").get_data(as_text=True)) == ["a"]


@pytest.mark.parametrize(("sort", "order", "expected"), [
    ("name", "desc", ["c", "b", "a"]),
    ("lag", "desc", ["b", "c", "a"]),
    ("messages", "desc", ["b", "c", "a"]),
    ("status", "desc", ["b", "c", "a"]),
    ("status", "asc", ["a", "c", "b"]),
    ("lag_seconds", "desc", ["b", "c", "a"]),
    ("subscribers", "desc", ["a", "b", "c"]),  # a tie: names break it, ascending
    ("head_id", "asc", ["a", "c", "b"]),
])
def test_every_sort_key_and_order(
    client: FlaskClient, three: None, sort: str, order: str, expected: list[str]
) -> None:
    page = client.get(f"/?sort={sort}&order={order}").get_data(as_text=True)
    assert rows(page) == expected


def test_problems_only_and_the_summary_line(client: FlaskClient, three: None) -> None:
    page = client.get("/").get_data(as_text=True)
    found = statuses(page)
    assert found["a"] == "caught up" and found["b"] in PROBLEMS
    summary = re.search(r'<p class="summary".*?</p>', page, re.S)
    assert summary, page
    assert re.search(r">1 caught up</span>", summary.group(0))
    assert re.search(rf">1 {found['b']}</span>", summary.group(0))
    problems = client.get("/?problems=1").get_data(as_text=True)
    assert rows(problems) == ["b"]
    assert "1</strong> problem channel" in problems
    # The summary still counts every channel, and says how old its reading is.
    assert ">1 caught up</span>" in problems and 'id="scan-age"' in problems


def test_problems_only_with_none_says_so(client: FlaskClient,
                                         make_client: Callable[..., rivulet.Client]) -> None:
    lagging(make_client, "fine", 0)
    page = client.get("/?problems=1").get_data(as_text=True)
    assert rows(page) == []
    assert "No channel is stopped, stalled, falling behind or beyond head." in page


def test_headers_link_to_their_sort_with_aria_sort(client: FlaskClient, three: None) -> None:
    page = client.get("/?sort=lag&q=&problems=1").get_data(as_text=True)
    heads = {key: href for href, key in
             re.findall(r'<a href="([^"]+)" data-sort="([a-z_]+)"', page)}
    assert set(heads) == {"name", "messages", "head_id", "subscribers", "lag", "lag_seconds",
                          "status", "last_write"}
    # The current column flips its order; the others start descending (name ascending).
    assert html.unescape(heads["lag"]) == "/?sort=lag&order=asc&problems=1"
    assert html.unescape(heads["status"]) == "/?sort=status&problems=1"
    assert html.unescape(heads["name"]) == "/?problems=1"
    assert re.search(r'<th scope="col" class="col-lag num" aria-sort="descending">', page)
    assert page.count("aria-sort=") == 1


def test_paging_and_filtering_keep_the_view(one_per_page: FlaskClient, three: None) -> None:
    page = one_per_page.get("/?sort=lag&order=asc&problems=0").get_data(as_text=True)
    pager = re.search(r'<nav class="pager".*?</nav>', page, re.S)
    assert pager
    assert 'href="/?page=2&amp;sort=lag&amp;order=asc"' in pager.group(0)
    assert '<input type="hidden" name="sort" value="lag">' in page
    assert '<input type="hidden" name="order" value="asc">' in page
    # The live fragment polls the same view.
    assert 'hx-get="/_channels?sort=lag&amp;order=asc"' in page
    fragment = one_per_page.get("/_channels?sort=lag&order=asc&page=2").get_data(as_text=True)
    assert rows(fragment) == ["c"]
    filtered = one_per_page.get("/?q=b&sort=lag&problems=1").get_data(as_text=True)
    assert rows(filtered) == ["b"]


@pytest.mark.parametrize(("query", "says"), [
    ("sort=size", "sort must be one of name, messages"),
    ("order=up", "order must be asc or desc"),
    ("problems=yes", "problems must be 1 or 0"),
])
def test_bad_parameters_are_a_clear_400(client: FlaskClient, query: str, says: str) -> None:
    for path in ("/", "/_channels", "/api/channels"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, path
        assert says in response.get_data(as_text=True), path


def test_empty_parameters_mean_the_defaults(client: FlaskClient, three: None) -> None:
    assert rows(client.get("/?sort=&order=&problems=").get_data(as_text=True)) == ["a", "b", "c"]
    assert rows(client.get("/?sort=lag&order=").get_data(as_text=True)) == ["b", "c", "a"]


class CountingAdmin:
    """Counts full scans (``channel_page`` without a limit) and registry pages."""

    def __init__(self, inner: rivulet.Admin) -> None:
        self.inner = inner
        self.scans = 0
        self.pages = 0
        self.lock = threading.Lock()

    def channel_page(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            if kwargs.get("limit") is None:
                self.scans += 1
            else:
                self.pages += 1
        return self.inner.channel_page(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_scan_is_reused_within_the_refresh_interval(
    make_app: Callable[..., Flask], admin: rivulet.Admin, three: None
) -> None:
    counting = CountingAdmin(admin)
    browser = login(make_app(ADMIN=counting, REFRESH_SECONDS=3600))
    for _ in range(3):
        assert browser.get("/?sort=lag").status_code == 200
        assert browser.get("/_channels?sort=status&problems=1").status_code == 200
    assert counting.scans == 1
    # Sorted by name, the overview stays a registry page: no scan at all.
    counting.scans = 0
    for _ in range(2):
        browser.get("/")
    assert counting.scans == 0 and counting.pages >= 2


def test_a_scan_older_than_the_interval_is_read_again(
    make_app: Callable[..., Flask], admin: rivulet.Admin, three: None,
    make_client: Callable[..., rivulet.Client],
) -> None:
    counting = CountingAdmin(admin)
    # The shortest interval the dashboard allows is 1 s; the test moves the clock instead.
    app = make_app(ADMIN=counting, REFRESH_SECONDS=1)
    browser = login(app)
    assert rows(browser.get("/?sort=lag").get_data(as_text=True)) == ["b", "c", "a"]
    lagging(make_client, "d", 9)
    cache = app.extensions["rivulet.listing.scan"]
    for scan in cache._scans.values():
        scan.at_monotonic -= 5
    assert rows(browser.get("/?sort=lag").get_data(as_text=True)) == ["d", "b", "c", "a"]
    assert counting.scans == 2


def test_api_takes_the_same_parameters(client: FlaskClient, three: None) -> None:
    body = client.get("/api/channels?sort=lag&order=desc&limit=2").get_json()
    assert [c["name"] for c in body["channels"]] == ["b", "c"]
    assert body["total"] == 3
    assert body["counts"]["caught up"] == 1 and sum(body["counts"].values()) == 3
    assert isinstance(body["scanned_at_ms"], int)
    problems = client.get("/api/channels?problems=1").get_json()
    assert [c["name"] for c in problems["channels"]] == ["b"]
    assert problems["channels"][0]["status"] in PROBLEMS
    plain = client.get("/api/channels").get_json()
    assert [c["name"] for c in plain["channels"]] == ["a", "b", "c"]
    assert plain["scanned_at_ms"] is None
    assert client.get("/api/channels?sort=nope").status_code == 400


def test_hostile_names_sort_and_link(client: FlaskClient, hostile: rivulet.Client) -> None:
    for query in ("sort=lag", "sort=status&order=asc", "problems=1", "sort=name&order=desc"):
        page = client.get(f"/?{query}").get_data(as_text=True)
        assert "<script>alert(1)</script>" not in page
        listed = rows(page)
        assert set(listed) <= set(HOSTILE_NAMES)
        for name in listed:
            assert f'href="/channels/{seg(name)}"' in page.replace("&amp;", "&") or \
                html.escape(f"/channels/{seg(name)}") in page
    assert rows(client.get("/?sort=name&order=desc").get_data(as_text=True)) == \
        sorted(HOSTILE_NAMES, reverse=True)


def test_rows_have_stable_ids(client: FlaskClient, three: None) -> None:
    first = re.findall(r'<tr data-channel="[^"]*" id="([^"]+)"', client.get("/").get_data(True))
    again = re.findall(r'<tr data-channel="[^"]*" id="([^"]+)"',
                       client.get("/?sort=lag").get_data(True))
    assert len(set(first)) == 3 and sorted(first) == sorted(again)


def test_thousands_separators_in_counts(client: FlaskClient,
                                        make_client: Callable[..., rivulet.Client]) -> None:
    writer = make_client("w", "big")
    writer.write("big", [str(i) for i in range(1234)])
    page = client.get("/?sort=messages").get_data(as_text=True)
    assert '<td class="num col-messages">1,234</td>' in page
    assert '<td class="num col-head_id">1,234</td>' in page
