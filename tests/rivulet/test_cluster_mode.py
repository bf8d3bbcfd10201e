"""The CLI and the dashboard on a 3+3 cluster reached through a plain
``redis://`` URL of one node: they detect the cluster, say so on stderr and
answer as on one server (issue 8)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

import rivulet
from rivulet import keys
from rivulet.cli import cli
from rivulet.urls import cluster_url_for, redis_from_url

from ..conftest import RedisCluster6, RedisServer, channels_per_master, free_port


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False,
                              env={"RIVULET_REDIS_URL": url, "REDIS_URL": None})


@pytest.fixture
def node_url(cluster6_server: RedisCluster6, cluster6_redis: Any) -> str:
    """A plain URL of the master that does NOT hold the registry's slot."""
    registry = cluster6_redis.get_node_from_key(keys.CHANNELS).port
    other = next(n for n in cluster6_server.masters() if n.port != registry)
    return f"redis://127.0.0.1:{other.port}/0"


@pytest.fixture
def spread(cluster6_redis: Any) -> Iterator[list[str]]:
    """One channel per master, each with 3 messages, a caught-up reader
    ``fast`` and a reader ``slow`` 2 behind, and a cap of 10 messages."""
    names = channels_per_master(cluster6_redis, prefix="mode")
    admin = rivulet.Admin(cluster6_redis)
    with rivulet.Client(redis=cluster6_redis, client_id="fast", channel_ids=names) as fast, \
            rivulet.Client(redis=cluster6_redis, client_id="slow", channel_ids=names) as slow:
        for name in names:
            fast.write(name, ["a"])
        slow.read()
        for name in names:
            fast.write(name, ["b", "c"])
        fast.read()
        for name in names:
            admin.set_retention(name, max_messages=10)
        yield names


def test_detection_turns_a_node_url_into_a_cluster_url(node_url: str,
                                                       redis_server: RedisServer) -> None:
    assert cluster_url_for(node_url) == node_url.replace("redis://", "redis+cluster://")
    assert cluster_url_for(redis_server.url) is None
    assert cluster_url_for(f"redis://127.0.0.1:{free_port()}/0") is None  # left to the caller
    assert cluster_url_for(node_url.replace("redis://", "redis+cluster://")) is None


def test_cli_channels_through_one_node_sees_every_master(node_url: str, spread: list[str],
                                                         cluster6_redis: Any) -> None:
    result = run(node_url, "channels", "--json")
    assert result.exit_code == 0, result.output
    assert "cluster mode" in result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["channels"]}
    assert set(spread) <= set(rows)
    truth = {row.name: row for row in rivulet.Admin(cluster6_redis).channels()}
    for name in spread:
        assert rows[name]["message_count"] == truth[name].message_count > 0
        assert rows[name]["max_lag"] == truth[name].max_lag == 2
        assert rows[name]["subscriber_count"] == 2


def test_cli_clients_and_retention_through_one_node(node_url: str, spread: list[str]) -> None:
    result = run(node_url, "clients", "--json")
    assert result.exit_code == 0, result.output
    lags = {r["client_id"]: r["lags"] for r in json.loads(result.stdout)["clients"]}
    for name in spread:
        assert lags["slow"][name] == 2 and lags["fast"][name] == 0
    for name in spread:
        shown = run(node_url, "retention", name)
        assert shown.stdout == f"{name!r}: max 10 messages, no age cap\n", shown.output


@pytest.mark.parametrize("where", ["node", "standalone"])
def test_retention_of_an_unknown_channel_fails(where: str, node_url: str,
                                               redis_server: RedisServer) -> None:
    url = node_url if where == "node" else redis_server.url
    result = run(url, "retention", "nosuch")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert "nosuch" in result.stderr


def test_dashboard_through_one_node(node_url: str, spread: list[str],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from dashboard import create_app

    app = create_app({"TESTING": True, "REDIS_URL": node_url, "AUTH": False})
    assert "cluster mode" in capsys.readouterr().err
    try:
        browser = app.test_client()
        for path in ("/", "/metrics", "/api/channels"):
            page = browser.get(path)
            assert page.status_code == 200, path
        body = browser.get("/api/channels").get_data(as_text=True)
        assert all(name in body for name in spread)
        assert browser.get("/healthz").status_code == 200
    finally:
        found = app.extensions["rivulet"]
        found.admin.close()
        found.health.close()


def test_healthz_is_503_when_one_primary_does_not_answer(cluster6_server: RedisCluster6,
                                                         cluster6_redis: Any) -> None:
    from dashboard import create_app

    url = f"redis+cluster://127.0.0.1:{cluster6_server.port}"
    app = create_app({"TESTING": True, "REDIS_URL": url, "AUTH": False})
    browser = app.test_client()
    try:
        assert browser.get("/healthz").status_code == 200
        # CLIENT PAUSE stalls that primary's clients (not its cluster bus, so
        # no failover) until the pause times out.
        primary = next(n for n in cluster6_server.masters()
                       if n.port != cluster6_server.port)
        conn = primary.client(socket_timeout=10)
        conn.execute_command("CLIENT", "PAUSE", 3000, "ALL")
        answer = browser.get("/healthz")
        assert answer.status_code == 503, answer.get_data(as_text=True)
        # The event that the pause is over: a PING gets its answer.
        done = threading.Event()

        def wait() -> None:
            probe = primary.client(socket_timeout=10)
            probe.ping()
            probe.close()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        assert done.wait(10)
        conn.close()
    finally:
        found = app.extensions["rivulet"]
        found.admin.close()
        found.health.close()


def test_a_node_url_with_another_database_is_one_clear_line(node_url: str) -> None:
    result = run(node_url.replace("/0", "/3"), "channels")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "SELECT" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_hung_seed_at_start_up_costs_the_connect_timeout_not_the_socket_timeout(
    cluster6_server: RedisCluster6,
) -> None:
    """A seed that accepts and never answers (the kernel completes the
    handshake of a listening socket nobody reads) is listed first."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        port = hung.getsockname()[1]
        url = f"redis+cluster://127.0.0.1:{port}?node=127.0.0.1:{cluster6_server.port}"
        began = time.monotonic()
        # Each seed gets the connect timeout; 5 s leaves a loaded machine room to
        # read the slot map from the good one, and is still far below 60 s.
        client = redis_from_url(url, socket_connect_timeout=5.0, socket_timeout=60)
        took = time.monotonic() - began
        try:
            assert client.ping()
        finally:
            client.close()
        # Far below the 60 s socket timeout a hung seed cost before.
        assert took < 30, took
        # Every seed hung: a ConnectionError, again bounded by the connect timeout.
        began = time.monotonic()
        with pytest.raises(rivulet.ConnectionError, match="seed node"):
            redis_from_url(f"redis+cluster://127.0.0.1:{port}",
                           socket_connect_timeout=5.0, socket_timeout=60)
        assert time.monotonic() - began < 30
