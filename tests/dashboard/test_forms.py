"""The channel page's forms, as a browser without JavaScript sends them:
POST, 303 back, a flash message on the page it lands on."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from werkzeug.test import TestResponse

import rivulet
from rivulet import keys

from .conftest import HOSTILE_NAMES, csrf_token, login, seg

NAME = "orders/eu #1 100%"


class Form:
    """Posts a channel page's forms with the page's CSRF token."""

    def __init__(self, client: FlaskClient, name: str = NAME) -> None:
        self.client = client
        self.name = name
        self.page = f"/channels/{seg(name)}"
        self.token = csrf_token(client, self.page)

    def submit(self, route: str, **fields: str) -> TestResponse:
        """Submit; return the response as it came (a page, or a 303)."""
        return self.client.post(f"{self.page}/{route}", data=dict(fields, csrf_token=self.token))

    def post(self, route: str, **fields: str) -> tuple[str, str]:
        """Submit; return (where the 303 went, without its #anchor, the text of the page there)."""
        response = self.submit(route, **fields)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        location = response.headers["Location"]
        landed = self.client.get(location).get_data(as_text=True)
        return location.split("#")[0], landed

    def prune(self, **fields: str) -> tuple[str, str]:
        """Preview a prune, then confirm it with the preview's own form."""
        preview = self.submit("prune", **fields)
        assert preview.status_code == 200, preview.get_data(as_text=True)[:500]
        upto = re.search(r'name="upto_id" value="(\d+)"', preview.get_data(as_text=True))
        assert upto, "the preview has no confirm form"
        return self.post("prune/confirm", upto_id=upto.group(1))


@pytest.fixture
def reader(make_client: Callable[..., rivulet.Client]) -> rivulet.Client:
    client = make_client("reader", NAME)
    client.write(NAME, [f"m{i}" for i in range(1, 6)])
    return client


def flash_ok(page: str, text: str) -> bool:
    # At the top of the page, or beside its form (class "flash flash-ok outcome").
    return re.search('class="flash flash-ok[ "]', page) is not None and str(escape(text)) in page


def flash_error(page: str, text: str) -> bool:
    return (re.search('class="flash flash-error[ "]', page) is not None
            and str(escape(text)) in page)


def test_post_a_message(client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client) -> None:
    where, page = Form(client).post("post", data='{"k": "<v>"}\r\nsecond line', src="ops <me>")
    assert where == f"/channels/{seg(NAME)}"
    assert flash_ok(page, "Posted message 6 as 'ops <me>'.")
    newest = admin.messages(NAME, limit=1)[0]
    assert newest["data"] == '{"k": "<v>"}\nsecond line'
    assert newest["src"] == "ops <me>"


def test_post_defaults_source_and_refuses_bad_ones(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client
) -> None:
    form = Form(client)
    form.post("post", data="plain")
    assert admin.messages(NAME, limit=1)[0]["src"] == "dashboard"
    _, page = form.post("post", data="x", src="bad{src}")
    assert 'class="flash flash-error' in page
    assert admin.channel(NAME).head_id == 6


def test_post_too_large_is_a_flash_not_a_500(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client
) -> None:
    _, page = Form(client).post("post", data="x" * ((1 << 20) + 1))
    assert 'class="flash flash-error' in page
    assert admin.channel(NAME).head_id == 5


@pytest.mark.parametrize(
    ("fields", "left"),
    [
        ({"upto_id": "2"}, [3, 4, 5]),
        ({"keep_last": "1"}, [5]),
        ({"older_than": "0"}, []),
        ({"consumed": "1"}, [4, 5]),
        ({"upto_id": "1", "keep_last": "4"}, [2, 3, 4, 5]),
    ],
)
def test_prune(
    client: FlaskClient,
    admin: rivulet.Admin,
    store: Any,
    reader: rivulet.Client,
    fields: dict[str, str],
    left: list[int],
) -> None:
    # Reads delete what everyone has read, so set the index behind the library's
    # back: ids 1..3 are then consumed but still stored.
    store.zadd("rvl:channel:{" + NAME + "}", {"reader": 3})
    removed = 5 - len(left)
    if removed == 0:
        _, page = Form(client).post("prune", **fields)
        assert flash_ok(page, "Nothing to prune")
    else:
        _, page = Form(client).prune(**fields)
        assert flash_ok(page, f"Pruned {removed} message{'s' if removed != 1 else ''}")
    assert [m["id"] for m in admin.messages(NAME, newest_first=False)] == left


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, "prune needs at least one"),
        ({"upto_id": "", "older_than": " ", "keep_last": ""}, "prune needs at least one"),
        ({"upto_id": "two"}, "“Up to and including id” must be a whole number"),
        ({"upto_id": "-1"}, "“Up to and including id” must be 0 or more"),
        ({"older_than": "soon"}, "“Older than (seconds)” must be a number of seconds"),
        ({"older_than": "nan"}, "finite number"),
        ({"older_than": "inf"}, "finite number"),
        ({"keep_last": "1.5"}, "“Keep only the newest” must be a whole number"),
    ],
)
def test_prune_mistakes_are_flashed(
    client: FlaskClient,
    admin: rivulet.Admin,
    reader: rivulet.Client,
    fields: dict[str, str],
    error: str,
) -> None:
    where, page = Form(client).post("prune", **fields)
    assert where == f"/channels/{seg(NAME)}"
    assert flash_error(page, error)
    assert admin.count(NAME) == 5


