"""Pages and their live fragments: content, links, escaping and paging."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from markupsafe import escape

import rivulet

from .conftest import HOSTILE_NAMES, login, seg


def channel_links(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="(/channels/[^"#?]+)"', page)]


def test_overview_lists_every_channel_with_its_numbers(
    client: FlaskClient, make_client: Callable[..., rivulet.Client]
) -> None:
    writer = make_client("writer", "orders")
    make_client("slow", "orders")
    writer.write("orders", ["a", "b", "c"])
    writer.read()
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    row = re.search(r'<tr data-channel="orders".*?</tr>', page, re.S)
    assert row, page
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row.group(0))
    # messages, head id, subscribers, worst lag (the slow reader has read nothing)
    assert cells[:4] == ["3", "3", "2", "3"]
    assert "1</strong> channel" in page


def test_hostile_names_are_escaped_and_link_to_their_own_page(
    client: FlaskClient, hostile: rivulet.Client
) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    links = channel_links(page)
    assert sorted(links) == sorted(f"/channels/{seg(n)}" for n in HOSTILE_NAMES)
    for name in HOSTILE_NAMES:
        response = client.get(f"/channels/{seg(name)}")
        body = response.get_data(as_text=True)
        assert response.status_code == 200, name
        # The heading shows the full id, escaped (with <wbr> break points after separators).
        heading = body.replace("<wbr>", "")
        assert f'<h1 class="channel-name">{escape(name)}</h1>' in heading, name
        assert "<img src=x" not in body and "<script>x()" not in body
        assert "&lt;img src=x onerror=alert(1)&gt;" in body
        assert 'data-client="reader &lt;b&gt;&amp;amp;&lt;/b&gt; /x"' in body


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_every_fragment_and_api_route_takes_hostile_names(
    client: FlaskClient, hostile: rivulet.Client, name: str
) -> None:
    for path in (
        f"/channels/{seg(name)}/_live",
        f"/channels/{seg(name)}/_messages",
        f"/channels/{seg(name)}/messages/1",
        f"/api/channels/{seg(name)}",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
    assert client.get(f"/api/channels/{seg(name)}").get_json()["channel"]["name"] == name


def test_channel_page_shows_subscribers_status_and_pruned_unread(
    client: FlaskClient, admin: rivulet.Admin, make_client: Callable[..., rivulet.Client]
) -> None:
    fast = make_client("fast", "jobs")
    make_client("never reads", "jobs")
    fast.write("jobs", [f"m{i}" for i in range(5)])
    fast.read()
    admin.prune("jobs", upto_id=2)
    page = client.get(f"/channels/{seg('jobs')}").get_data(as_text=True)
    fast_row = re.search(r'<tr data-client="fast".*?</tr>', page, re.S)
    slow_row = re.search(r'<tr data-client="never reads".*?</tr>', page, re.S)
    assert fast_row and slow_row
    assert "caught up" in fast_row.group(0)
    assert "behind" in slow_row.group(0)  # just subscribed: not judged yet
    slow_cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', slow_row.group(0))
    # index 0, lag 5, pending 3, pruned unread 2
    assert slow_cells[:4] == ["0", "5", "3", "2"]


def test_messages_are_pretty_printed_and_paged(
    make_app: Callable[..., Any], make_client: Callable[..., rivulet.Client]
) -> None:
    writer = make_client("w", "log")
    writer.write("log", ['{"b": [1, 2], "a": "x"}'] + [f"line {i}" for i in range(2, 8)])
    browser = login(make_app(MESSAGES_PAGE_SIZE=3))
    first = browser.get(f"/channels/{seg('log')}").get_data(as_text=True)
    assert re.findall(r'<tr data-id="(\d+)"', first) == ["7", "6", "5"]
    assert 'href="/channels/log?before=5#messages-heading"' in first
    older = browser.get(f"/channels/{seg('log')}?before=5").get_data(as_text=True)
    assert re.findall(r'<tr data-id="(\d+)"', older) == ["4", "3", "2"]
    # A paged view holds still: its messages section is not live.
    messages = older[older.index('<section id="messages"') :]
    assert "data-live" not in messages[:200]
    oldest = browser.get(f"/channels/{seg('log')}?before=2").get_data(as_text=True)
    assert re.findall(r'<tr data-id="(\d+)"', oldest) == ["1"]
    assert "{\n  &#34;b&#34;: [\n    1," in oldest
    newer = browser.get(f"/channels/{seg('log')}?after=1").get_data(as_text=True)
    assert re.findall(r'<tr data-id="(\d+)"', newer) == ["4", "3", "2"]


def test_long_messages_are_cut_on_lists_and_whole_on_their_page(
    client: FlaskClient, make_client: Callable[..., rivulet.Client]
) -> None:
    writer = make_client("w", "big")
    writer.write("big", "x" * 5000)
    listing = client.get(f"/channels/{seg('big')}").get_data(as_text=True)
    assert "3,000 more characters" in listing
    whole = client.get(f"/channels/{seg('big')}/messages/1").get_data(as_text=True)
    assert "x" * 5000 in whole
    assert client.get(f"/channels/{seg('big')}/messages/2").status_code == 404


def test_malformed_stored_member_is_shown_not_hidden(
    client: FlaskClient, store: Any, make_client: Callable[..., rivulet.Client]
) -> None:
    make_client("w", "raw").write("raw", "ok")
    store.zadd("rvl:msg:{raw}", {"not json <b>": 1})
    page = client.get(f"/channels/{seg('raw')}").get_data(as_text=True)
    assert "malformed" in page and "not json &lt;b&gt;" in page


def test_a_channel_with_an_unreadable_key_is_an_error_state_not_a_500(
    client: FlaskClient, store: Any, make_client: Callable[..., rivulet.Client]
) -> None:
    make_client("w", ["bk/bad", "bk/good"]).write("bk/bad", "x")
    make_client("r", ["bk/bad", "bk/good"])
    store.delete("rvl:msg:{bk/bad}")
    store.set("rvl:msg:{bk/bad}", "oops")  # written around the library
    response = client.get(f"/channels/{seg('bk/bad')}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "WRONGTYPE" in page and "The messages cannot be read" in page
    assert 'id="delete-form"' in page  # the way out stays within reach
    assert client.get(f"/channels/{seg('bk/bad')}/_live").status_code == 200
    # Listed as a problem, never as a healthy channel at lag 0.
    problems = client.get("/?problems=1").get_data(as_text=True)
    assert channel_links(problems) == [f"/channels/{seg('bk/bad')}"]
    assert rivulet.Admin(store).channel("bk/bad").status == "error"


def test_filter_and_pagination(
    make_app: Callable[..., Any], make_client: Callable[..., rivulet.Client]
) -> None:
    names = [f"team/{i:02d}" for i in range(7)] + ["Other 100%", "a*b", "axb"]
    make_client("r", names)
    browser = login(make_app(PAGE_SIZE=3))
    page1 = browser.get("/?q=TEAM").get_data(as_text=True)
    assert [n for n in channel_links(page1)] == [f"/channels/team%2F0{i}" for i in range(3)]
    assert "<strong>7</strong> channels" in page1 and "page 1 of 3" in page1
    assert 'href="/?page=2&amp;q=TEAM"' in page1 or 'href="/?q=TEAM&amp;page=2"' in page1
    page3 = browser.get("/?q=team&page=3").get_data(as_text=True)
    assert channel_links(page3) == ["/channels/team%2F06"]
    # Glob characters in the filter are plain text.
    assert channel_links(browser.get("/?q=a*b").get_data(as_text=True)) == ["/channels/a%2Ab"]
    assert channel_links(browser.get("/?q=100%25").get_data(as_text=True)) == [
        "/channels/Other%20100%25"
    ]
    # The fragment the overview polls keeps the filter and page.
    assert 'hx-get="/_channels?q=team&amp;page=3"' in page3 or (
        'hx-get="/_channels?page=3&amp;q=team"' in page3
    )
    fragment = browser.get("/_channels?q=team&page=3").get_data(as_text=True)
    assert fragment.lstrip().startswith("<section") or "<section" in fragment[:400]
    assert "<html" not in fragment
    assert channel_links(fragment) == ["/channels/team%2F06"]
    assert browser.get("/?page=0").status_code == 400
    assert browser.get("/?page=x").status_code == 400
    assert "No channel name contains" in browser.get("/?q=zzz").get_data(as_text=True)


def test_clients_page_lists_channels_and_lags(
    client: FlaskClient, make_client: Callable[..., rivulet.Client]
) -> None:
    writer = make_client("writer <i>", ["a/1", "b 2"])
    make_client("reader", ["a/1"])
    writer.write("a/1", ["x", "y"])
    page = client.get("/clients").get_data(as_text=True)
    assert "writer &lt;i&gt;" in page
    assert 'href="/channels/a%2F1"' in page and 'href="/channels/b%202"' in page
    fragment = client.get("/_clients").get_data(as_text=True)
    assert "<html" not in fragment and 'data-client="reader"' in fragment


def test_each_page_includes_its_fragment(client: FlaskClient, hostile: rivulet.Client) -> None:
    """One source of markup: the page's live section equals what the fragment route sends."""
    name = HOSTILE_NAMES[0]
    pairs = [
        ("/", "/_channels"),
        ("/clients", "/_clients"),
        (f"/channels/{seg(name)}", f"/channels/{seg(name)}/_messages"),
    ]
    for page_path, fragment_path in pairs:
        page = client.get(page_path).get_data(as_text=True)
        fragment = client.get(fragment_path).get_data(as_text=True).strip()
        section_id = re.search(r'<section id="([^"]+)"', fragment)
        assert section_id, fragment_path
        assert f'<section id="{section_id.group(1)}"' in page


