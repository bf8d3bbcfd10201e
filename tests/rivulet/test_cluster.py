"""rivulet on a real 3-master + 3-replica Redis Cluster: batches grouped by
node, no COMMAND GETKEYS, errors retried or raised per call."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry

import rivulet
from rivulet import keys
from rivulet.exceptions import is_transient, translate
from rivulet.retry import RetryPolicy
from rivulet.scripts import Batch, routing

from ..conftest import RedisCluster6, channels_per_master, free_port


def getkeys_calls(cluster: RedisCluster6) -> int:
    """How many COMMAND GETKEYS every node has served since its stats reset."""
    total = 0
    for node in cluster.live():
        conn = node.client()
        try:
            stats = conn.info("commandstats")
        finally:
            conn.close()
        total += int(stats.get("cmdstat_command|getkeys", {}).get("calls", 0))
    return total


def reset_stats(cluster: RedisCluster6) -> None:
    for node in cluster.live():
        conn = node.client()
        try:
            conn.config_resetstat()
        finally:
            conn.close()


def test_the_cluster_has_three_masters_each_with_a_replica(cluster6_server: RedisCluster6,
                                                           cluster6_redis: Any) -> None:
    assert len(cluster6_server.masters()) == 3
    assert len(cluster6_redis.get_replicas()) == 3
    names = channels_per_master(cluster6_redis)
    owners = {cluster6_redis.get_node_from_key(keys.id_key(n)).name for n in names}
    assert len(owners) == 3


def test_reads_and_listings_send_no_command_getkeys(cluster6_server: RedisCluster6,
                                                    cluster6_redis: Any) -> None:
    names = channels_per_master(cluster6_redis, 2)
    with rivulet.Client(redis=cluster6_redis, client_id="r", channel_ids=names) as reader, \
            rivulet.Client(redis=cluster6_redis, client_id="w", channel_ids=names) as writer:
        reset_stats(cluster6_server)
        for name in names:
            writer.write(name, f"to {name}")
        inbox = reader.read()
        reader.read()
        admin = rivulet.Admin(cluster6_redis)
        rows = admin.channels(limit=50)
        assert getkeys_calls(cluster6_server) == 0
    assert {n: [m["data"] for m in inbox[n]] for n in names} == {n: [f"to {n}"] for n in names}
    assert sorted(r.name for r in rows) == sorted(names)
    assert all(r.head_id == 1 and r.subscriber_count == 2 for r in rows)


def _misroute(redis: Any, channel: str) -> None:
    """Point the client's slot table for ``channel`` at a node that does not
    own it, as after a failover the client has not heard of: MOVED replies."""
    slot = redis.keyslot(keys.id_key(channel))
    owner = redis.nodes_manager.slots_cache[slot][0]
    other = next(n for n in redis.get_primaries() if n.name != owner.name)
    redis.nodes_manager.slots_cache[slot] = [other]


def test_management_answers_are_those_of_one_server(cluster6_redis: Any) -> None:
    names = channels_per_master(cluster6_redis)
    with rivulet.Client(redis=cluster6_redis, client_id="w", channel_ids=names) as writer, \
            rivulet.Client(redis=cluster6_redis, client_id="r", channel_ids=names):
        for name in names:
            writer.write(name, ["a", "b"])
        admin = rivulet.Admin(cluster6_redis)
        admin.set_retention(names[1], max_messages=10)
        rows = {r.name: r for r in admin.channels()}
        clients = {c.client_id: c for c in admin.clients()}
    assert {n: (r.head_id, r.message_count, r.subscriber_count, r.max_lag)
            for n, r in rows.items()} == {n: (2, 2, 2, 2) for n in names}
    assert rows[names[1]].max_messages == 10
    assert rows[names[0]].max_messages is None
    assert clients["r"].lags == dict.fromkeys(names, 2)
    assert clients["w"].lags == dict.fromkeys(names, 2)


def test_a_stale_slot_table_is_refreshed_and_the_call_resent(cluster6_redis: Any) -> None:
    names = channels_per_master(cluster6_redis)
    with rivulet.Client(redis=cluster6_redis, client_id="r", channel_ids=names) as reader, \
            rivulet.Client(redis=cluster6_redis, client_id="w", channel_ids=names) as writer:
        writer.write(names[0], "x")
        _misroute(cluster6_redis, names[0])
        rows = {r.name: r.head_id for r in rivulet.Admin(cluster6_redis).channels()}
        _misroute(cluster6_redis, names[0])
        inbox = reader.read()
        _misroute(cluster6_redis, names[0])
        writer.write(names[0], "y")  # the single-script path
    assert rows == {names[0]: 1, names[1]: 0, names[2]: 0}
    assert [m["data"] for m in inbox[names[0]]] == ["x"]


@pytest.mark.parametrize("listing", ["channels", "clients", "subscribers_many"])
def test_a_cluster_error_is_raised_never_shown_as_zero(cluster6_redis: Any, listing: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    names = channels_per_master(cluster6_redis)
    with rivulet.Client(redis=cluster6_redis, client_id="r", channel_ids=names) as client:
        client.write(names[0], "x")
        client.write(names[0], "y")
        other = rivulet.Client(redis=cluster6_redis, client_id="lagging", channel_ids=names)
        client.write(names[0], "z")
        # The refresh cannot help (it is switched off) and there is no retry
        # budget: the MOVED reply must come up as an error.
        monkeypatch.setattr(routing, "refresh", lambda redis: None)
        _misroute(cluster6_redis, names[0])
        admin = rivulet.Admin(cluster6_redis, retry=RetryPolicy.none())
        call = {"channels": admin.channels, "clients": admin.clients,
                "subscribers_many": lambda: admin.subscribers_many(names)}[listing]
        with pytest.raises(rivulet.ConnectionError):
            call()
        other.close()


def test_wait_replicas_makes_every_write_reach_a_replica(cluster6_server: RedisCluster6,
                                                         cluster6_redis: Any) -> None:
    names = channels_per_master(cluster6_redis)
    with rivulet.Client(redis=cluster6_redis, client_id="w", channel_ids=names,
                        wait_replicas=1) as writer:
        for name in names:
            reset_stats(cluster6_server)
            assert writer.write(name, ["a", "b"]) == [1, 2]
            owner = cluster6_redis.get_node_from_key(keys.id_key(name))
            conn = cluster6_server.replica_of(owner.port).client()
            try:
                conn.execute_command("READONLY")
                # WAIT returned 1: the replica holds the write already, no polling.
                assert conn.zcard(keys.msg_key(name)) == 2
            finally:
                conn.close()
            stats = cluster6_redis.get_redis_connection(owner).info("commandstats")
            assert stats["cmdstat_wait"]["calls"] == 1


def test_wait_replicas_reports_a_write_no_replica_confirmed(real_redis: Any) -> None:
    with rivulet.Client(redis=real_redis, client_id="w", channel_ids="ch", wait_replicas=1,
                        wait_timeout_ms=1) as writer:
        with pytest.raises(rivulet.NotReplicatedError) as caught:
            writer.write("ch", "only on the master")
    assert (caught.value.ids, caught.value.acked, caught.value.wanted) == ([1], 0, 1)
    assert real_redis.zcard(keys.msg_key("ch")) == 1  # stored once, not lost


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_wait_replicas_must_be_a_count(bad: Any, fake_redis: Any) -> None:
    with pytest.raises(ValueError, match="wait_replicas"):
        rivulet.Client(redis=fake_redis, wait_replicas=bad)


@pytest.mark.parametrize("reply", [
    "CLUSTERDOWN The cluster is down",
    "TRYAGAIN Multiple keys request during rehashing of slot",
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    "MOVED 3999 127.0.0.1:6381",
    "ASK 3999 127.0.0.1:6381",
])
def test_cluster_errors_are_transient_by_class(reply: str) -> None:
    from redis._parsers import _RESP2Parser

    # As redis-py builds them on a cluster's connections (before 5.1 with
    # its ClusterParser): the class says what it is, the first word is gone.
    parser = getattr(redis.cluster, "ClusterParser", _RESP2Parser)
    error = parser(65536).parse_error(reply)
    assert not str(error).startswith(reply.split()[0])
    assert is_transient(error)
    assert isinstance(translate(error), rivulet.ConnectionError)


def test_a_refused_script_is_not_transient() -> None:
    from redis._parsers import _RESP2Parser

    assert not is_transient(_RESP2Parser(65536).parse_error("ERR something else"))
    assert not is_transient(_RESP2Parser(65536).parse_error(
        "CROSSSLOT Keys in request don't hash to the same slot"))


def test_only_the_failed_calls_of_a_batch_are_sent_again(cluster6_redis: Any) -> None:
    names = channels_per_master(cluster6_redis)
    batch = Batch()
    for name in names:
        batch.command("incr", keys.id_key(name))
    _misroute(cluster6_redis, names[0])
    results = batch.run(cluster6_redis, RetryPolicy(), "incr")
    assert results == [1, 1, 1]
    # The calls that went through were not sent a second time.
    assert [int(cluster6_redis.get(keys.id_key(n))) for n in names] == [1, 1, 1]


def test_scripts_missing_on_one_node_are_loaded_there(cluster6_redis: Any) -> None:
    names = channels_per_master(cluster6_redis)
    with rivulet.Client(redis=cluster6_redis, client_id="r", channel_ids=names) as reader, \
            rivulet.Client(redis=cluster6_redis, client_id="w", channel_ids=names) as writer:
        for name in names:
            writer.write(name, name)
        # As after a restart of one master: its script cache is empty.
        cluster6_redis.get_node_from_key(keys.id_key(names[1])).redis_connection.script_flush()
        inbox = reader.read()
        cluster6_redis.get_node_from_key(keys.id_key(names[2])).redis_connection.script_flush()
        writer.write(names[2], "again")  # the single-script path
    assert {n: [m["data"] for m in inbox[n]] for n in names} == {n: [n] for n in names}


def test_a_call_answered_ask_is_sent_to_the_importing_node(cluster6_redis: Any) -> None:
    names = channels_per_master(cluster6_redis, prefix="ask")
    key = keys.id_key(names[0])
    slot = cluster6_redis.keyslot(key)
    source = cluster6_redis.get_node_from_key(key)
    target = next(n for n in cluster6_redis.get_primaries() if n.name != source.name)
    ids = {n.name: n.redis_connection.execute_command("CLUSTER", "MYID")
           for n in (source, target)}
    target.redis_connection.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING",
                                            ids[source.name])
    source.redis_connection.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING",
                                            ids[target.name])
    try:
        batch = Batch()
        batch.command("incr", key)  # a key not on the source: ASK
        batch.command("incr", keys.id_key(names[1]))
        results = batch.run(cluster6_redis, RetryPolicy.none(), "incr")
    finally:
        # Read and drop the key while the target still takes it after ASKING.
        on_target = target.redis_connection.pipeline(transaction=False)
        on_target.execute_command("ASKING")
        on_target.get(key)
        on_target.execute_command("ASKING")
        on_target.delete(key)
        stored = on_target.execute()[1]
        for node in (source, target):
            node.redis_connection.execute_command("CLUSTER", "SETSLOT", slot, "STABLE")
    assert results == [1, 1]
    assert stored == b"1"


def test_a_batch_sends_one_pipeline_per_node_at_once(cluster6_redis: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    names = channels_per_master(cluster6_redis, 2)
    # Three pipelines that each wait for the other two: only parallel sends pass.
    barrier = threading.Barrier(3, timeout=10)
    sent: list[list[str]] = []
    real = Batch._pipeline

    def pipeline(self: Batch, conn: Any, indices: list[int], asking: bool = False) -> list[Any]:
        sent.append(sorted(self._calls[i].key or "" for i in indices))
        barrier.wait()
        return real(self, conn, indices, asking)

    monkeypatch.setattr(Batch, "_pipeline", pipeline)
    batch = Batch()
    for name in names:
        batch.command("incr", keys.id_key(name))
    assert batch.run(cluster6_redis, RetryPolicy.none(), "incr") == [1] * 6
    by_node = sorted(sorted(keys.id_key(n) for n in names[i::3]) for i in range(3))
    assert sorted(sent) == by_node


def test_rebuild_registry_finds_channels_on_every_master(cluster6_redis: Any) -> None:
    names = channels_per_master(cluster6_redis, 2)
    for name in names:
        cluster6_redis.set(keys.id_key(name), 3)  # written around the library
    admin = rivulet.Admin(cluster6_redis)
    assert admin.rebuild_registry() == 6
    assert [r.name for r in admin.channels()] == sorted(names)
    assert all(r.head_id == 3 for r in admin.channels())


def test_a_dead_node_in_the_slot_table_is_retried_until_the_refresh_finds_its_successor(
        cluster6_redis: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from redis.cluster import ClusterNode

    names = channels_per_master(cluster6_redis)
    slot = cluster6_redis.keyslot(keys.id_key(names[0]))
    live = cluster6_redis.nodes_manager.slots_cache[slot]
    # A master that died, still in the table: its port refuses connections.
    dead = ClusterNode("127.0.0.1", free_port())
    dead.redis_connection = redis.Redis(port=dead.port, retry=Retry(NoBackoff(), 0))
    cluster6_redis.nodes_manager.slots_cache[slot] = [dead]
    refreshes: list[int] = []

    def refresh(redis: Any) -> None:
        refreshes.append(slot)
        if len(refreshes) == 2:  # the replica is promoted by the second look
            redis.nodes_manager.slots_cache[slot] = live

    monkeypatch.setattr(routing, "refresh", refresh)
    batch = Batch()
    for name in names:
        batch.command("incr", keys.id_key(name))
    assert batch.run(cluster6_redis, RetryPolicy(), "incr") == [1, 1, 1]
    assert len(refreshes) == 2
    assert [int(cluster6_redis.get(keys.id_key(n))) for n in names] == [1, 1, 1]
    dead.redis_connection.close()