@pytest.mark.parametrize(("index", "expected"), [("2", 2), ("earliest", 0), ("LATEST", 5)])
def test_move_a_subscriber(
    client: FlaskClient,
    admin: rivulet.Admin,
    reader: rivulet.Client,
    make_client: Callable[..., rivulet.Client],
    index: str,
    expected: int,
) -> None:
    make_client("holder", NAME)  # at index 0: keeps every message stored
    reader.read(message_limit=4)
    _, page = Form(client).post("subscriber", client_id="reader", index=index, action="move")
    assert flash_ok(page, f"Moved 'reader' to index {expected}.")
    assert {s.client_id: s.index for s in admin.subscribers(NAME)}["reader"] == expected


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"client_id": "reader", "index": "99", "action": "move"}, "outside [0, 5]"),
        ({"client_id": "reader", "index": "", "action": "move"}, "“New index” needs a message id"),
        ({"client_id": "reader", "index": "current", "action": "move"}, "is not a time"),
        ({"client_id": "stranger", "index": "1", "action": "move"}, "not subscribed"),
        ({"client_id": "stranger", "action": "remove"}, "was not subscribed"),
        ({"client_id": "", "index": "1", "action": "move"}, "client id"),
        ({"client_id": "reader", "index": "1", "action": "explode"}, "action must be"),
    ],
)
def test_subscriber_form_mistakes_are_flashed(
    client: FlaskClient, reader: rivulet.Client, fields: dict[str, str], error: str
) -> None:
    where, page = Form(client).post("subscriber", **fields)
    assert where == f"/channels/{seg(NAME)}"
    assert flash_error(page, error), page[page.find("flashes") : page.find("flashes") + 400]


def test_remove_a_subscriber(
    client: FlaskClient,
    admin: rivulet.Admin,
    reader: rivulet.Client,
    make_client: Callable[..., rivulet.Client],
) -> None:
    make_client("other <x>", NAME)
    form = Form(client)
    where, page = form.post("subscriber", client_id="other <x>", action="remove")
    assert where == f"/channels/{seg(NAME)}"
    assert flash_ok(page, "Removed subscriber 'other <x>'.")
    assert [s.client_id for s in admin.subscribers(NAME)] == ["reader"]
    # The last one leaving deletes the channel, so it asks for the channel's name.
    asked = form.submit("subscriber", client_id="reader", action="remove")
    assert asked.status_code == 200
    assert "Type the channel name to confirm" in asked.get_data(as_text=True)
    assert admin.channel(NAME).subscriber_count == 1
    wrong = form.submit("subscriber", client_id="reader", action="remove", confirm="nope")
    assert "nothing was removed" in wrong.get_data(as_text=True)
    assert 'value="nope"' in wrong.get_data(as_text=True)
    assert admin.channel(NAME).subscriber_count == 1
    where, page = form.post("subscriber", client_id="reader", action="remove", confirm=NAME)
    assert where == "/"
    assert flash_ok(page, f"channel {NAME!r} is gone")
    with pytest.raises(rivulet.ChannelNotFoundError):
        admin.channel(NAME)


