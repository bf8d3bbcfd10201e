"""Fixtures for the dashboard: apps over fakeredis or a real server, logged-in
test clients, and channels with hostile names."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

import rivulet
from dashboard import create_app

TOKEN = "t0ken with/+&=?#%"  # URL-special characters on purpose

#: Channel ids a dashboard must show, link and act on (SPEC section 2).
HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    "a/b",
    "/leading slash",
    "trailing/",
    "a//b",
    "100%",
    "%2F literal",
    "hash#tag",
    "what?x=1&y=2",
    "sp ace",
    "été ✓ 日本",
    "quote\"'",
    "back\\slash",
    "+plus;semi",
    "...",
]


def seg(name: str) -> str:
    """How the dashboard puts a channel id in a URL."""
    return quote(name, safe="")


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_token(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token a page hands the browser (from its hidden fields or hx-headers)."""
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page) or re.search(
        r'X-CSRFToken&#34;: &#34;([^&]+)&#34;|"X-CSRFToken": "([^"]+)"', page
    )
    assert found, "no CSRF token on " + path
    return next(g for g in found.groups() if g)


def login(app: Flask) -> FlaskClient:
    """A test client logged in through ``?token=``."""
    browser = app.test_client()
    response = browser.get("/", query_string={"token": TOKEN})
    assert response.status_code == 303, response.status
    return browser


@pytest.fixture(params=["fakeredis", "redis", "cluster6"])
def store(request: pytest.FixtureRequest) -> Any:
    """A clean Redis: fakeredis, a real redis-server and the 3+3 cluster, each
    test once per kind."""
    return request.getfixturevalue(
        {"fakeredis": "fake_redis", "redis": "real_redis", "cluster6": "cluster6_redis"}
        [request.param]
    )


@pytest.fixture
def admin(store: Any) -> rivulet.Admin:
    return rivulet.Admin(store, retry=rivulet.RetryPolicy.none())


@pytest.fixture
def make_app(admin: rivulet.Admin) -> Callable[..., Flask]:
    """Build a dashboard over the test's Redis; keyword arguments override config."""

    def make(**config: Any) -> Flask:
        settings: dict[str, Any] = {
            "TESTING": True,
            "ADMIN": admin,
            "REDIS_URL": "redis://:s3cret@127.0.0.1:1/0",
            "DASHBOARD_TOKEN": TOKEN,
            "SECRET_KEY": "test secret",
        }
        settings.update(config)
        return create_app(settings)

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def anon(app: Flask) -> FlaskClient:
    """A browser that has not logged in."""
    return app.test_client()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser logged in through ``?token=``."""
    return login(app)


def client_factory(redis: Any) -> Iterator[Callable[..., rivulet.Client]]:
    """Yield a maker of rivulet clients on ``redis`` (subscribed at earliest);
    close them all afterwards."""
    made: list[rivulet.Client] = []

    def make(client_id: str, channels: str | list[str] | None = None, **kw: Any) -> rivulet.Client:
        made_client = rivulet.Client(redis=redis, client_id=client_id, **kw)
        if channels is not None:
            made_client.subscribe(channels, "earliest")
        made.append(made_client)
        return made_client

    yield make
    for made_client in made:
        made_client.close()


@pytest.fixture
def make_client(store: Any) -> Iterator[Callable[..., rivulet.Client]]:
    """rivulet clients on the test's Redis, closed afterwards."""
    yield from client_factory(store)


@pytest.fixture
def hostile(make_client: Callable[..., rivulet.Client]) -> rivulet.Client:
    """A reader <b>…</b> subscribed to every hostile name, with two messages in each."""
    reader = make_client("reader <b>&amp;</b> /x", HOSTILE_NAMES)
    for name in HOSTILE_NAMES:
        reader.write(name, ['{"name": "<img src=x onerror=alert(1)>"}', "<script>x()</script>"])
    return reader


class LiveServer:
    """The dashboard served by waitress (as `rivulet dashboard` serves it) in a
    thread, on a free loopback port."""

    def __init__(self, app: Flask) -> None:
        from dashboard.serving import BackgroundServer

        self.server = BackgroundServer(app)
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def live_app(real_redis: Any, redis_server: Any) -> Flask:
    """A dashboard over the session's real redis-server, as `rivulet dashboard` builds it."""
    return create_app(
        {"REDIS_URL": redis_server.url, "DASHBOARD_TOKEN": TOKEN, "REFRESH_SECONDS": 1.0}
    )


@pytest.fixture
def live(live_app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(live_app)
    yield server
    server.stop()


@pytest.fixture
def make_real_client(real_redis: Any) -> Iterator[Callable[..., rivulet.Client]]:
    """rivulet clients on the session's real redis-server (what `live` serves)."""
    yield from client_factory(real_redis)
