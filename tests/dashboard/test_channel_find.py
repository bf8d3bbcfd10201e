"""The channel page's message search (q=), seek (at=), id formatting, and the
page a pruned message's link leads to; with hostile names throughout."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

import rivulet

from .conftest import HOSTILE_NAMES, login, seg

NAME = "find/me #1 100%"
T0 = 1_796_000_000_000


def plant(store: Any, name: str, rows: list[tuple[int, int, str, str]]) -> None:
    """Messages as the write script packs them, at chosen times, kept by a reader at 0."""
    members = {json.dumps({"id": i, "ts": ts, "src": src, "data": data}): i
               for i, ts, src, data in rows}
    store.zadd(f"rvl:msg:{{{name}}}", members)
    store.set(f"rvl:id:{{{name}}}", max(i for i, *_ in rows))
    store.zadd(f"rvl:channel:{{{name}}}", {"reader": 0})


@pytest.fixture
def stored(store: Any) -> None:
    plant(store, NAME, [(i, T0 + 1000 * i, "ops" if i % 2 else "billing",
                         f"<b>order {i}</b>" if i % 3 else f"refund {i}")
                        for i in range(1, 31)])


def rows(page: str) -> list[int]:
    """The message ids a page lists, in order."""
    return [int(x) for x in re.findall(r'<tr data-id="(\d+)"', page)]


def get(client: FlaskClient, name: str = NAME, **args: str) -> tuple[int, str]:
    response = client.get(f"/channels/{seg(name)}", query_string=args)
    return response.status_code, response.get_data(as_text=True)


def test_search_lists_matches_newest_first_and_keeps_the_text(
    client: FlaskClient, stored: None
) -> None:
    status, page = get(client, q="REFUND")
    assert status == 200
    assert rows(page) == [30, 27, 24, 21, 18, 15, 12, 9, 6, 3]
    assert 'value="REFUND"' in page  # the field keeps what was asked
    assert "10 found among 30 scanned" in page
    # Search pages hold still: no live refresh replaces the results.
    assert 'id="messages" class="live"' not in page


def test_search_matches_src_and_escapes_the_query(client: FlaskClient, stored: None) -> None:
    status, page = get(client, q="<b>order 1</b>")
    assert status == 200 and rows(page) == [1]
    assert "&lt;b&gt;order 1&lt;/b&gt;" in page and "<b>order 1</b>" not in page
    assert len(rows(get(client, q="billing")[1])) == 15


def test_search_pages_through_older_matches(
    client: FlaskClient, stored: None, monkeypatch: Any
) -> None:
    from rivulet import search

    monkeypatch.setattr(search, "SCAN_BUDGET", 10)  # scan 10 per page
    status, page = get(client, q="refund")
    assert rows(page) == [30, 27, 24, 21]
    assert "older messages not searched yet" in page
    assert f'href="/channels/{seg(NAME)}?q=refund&amp;before=21#messages-heading"' in page
    status, page = get(client, q="refund", before="21")
    assert status == 200 and rows(page) == [18, 15, 12]


def test_a_too_long_search_is_explained(client: FlaskClient, stored: None) -> None:
    status, page = get(client, q="x" * 201)
    assert status == 200 and "at most 200 characters" in page and rows(page) == []


@pytest.mark.parametrize(
    ("at", "first"),
    [(str(T0 + 5000), 5), (str(T0 + 5001), 6), ("1970-01-01T00:00:00Z", 1)],
)
def test_seek_shows_the_page_starting_at_a_time(
    client: FlaskClient, stored: None, at: str, first: int
) -> None:
    status, page = get(client, at=at)
    assert status == 200
    listed = rows(page)
    assert listed[-1] == first and listed == list(range(first + 24, first - 1, -1))
    assert "From the first message written at or after" in page
    # Paging on from there still works, both ways.
    assert (f"?before={first}#messages-heading" in page) == (first > 1)
    assert ("\u2039 newer" in page) == (first + 24 < 30)


def test_seek_past_the_newest_and_bad_times(client: FlaskClient, stored: None) -> None:
    status, page = get(client, at="2999-01-01T00:00:00Z")
    assert status == 200 and "No message was written at or after that time." in page
    status, page = get(client, at="next tuesday")
    assert status == 200 and "is not a time" in page and rows(page) == []


def test_ids_have_thousands_separators(client: FlaskClient, store: Any) -> None:
    plant(store, NAME, [(1_234_567, T0, "s", "big")])
    status, page = get(client)
    assert status == 200 and ">1,234,567</a>" in page
    detail = client.get(f"/channels/{seg(NAME)}/messages/1234567").get_data(as_text=True)
    assert "Message 1,234,567" in detail


def test_a_pruned_message_says_why_and_links_back(
    client: FlaskClient, admin: rivulet.Admin, stored: None
) -> None:
    admin.prune(NAME, upto_id=3)
    response = client.get(f"/channels/{seg(NAME)}/messages/2")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "read them and they are pruned" in page and "retention" in page
    assert "The channel stores ids 4\u201330." in page
    assert f'href="/channels/{seg(NAME)}#messages-heading"' in page
    ahead = client.get(f"/channels/{seg(NAME)}/messages/99")
    assert ahead.status_code == 404 and "has not reached id 99 yet" in ahead.get_data(as_text=True)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_search_seek_and_gone_links_on_hostile_names(
    client: FlaskClient, store: Any, name: str
) -> None:
    plant(store, name, [(1, T0, "s", "needle"), (2, T0 + 1, "s", "hay")])
    assert rows(get(client, name, q="needle")[1]) == [1]
    assert rows(get(client, name, at=str(T0 + 1))[1]) == [2]
    gone = client.get(f"/channels/{seg(name)}/messages/7")
    assert gone.status_code == 404
    assert f'href="/channels/{seg(name)}#messages-heading"' in gone.get_data(as_text=True)
    assert str(escape(name)) in gone.get_data(as_text=True)


def test_search_and_seek_work_read_only(
    make_app: Callable[..., Flask], stored: None
) -> None:
    browser = login(make_app(READ_ONLY=True))
    assert rows(get(browser, q="refund")[1])[:2] == [30, 27]
    assert rows(get(browser, at=str(T0 + 29_000))[1]) == [30, 29]