def test_delete_needs_the_name_typed_exactly(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client
) -> None:
    form = Form(client)
    page = client.get(form.page).get_data(as_text=True)
    assert "<strong>5</strong> stored messages" in page
    for wrong in ("", NAME.upper(), NAME + " ", "yes"):
        # Re-rendered in place: the typed name stays, described by the error,
        # which the form's #anchor scrolls to and focuses (test_outcomes.py).
        failed = form.submit("delete", confirm=wrong)
        assert failed.status_code == 200
        page = failed.get_data(as_text=True)
        assert "type its name exactly" in page
        assert f'value="{escape(wrong)}" aria-describedby="delete-form-outcome"' in page
    assert admin.channel(NAME).message_count == 5
    where, page = form.post("delete", confirm=NAME)
    assert where == "/"
    assert flash_ok(page, f"Deleted channel {NAME!r}.")
    with pytest.raises(rivulet.ChannelNotFoundError):
        admin.channel(NAME)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_every_form_works_on_hostile_names(
    client: FlaskClient,
    admin: rivulet.Admin,
    make_client: Callable[..., rivulet.Client],
    name: str,
) -> None:
    make_client("r/1 <x>", name).write(name, ["a", "b", "c"])
    form = Form(client, name)
    form.post("post", data="<b>posted</b>")
    assert admin.channel(name).head_id == 4
    form.prune(upto_id="1")
    assert admin.count(name) == 3
    form.post("retention", max_messages="10", max_age="")
    assert admin.channel(name).max_messages == 10
    form.post("subscriber", client_id="r/1 <x>", index="latest", action="move")
    assert admin.subscribers(name)[0].lag == 0
    where, _ = form.post("delete", confirm=name)
    assert where == "/"
    with pytest.raises(rivulet.ChannelNotFoundError):
        admin.channel(name)


def test_action_on_a_channel_deleted_meanwhile(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client
) -> None:
    form = Form(client)
    admin.delete_channel(NAME)
    where, page = form.post("post", data="late")
    assert where == "/"
    assert flash_error(page, "deleted meanwhile")
    where, page = form.post("delete", confirm=NAME)
    assert where == "/"
    assert flash_error(page, "There was no channel")


def test_invalid_channel_name_in_a_form_url_is_400(client: FlaskClient) -> None:
    token = csrf_token(client)
    response = client.post(f"/channels/{seg('a{b}')}/post", data={"data": "x", "csrf_token": token})
    assert response.status_code == 400


def test_post_without_a_data_field_stores_nothing(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client
) -> None:
    _, page = Form(client).post("post", src="ops")
    assert "no data field" in page and 'class="flash flash-error' in page
    assert admin.channel(NAME).head_id == 5


def test_client_ids_with_spaces_at_the_ends_are_kept_whole(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client,
    make_client: Callable[..., rivulet.Client],
) -> None:
    make_client(" padded ", NAME)
    form = Form(client)
    _, page = form.post("subscriber", client_id=" padded ", index="latest", action="move")
    assert flash_ok(page, "Moved ' padded ' to index 5.")
    _, page = form.post("subscriber", client_id=" padded ", action="remove")
    assert flash_ok(page, "Removed subscriber ' padded '.")
    assert [s.client_id for s in admin.subscribers(NAME)] == ["reader"]


# -- prune preview, retention, history, index by time, CSRF and read-only on each --


