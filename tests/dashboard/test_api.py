"""JSON API, /metrics and /healthz; Redis round trips per page do not grow with rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

import rivulet
from dashboard import create_app
from rivulet.models import ChannelInfo, SubscriberInfo

from .conftest import HOSTILE_NAMES, TOKEN, bearer, login, seg

CHANNEL_KEYS = {f.name for f in dataclasses.fields(ChannelInfo)}
SUBSCRIBER_KEYS = {f.name for f in dataclasses.fields(SubscriberInfo)}


@pytest.fixture
def two_channels(make_client: Callable[..., rivulet.Client]) -> None:
    writer = make_client("writer", ["jobs/a", "jobs/b"])
    make_client("lazy <1>", ["jobs/a"])
    writer.write("jobs/a", ["1", "2", "3"])
    writer.write("jobs/b", ["x"])
    writer.read()


def test_channels_json(anon: FlaskClient, two_channels: None) -> None:
    reply = anon.get("/api/channels", headers=bearer())
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    body = reply.get_json()
    assert body["total"] == 2
    assert [c["name"] for c in body["channels"]] == ["jobs/a", "jobs/b"]
    first = body["channels"][0]
    # The listing adds each channel's status (a field of ChannelInfo once the library has it).
    assert set(first) == CHANNEL_KEYS | {"status"}
    assert first["head_id"] == 3 and first["max_lag"] == 3 and first["subscriber_count"] == 2
    assert isinstance(first["last_write_ts"], int) and first["last_write_ts"] > 1_600_000_000_000


def test_channels_json_filters_and_pages(anon: FlaskClient, two_channels: None) -> None:
    def names(query: str) -> tuple[list[str], int]:
        body = anon.get("/api/channels?" + query, headers=bearer()).get_json()
        return [c["name"] for c in body["channels"]], body["total"]

    assert names("q=%2FB") == (["jobs/b"], 1)
    assert names("offset=1") == (["jobs/b"], 2)
    assert names("limit=1") == (["jobs/a"], 2)
    assert names("q=jobs&offset=1&limit=5") == (["jobs/b"], 2)
    assert names("q=nothing") == ([], 0)
    for bad in ("limit=x", "offset=-1", "limit=-2"):
        reply = anon.get("/api/channels?" + bad, headers=bearer())
        assert reply.status_code == 400 and "error" in reply.get_json()


def test_channel_json(anon: FlaskClient, two_channels: None) -> None:
    body = anon.get(f"/api/channels/{seg('jobs/a')}", headers=bearer()).get_json()
    assert body["channel"]["name"] == "jobs/a"
    subscribers = {s["client_id"]: s for s in body["subscribers"]}
    assert set(subscribers) == {"writer", "lazy <1>"}
    assert set(subscribers["lazy <1>"]) == SUBSCRIBER_KEYS
    assert subscribers["lazy <1>"]["lag"] == 3 and subscribers["lazy <1>"]["pending"] == 3
    assert anon.get(f"/api/channels/{seg('nope')}", headers=bearer()).status_code == 404


def test_messages_and_clients_json(anon: FlaskClient, two_channels: None) -> None:
    body = anon.get(f"/api/channels/{seg('jobs/a')}/messages?limit=2", headers=bearer()).get_json()
    assert [m["id"] for m in body["messages"]] == [3, 2]
    body = anon.get(
        f"/api/channels/{seg('jobs/a')}/messages?after_id=1&newest_first=0", headers=bearer()
    ).get_json()
    assert [(m["id"], m["data"], m["src"]) for m in body["messages"]] == [
        (2, "2", "writer"),
        (3, "3", "writer"),
    ]
    assert anon.get("/api/channels/x/messages?limit=0", headers=bearer()).status_code == 400
    clients = anon.get("/api/clients", headers=bearer()).get_json()
    assert clients["total"] == 2
    by_id = {c["client_id"]: c for c in clients["clients"]}
    assert by_id["lazy <1>"]["channels"] == {"jobs/a": 0}
    assert by_id["lazy <1>"]["lags"] == {"jobs/a": 3}


def test_api_speaks_json_for_unicode(anon: FlaskClient, hostile: rivulet.Client) -> None:
    reply = anon.get("/api/channels", headers=bearer())
    assert "été ✓ 日本" in reply.get_data(as_text=True)
    assert sorted(c["name"] for c in reply.get_json()["channels"]) == sorted(HOSTILE_NAMES)


def test_metrics(anon: FlaskClient, two_channels: None, hostile: rivulet.Client) -> None:
    reply = anon.get("/metrics", headers=bearer())
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(reply.get_data(as_text=True))}
    assert set(families) == {
        "rivulet_channel_messages",
        "rivulet_channel_head_id",
        "rivulet_channel_subscribers",
        "rivulet_subscriber_lag_messages",
        "rivulet_subscriber_lag_seconds",
        "rivulet_channel_write_rate",
        "rivulet_subscriber_read_rate",
        "rivulet_subscriber_eta_seconds",
        "rivulet_subscriber_status",
    }

    def value(family: str, **labels: str) -> float:
        for sample in families[family].samples:
            if sample.labels == labels:
                return float(sample.value)
        raise AssertionError(f"no {family}{labels}")

    assert value("rivulet_channel_messages", channel="jobs/a") == 3
    assert value("rivulet_channel_head_id", channel="jobs/b") == 1
    assert value("rivulet_channel_subscribers", channel="jobs/a") == 2
    assert value("rivulet_subscriber_lag_messages", channel="jobs/a", client="lazy <1>") == 3
    assert value("rivulet_subscriber_lag_seconds", channel="jobs/a", client="lazy <1>") >= 0
    for name in HOSTILE_NAMES:  # label values survive quoting and escaping
        assert value("rivulet_channel_messages", channel=name) == 2


def test_healthz(anon: FlaskClient) -> None:
    reply = anon.get("/healthz")
    assert reply.status_code == 200 and reply.get_json() == {"status": "ok"}


# -- round trips -------------------------------------------------------------


class CountingConnection(redis.Connection):
    """Counts what goes over the wire: one send is one round trip."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        super().send_packed_command(command, check_health)