def test_unknown_channel_is_404_and_invalid_name_400(client: FlaskClient) -> None:
    response = client.get(f"/channels/{seg('nope/x')}")
    assert response.status_code == 404
    assert "There is no channel &#39;nope/x&#39;" in response.get_data(as_text=True)
    assert client.get(f"/channels/{seg('bad{name}')}").status_code == 400
    assert client.get("/channels/%FF%FE").status_code == 404
    assert client.get(f"/api/channels/{seg('nope')}").status_code == 404
    assert client.get(f"/api/channels/{seg('nope')}").json == {
        "error": "No such channel",
        "detail": "There is no channel 'nope'.",
    }


def test_deleted_channel_fragment_stops_polling(
    client: FlaskClient, admin: rivulet.Admin, make_client: Callable[..., rivulet.Client]
) -> None:
    make_client("r", "short lived")
    assert "data-live" in client.get(f"/channels/{seg('short lived')}/_live").get_data(True)
    admin.delete_channel("short lived")
    for suffix in ("_live", "_messages"):
        response = client.get(f"/channels/{seg('short lived')}/{suffix}")
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        assert "data-live" not in body and "hx-get" not in body


def test_favicon_and_static_files_need_no_token(anon: FlaskClient) -> None:
    from dashboard import HTMX_VERSION

    for path in (
        "/static/favicon.svg",
        "/static/app.css",
        "/static/app.js",
        f"/static/htmx-{HTMX_VERSION}.min.js",
        f"/static/htmx-{HTMX_VERSION}.LICENSE",
    ):
        response = anon.get(path)
        assert response.status_code == 200, path
        response.close()


def test_static_files_are_sent_as_bytes_not_open_files() -> None:
    # werkzeug's dev server can leave a response's file open when a browser
    # resets the connection; the dashboard sends its small files whole.
    from dashboard import create_app

    app = create_app({"AUTH": False})
    with app.test_request_context():
        response = app.send_static_file("favicon.svg")
    assert not response.direct_passthrough
    assert isinstance(response.response, list)
    assert b"<svg" in response.get_data()


def test_the_live_fragment_carries_the_delete_summary_out_of_band(
    client: FlaskClient, make_app: Callable[..., Any], hostile: rivulet.Client
) -> None:
    name = HOSTILE_NAMES[0]
    fragment = client.get(f"/channels/{seg(name)}/_live").get_data(as_text=True)
    assert 'id="delete-summary" hx-swap-oob="true"' in fragment
    assert "<strong>2</strong> stored messages" in fragment
    read_only = login(make_app(READ_ONLY=True))
    fragment = read_only.get(f"/channels/{seg(name)}/_live").get_data(as_text=True)
    assert "delete-summary" not in fragment  # no delete form to update
