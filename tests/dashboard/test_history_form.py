"""The channel page's history form shows the settings in force, and says when
they are the defaults, at no extra round trip."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

import rivulet
from dashboard import create_app
from rivulet import keys

from .conftest import TOKEN, login, seg

NAME = "orders/eu #1 100%"
PAGE = f"/channels/{seg(NAME)}"


def field_value(page: str, field_id: str) -> str | None:
    found = re.search(rf'<input id="{field_id}"[^>]*>', page, re.S)
    assert found, field_id
    value = re.search(r'value="([^"]*)"', found.group(0))
    return value.group(1) if value else None


def history_form(page: str) -> str:
    found = re.search(r'<form [^>]*id="history-form".*?</form>', page, re.S)
    assert found
    return found.group(0)


@pytest.fixture
def channel(make_client: Callable[..., rivulet.Client]) -> rivulet.Client:
    writer = make_client("writer", NAME)
    writer.write(NAME, ["a"])
    return writer


def test_the_defaults_are_shown_and_named(client: FlaskClient, channel: rivulet.Client) -> None:
    page = client.get(PAGE).get_data(as_text=True)
    assert field_value(page, "hist-interval") == "10"
    assert field_value(page, "hist-keep") == "3600"
    assert "the defaults" in history_form(page)


def test_the_channels_own_settings_are_shown(client: FlaskClient, admin: rivulet.Admin,
                                             channel: rivulet.Client) -> None:
    admin.set_history(NAME, interval=2.5, keep=1234567)
    page = client.get(PAGE).get_data(as_text=True)
    # Exactly what is stored, never rounded (%g would show 1.23457e+06).
    assert field_value(page, "hist-interval") == "2.5"
    assert field_value(page, "hist-keep") == "1234567"
    assert "the defaults" not in history_form(page)
    admin.set_history(NAME, interval=None, keep=60)
    page = client.get(PAGE).get_data(as_text=True)
    assert field_value(page, "hist-interval") == "0"
    assert field_value(page, "hist-keep") == "60"
    assert "Recording is stopped" in history_form(page)


def test_what_the_form_saves_it_shows_after_the_redirect(
        client: FlaskClient, channel: rivulet.Client) -> None:
    from .conftest import csrf_token
    token = csrf_token(client, PAGE)
    response = client.post(f"{PAGE}/history",
                           data={"interval": "0.5", "keep": "90", "csrf_token": token})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert (field_value(page, "hist-interval"), field_value(page, "hist-keep")) == ("0.5", "90")


def test_an_unreadable_settings_key_is_said_and_the_rest_still_shows(
        client: FlaskClient, store: Any, channel: rivulet.Client,
        make_client: Callable[..., rivulet.Client]) -> None:
    make_client("reader", NAME)
    store.delete(keys.history_settings_key(NAME))
    store.rpush(keys.history_settings_key(NAME), "junk")
    page = client.get(PAGE).get_data(as_text=True)
    form = history_form(page)
    assert "cannot be read" in form and "wrong type" in form
    assert field_value(page, "hist-interval") is None
    # The subscribers and the sparklines' history are not lost with it.
    assert 'data-client="reader"' in page


class CountingConnection(redis.Connection):
    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        super().send_packed_command(command, check_health)


def test_the_settings_cost_the_channel_page_no_round_trip(redis_server: Any,
                                                         real_redis: redis.Redis) -> None:
    pool = redis.ConnectionPool(connection_class=CountingConnection, host="127.0.0.1",
                                port=redis_server.port)
    app = create_app({"TESTING": True, "ADMIN": rivulet.Admin(redis.Redis(connection_pool=pool)),
                      "DASHBOARD_TOKEN": TOKEN})
    browser = login(app)
    writer = rivulet.Client(redis=real_redis, client_id="writer")
    writer.subscribe(NAME, "earliest")
    writer.write(NAME, ["a"])
    assert browser.get(PAGE).status_code == 200  # scripts loaded
    CountingConnection.sends = 0
    page = browser.get(PAGE).get_data(as_text=True)
    # As many as before the form showed its settings (measured on ef7a5e5).
    assert CountingConnection.sends == 4
    assert field_value(page, "hist-interval") == "10"
    writer.close()
    pool.disconnect()