@pytest.fixture
def counted(redis_server: Any, real_redis: redis.Redis) -> Iterator[Callable[[str], int]]:
    pool = redis.ConnectionPool(
        connection_class=CountingConnection, host="127.0.0.1", port=redis_server.port
    )
    counting = redis.Redis(connection_pool=pool)
    app = create_app({"TESTING": True, "ADMIN": rivulet.Admin(counting), "DASHBOARD_TOKEN": TOKEN})
    browser = login(app)

    def trips(path: str) -> int:
        # The first call of each script may add a NOSCRIPT reply and a load.
        assert browser.get(path).status_code == 200, path
        CountingConnection.sends = 0
        assert browser.get(path).status_code == 200, path
        return CountingConnection.sends

    yield trips
    pool.disconnect()


def populate(store: redis.Redis, channels: int, subscribers: int) -> None:
    for c in range(channels):
        name = f"ch/{c:04d}"
        for s in range(subscribers):
            client = rivulet.Client(redis=store, client_id=f"client {s}")
            client.subscribe(name, "earliest")
            client.close()
        writer = rivulet.Client(redis=store, client_id="client 0")
        writer.write(name, ["a", "b"])
        writer.close()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/_channels",
        "/?q=ch",
        "/metrics",
        "/api/channels",
        "/clients",
        f"/channels/{seg('ch/0000')}",
        f"/api/channels/{seg('ch/0000')}",
    ],
)
def test_round_trips_do_not_grow_with_rows(
    counted: Callable[[str], int], real_redis: redis.Redis, path: str
) -> None:
    populate(real_redis, channels=3, subscribers=2)
    few = counted(path)
    populate(real_redis, channels=40, subscribers=12)
    many = counted(path)
    assert many == few, f"{path}: {few} round trips with few rows, {many} with many"
    assert few <= 6


def test_app_builds_its_own_admin_from_the_url(redis_server: Any, real_redis: Any) -> None:
    app: Flask = create_app({"TESTING": True, "REDIS_URL": redis_server.url, "AUTH": False})
    browser = app.test_client()
    assert browser.get("/healthz").status_code == 200
    assert browser.get("/").status_code == 200


def test_metrics_survive_a_name_registered_around_the_library(
    anon: FlaskClient, two_channels: None, store: Any, admin: rivulet.Admin
) -> None:
    # A key with a brace in its "channel" is found by rebuild_registry and
    # flagged on its row; the scrape must still answer for everything else.
    store.zadd("rvl:msg:{x}y}", {'{"id":1,"ts":1,"src":"s","data":"d"}': 1})
    admin.rebuild_registry()
    reply = anon.get("/metrics", headers=bearer())
    assert reply.status_code == 200
    assert "rivulet_subscriber_lag_messages{" in reply.get_data(as_text=True)


def test_favicon_ico_is_public(anon: FlaskClient) -> None:
    reply = anon.get("/favicon.ico")
    assert reply.status_code == 301
    assert reply.headers["Location"].endswith("/static/favicon.svg")


def test_a_key_of_the_wrong_type_is_a_clear_500_not_an_outage(
    anon: FlaskClient, store: Any, make_client: Callable[..., rivulet.Client]
) -> None:
    # The channel page renders such a channel (test_pages); its JSON is a 500.
    make_client("c", "wt")
    store.delete("rvl:msg:{wt}")
    store.set("rvl:msg:{wt}", "not a zset")
    reply = anon.get("/api/channels/wt", headers=bearer())
    assert reply.status_code == 500
    assert "Redis refused the request" in reply.get_data(as_text=True)
    assert "Traceback" not in reply.get_data(as_text=True)
    assert "Retry-After" not in reply.headers
