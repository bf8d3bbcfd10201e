"""Redis going away: 503 pages naming the URL with the password masked, and the
first request after it is back succeeds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

import rivulet
from dashboard import create_app
from rivulet.urls import mask_url

from ..conftest import RedisServer
from .conftest import TOKEN, bearer, csrf_token, login, seg

PASSWORD = "pa55:w@rd/x"
QUOTED = "pa55%3Aw%40rd%2Fx"


@pytest.fixture
def server() -> Iterator[RedisServer]:
    own = RedisServer("--requirepass", PASSWORD, appendonly=True)
    yield own
    own.stop()


@pytest.fixture
def url(server: RedisServer) -> str:
    return f"redis://:{QUOTED}@127.0.0.1:{server.port}/0"


@pytest.fixture
def browser(url: str) -> FlaskClient:
    with rivulet.connect(url, client_id="reader", channel_ids="c/1") as reader:
        reader.write("c/1", ["x"])
    # A shorter retry budget than the default 2 s keeps this test quick; the
    # first request after the outage still measures the default.
    config = {"TESTING": True, "REDIS_URL": url, "DASHBOARD_TOKEN": TOKEN}
    return login(create_app(dict(config, REDIS_RETRY_SECONDS=0.3)))


def timed(call: Any) -> tuple[Any, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def test_outage_is_a_503_with_the_password_masked_then_recovers(
    server: RedisServer, url: str, browser: FlaskClient
) -> None:
    page = f"/channels/{seg('c/1')}"
    assert browser.get(page).status_code == 200
    token = csrf_token(browser, page)
    server.kill()

    masked = f"redis://:***@127.0.0.1:{server.port}/0"
    for path, headers in [
        ("/", {}),
        ("/_channels", {"HX-Request": "true"}),
        (page, {}),
        (f"{page}/_live", {"HX-Request": "true"}),
        ("/clients", {}),
        ("/api/channels", {}),
        (f"/api/channels/{seg('c/1')}", {}),
        ("/metrics", {}),
    ]:
        response, took = timed(lambda p=path, h=headers: browser.get(p, headers=h))
        body = response.get_data(as_text=True)
        assert response.status_code == 503, path
        assert took < 5, f"{path} took {took:.1f} s"
        assert masked in body, path
        assert PASSWORD not in body and QUOTED not in body and "Traceback" not in body
    html = browser.get("/").get_data(as_text=True)
    assert "Redis is unreachable" in html
    assert '<meta http-equiv="refresh" content="3">' in html
    assert browser.get("/api/channels").get_json()["error"] == "Redis is unreachable"

    response = browser.post(f"{page}/post", data={"data": "y", "csrf_token": token})
    assert response.status_code == 503
    assert "http-equiv" not in response.get_data(as_text=True)  # a POST is not re-sent

    health, took = timed(lambda: browser.get("/healthz"))
    assert health.status_code == 503 and took < 1
    assert health.get_json()["redis"] == masked

    server.start()
    # The very first request after Redis is back succeeds.
    assert browser.get(page).status_code == 200
    assert browser.get("/healthz").status_code == 200
    assert browser.get("/api/channels", headers=bearer()).get_json()["total"] == 1


def test_unreachable_at_start_then_up(server: RedisServer, url: str) -> None:
    server.kill()
    app = create_app({"TESTING": True, "REDIS_URL": url, "AUTH": False})
    browser = app.test_client()
    response, took = timed(lambda: browser.get("/"))
    assert response.status_code == 503
    assert 1 < took < 5  # the default budget: retried for a while, answered in time
    server.start()
    assert browser.get("/").status_code == 200


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:secret@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:secret@host/1", "redis://user:***@host/1"),
        ("rediss://user:p%40ss@host:6380", "rediss://user:***@host:6380"),
        ("redis://secret@host", "redis://***@host"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("unix:///tmp/r.sock?db=1&password=secret", "unix:///tmp/r.sock?db=1&password=***"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
