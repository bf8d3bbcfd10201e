"""The coalescing Producer on the 3+3 cluster: a round goes to every master
at once, and a node whose pipeline fails fails only its own calls' futures."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
import redis.client

import rivulet
from rivulet import keys
from rivulet.producer import Producer

from ..conftest import RedisCluster6, channels_per_master

HOLD_MS = 600_000  # rounds are cut by flush() only


def stored(store: Any, channel: str) -> list[str]:
    return [json.loads(m)["data"] for m in store.zrange(keys.msg_key(channel), 0, -1)]


def test_one_nodes_failed_pipeline_fails_only_its_calls(
    cluster6_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = channels_per_master(cluster6_redis, 2, prefix="prod")
    client = rivulet.Client(redis=cluster6_redis, client_id="w", channel_ids=names,
                            retry=rivulet.RetryPolicy(budget_s=0.3))
    producer = Producer(client, linger_ms=HOLD_MS)
    try:
        for name in names:  # scripts loaded and links open on every master
            producer.send(name, "warm-up")
        producer.flush(timeout=30)
        sick = cluster6_redis.get_node_from_key(keys.id_key(names[0]))
        sick_pool = sick.redis_connection.connection_pool
        original = redis.client.Pipeline.execute

        def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
            if self.connection_pool is sick_pool:
                raise redis.ConnectionError("injected: this node's link is down")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
        futures = {name: producer.send(name, "after") for name in names}
        producer.flush(timeout=30)
        on_sick = {n for n in names
                   if cluster6_redis.get_node_from_key(keys.id_key(n)).name == sick.name}
        assert len(on_sick) == 2
        for name, future in futures.items():
            if name in on_sick:
                error = future.exception(timeout=10)
                assert isinstance(error, rivulet.ConnectionError), error
                assert not isinstance(error, redis.RedisError)
            else:
                assert future.result(timeout=10) == 2
        monkeypatch.undo()
        for name in names:
            assert stored(cluster6_redis, name) == (
                ["warm-up"] if name in on_sick else ["warm-up", "after"])
    finally:
        producer.close()
        client.close()


def test_wait_replicas_makes_a_round_reach_every_masters_replica(
    cluster6_server: RedisCluster6, cluster6_redis: Any
) -> None:
    names = channels_per_master(cluster6_redis, 2, prefix="prodwait")
    client = rivulet.Client(redis=cluster6_redis, client_id="w", channel_ids=names,
                            wait_replicas=1)
    producer = Producer(client, linger_ms=HOLD_MS)
    try:
        for node in cluster6_server.live():
            conn = node.client()
            try:
                conn.config_resetstat()
            finally:
                conn.close()
        futures = {name: producer.send(name, "replicated") for name in names}
        producer.flush(timeout=30)
        assert {name: f.result() for name, f in futures.items()} == dict.fromkeys(names, 1)
        masters = {cluster6_redis.get_node_from_key(keys.id_key(n)).port for n in names}
        for port in masters:
            replica = cluster6_server.replica_of(port).client()
            try:
                replica.execute_command("READONLY")
                # WAIT answered 1: the replica holds both of its master's channels.
                on_master = [n for n in names
                             if cluster6_redis.get_node_from_key(keys.id_key(n)).port == port]
                assert [replica.zcard(keys.msg_key(n)) for n in on_master] == [1, 1]
            finally:
                replica.close()
            stats = cluster6_redis.get_redis_connection(
                cluster6_redis.get_node(port=port, host="127.0.0.1")).info("commandstats")
            assert stats["cmdstat_wait"]["calls"] == 1  # one WAIT per master per round
    finally:
        producer.close()
        client.close()