def test_prune_preview_counts_unread_per_subscriber_and_removes_nothing(
    client: FlaskClient, admin: rivulet.Admin, store: Any, reader: rivulet.Client,
    make_client: Callable[..., rivulet.Client],
) -> None:
    make_client("late <b>", NAME)
    # "late <b>" has read everything; "reader" only id 1.
    store.zadd("rvl:channel:{" + NAME + "}", {"reader": 1, "late <b>": 5})
    form = Form(client)
    preview = form.submit("prune", upto_id="4")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "Prune 4 messages?" in page and "Nothing has been removed yet." in page
    assert '<td class="name">reader</td><td class="num">3</td>' in page
    assert "late &lt;b&gt;" not in page  # loses nothing it has not read
    assert f'action="{form.page}/prune/confirm"' in page
    assert admin.count(NAME) == 5
    # Written after the preview: the confirmed prune removes only what it showed.
    reader.write(NAME, ["new"])
    _, landed = form.post("prune/confirm", upto_id="4")
    assert flash_ok(landed, "Pruned 4 messages (ids up to 4).")
    assert [m["id"] for m in admin.messages(NAME, newest_first=False)] == [5, 6]


def test_prune_confirm_without_its_id_removes_nothing(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client
) -> None:
    _, page = Form(client).post("prune/confirm")
    assert flash_error(page, "preview the prune again")
    assert admin.count(NAME) == 5


def test_retention_form_sets_and_clears_caps(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client
) -> None:
    form = Form(client)
    where, page = form.post("retention", max_messages="3", max_age="90.5")
    assert where == form.page
    assert flash_ok(page, "Retention set: 3 messages, 90.5 s; 2 messages removed now.")
    info = admin.channel(NAME)
    assert (info.max_messages, info.max_age) == (3, 90.5)
    # The form shows the caps in force.
    assert re.search(r'name="max_messages" [^>]*value="3"', page)
    _, page = form.post("retention", max_messages="", max_age="")
    assert flash_ok(page, "Retention set: no cap, no cap; 0 messages removed now.")
    assert admin.channel(NAME).max_messages is None
    _, page = form.post("retention", max_messages="many")
    assert flash_error(page, "“Keep at most (messages)” must be a whole number")


def test_history_form_sets_and_stops_recording(
    client: FlaskClient, store: Any, reader: rivulet.Client,
) -> None:
    form = Form(client)
    assert 'id="history-form"' in client.get(form.page).get_data(as_text=True)
    _, page = form.post("history", interval="5", keep="720")
    assert flash_ok(page, "Lag history: a sample every 5 s, kept for 720 s.")
    settings = store.hmget(keys.history_settings_key(NAME), "interval_ms", "keep_ms")
    assert [int(v) for v in settings] == [5000, 720_000]
    _, page = form.post("history", interval="0", keep="720")
    assert flash_ok(page, "Lag history stopped.")
    assert int(store.hget(keys.history_settings_key(NAME), "interval_ms")) == 0
    _, page = form.post("history", interval="5")
    assert flash_error(page, "Lag history needs both")


def test_index_by_time_moves_to_the_last_message_before_it(
    client: FlaskClient, admin: rivulet.Admin, store: Any,
    make_client: Callable[..., rivulet.Client],
) -> None:
    make_client("reader", NAME)
    make_client("holder", NAME)
    t0 = 1_796_000_000_000
    store.zadd("rvl:msg:{" + NAME + "}", {
        json.dumps({"id": i, "ts": t0 + 60_000 * i, "src": "s", "data": "d"}): i
        for i in range(1, 6)})
    store.set("rvl:id:{" + NAME + "}", 5)
    form = Form(client)
    page = client.get(form.page).get_data(as_text=True)
    assert 'name="index" autocomplete="off" spellcheck="false" value="latest"' in page
    when = dt.datetime.fromtimestamp((t0 + 180_000) / 1000, dt.timezone.utc)
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    _, page = form.post("subscriber", client_id="reader", index=iso, action="move")
    assert flash_ok(page, f"Moved 'reader' to index 2, the last message written before {iso}.")
    assert {s.client_id: s.index for s in admin.subscribers(NAME)}["reader"] == 2


