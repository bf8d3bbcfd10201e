"""Redis going away or hanging: 503 pages naming the URL with the password
masked, within the page's budget, and the first request after it is back
succeeds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

import rivulet
from dashboard import create_app
from dashboard.backend import HEALTH_BUDGET_S

from ..conftest import RedisServer, free_port
from ..rivulet.test_hang import HungServer, assert_capped, outcome
from ..rivulet.test_urls import VARIANT_IDS, VARIANTS, assert_no_secret
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
    # Without JavaScript it reloads on the header's interval; app.js obeys Pause.
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in html
    assert 'reloads every <span id="retry-seconds">2</span> s' in html
    assert browser.get("/api/channels").get_json()["error"] == "Redis is unreachable"

    response = browser.post(f"{page}/post", data={"data": "y", "csrf_token": token})
    assert response.status_code == 503
    assert "http-equiv" not in response.get_data(as_text=True)  # a POST is not re-sent

    health, took = timed(lambda: browser.get("/healthz"))
    assert health.status_code == 503 and took < 1
    assert "redis" not in health.get_json()  # public: names no URL at all
    assert PASSWORD not in health.get_data(as_text=True)

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


@pytest.fixture
def hung() -> Iterator[HungServer]:
    own = HungServer()
    yield own
    own.thaw()
    own.server.stop()


def test_hung_redis_is_a_503_within_the_page_budget(hung: HungServer) -> None:
    budget_s = 0.5
    app = create_app({"TESTING": True, "REDIS_URL": hung.url, "AUTH": False,
                      "REDIS_RETRY_SECONDS": budget_s})
    browser = app.test_client()
    assert browser.get("/").status_code == 200
    assert browser.get("/healthz").status_code == 200
    hung.freeze()

    replies: list[Any] = []
    assert outcome(lambda: replies.append(browser.get("/"))) is None
    assert replies[0].status_code == 503
    assert "Redis is unreachable" in replies[0].get_data(as_text=True)
    found = app.extensions["rivulet"]
    # The 4 s page socket timeout was never used whole: the budget capped it.
    assert_capped(found.admin.redis, budget_s)

    assert outcome(lambda: replies.append(browser.get("/healthz"))) is None
    assert replies[1].status_code == 503
    assert "did not answer in time" in replies[1].get_json()["error"]
    assert_capped(found.health.redis, HEALTH_BUDGET_S)

    hung.thaw()
    assert browser.get("/").status_code == 200


@pytest.mark.parametrize("template", VARIANTS, ids=VARIANT_IDS)
def test_no_password_variant_reaches_a_page(template: str) -> None:
    url = template.format(port=free_port())  # nothing listens there
    config = {"TESTING": True, "REDIS_URL": url, "AUTH": False, "REDIS_RETRY_SECONDS": 0.05}
    try:
        app = create_app(config)
    except ValueError as error:
        # Unparseable: the dashboard cannot start, and says so safely.
        assert_no_secret(str(error))
        return
    browser = app.test_client()
    for path in ("/", "/api/channels", "/metrics", "/healthz"):
        response = browser.get(path)
        assert response.status_code == 503, path
        assert_no_secret(response.get_data(as_text=True))
