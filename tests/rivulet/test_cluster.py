"""rivulet on a real 3-master + 3-replica Redis Cluster: batches grouped by
node, no COMMAND GETKEYS, errors retried or raised per call."""

from __future__ import annotations

from typing import Any

import pytest

import rivulet
from rivulet import keys

from ..conftest import RedisCluster6, channels_per_master


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