NEW_ROUTES = {
    "prune": {"upto_id": "2"},
    "prune/confirm": {"upto_id": "2"},
    "retention": {"max_messages": "1"},
    "history": {"interval": "5"},
    "subscriber": {"client_id": "reader", "action": "remove", "confirm": NAME},
}


@pytest.mark.parametrize("route", sorted(NEW_ROUTES))
def test_new_forms_need_the_csrf_token(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client, route: str
) -> None:
    url = f"/channels/{seg(NAME)}/{route}"
    assert client.post(url, data=NEW_ROUTES[route]).status_code == 400
    forged = dict(NEW_ROUTES[route], csrf_token="forged")
    assert client.post(url, data=forged).status_code == 400
    assert admin.count(NAME) == 5 and admin.channel(NAME).max_messages is None


@pytest.mark.parametrize("route", sorted(NEW_ROUTES))
def test_new_forms_refuse_in_read_only_mode(
    make_app: Callable[..., Flask], admin: rivulet.Admin, reader: rivulet.Client, route: str
) -> None:
    browser = login(make_app(READ_ONLY=True))
    token = csrf_token(browser, f"/channels/{seg(NAME)}")
    page = browser.get(f"/channels/{seg(NAME)}").get_data(as_text=True)
    assert 'id="retention-form"' not in page and 'id="prune-form"' not in page
    response = browser.post(f"/channels/{seg(NAME)}/{route}",
                            data=dict(NEW_ROUTES[route], csrf_token=token))
    assert response.status_code == 403
    assert admin.count(NAME) == 5 and admin.channel(NAME).subscriber_count == 1


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_preview_and_last_subscriber_confirmation_on_hostile_names(
    client: FlaskClient, admin: rivulet.Admin,
    make_client: Callable[..., rivulet.Client], name: str,
) -> None:
    make_client("only <i>", name).write(name, ["a", "b"])
    form = Form(client, name)
    preview = form.submit("prune", keep_last="1").get_data(as_text=True)
    assert f'action="{form.page}/prune/confirm"' in preview
    assert str(escape(name)) in preview
    asked = form.submit("subscriber", client_id="only <i>", action="remove")
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200 and f'action="{form.page}/subscriber"' in text
    assert 'value="only &lt;i&gt;"' in text
    where, _ = form.post("subscriber", client_id="only <i>", action="remove", confirm=name)
    assert where == "/"
    with pytest.raises(rivulet.ChannelNotFoundError):
        admin.channel(name)


REFUSED = rivulet.BackendError(
    "Redis refused the command: OOM command not allowed when used memory > 'maxmemory'.")


@pytest.mark.parametrize(("route", "fields", "method"), [
    ("retention", {"max_messages": "3"}, "set_retention"),
    ("subscriber", {"client_id": "reader", "index": "1", "action": "move"}, "set_index"),
    ("post", {"data": "hello"}, "post"),
])
def test_a_change_redis_refuses_is_a_flash_not_a_500(
    client: FlaskClient, reader: rivulet.Client, monkeypatch: pytest.MonkeyPatch,
    route: str, fields: dict[str, str], method: str
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise REFUSED

    monkeypatch.setattr(rivulet.Admin, method, refuse)
    where, page = Form(client).post(route, **fields)
    assert where == Form(client).page
    assert flash_error(page, "Not changed: Redis refused the command: ")
    assert "maxmemory" in page


def test_a_form_while_redis_does_not_answer_is_the_503_page(
    client: FlaskClient, reader: rivulet.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def hang(*args: Any, **kwargs: Any) -> Any:
        raise rivulet.TimeoutError("Redis did not answer in time")

    monkeypatch.setattr(rivulet.Admin, "set_retention", hang)
    response = Form(client).submit("retention", max_messages="3")
    assert response.status_code == 503
