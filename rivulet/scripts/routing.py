"""Routing calls to Redis Cluster nodes without redis-py's cluster pipeline.

redis-py's ``ClusterPipeline`` (>= 7) asks its default node ``COMMAND GETKEYS``
for every queued EVALSHA: a round trip per call, and when that node is the one
that died, the whole pipeline fails before the slot table is refreshed. rivulet
knows each call's key, so it finds the node from the slot table itself
(``keyslot`` then the cached slot -> node map) and talks to that node's own
plain client. A topology refresh (``nodes_manager.initialize()``) is one
``CLUSTER SLOTS`` and is done only after a call met MOVED/ASK, a dead link or a
cluster error.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis.exceptions as rex
from redis.cluster import RedisCluster

from ..exceptions import is_transient

_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def is_cluster(redis: Any) -> bool:
    return isinstance(redis, RedisCluster)


def node_connection(redis: Any, key: str) -> Any:
    """The plain redis-py client of the primary serving ``key``'s slot.

    :raises SlotNotCoveredError: the slot table has no node for it (yet).
    """
    return redis.get_node_from_key(key).redis_connection


def on_node(redis: Any, key: str, call: Callable[[Any], Any]) -> Any:
    """``call(client)`` on the primary serving ``key``; after a transient
    failure the slot table is reloaded before the error goes up to the retry
    layer, so its next attempt goes to the right node."""
    try:
        return call(node_connection(redis, key))
    except Exception as error:
        if is_transient(error):
            refresh(redis)
        raise


def group_by_node(redis: Any, routing_keys: Sequence[str | None], indices: list[int],
                  results: list[Any]) -> list[tuple[Any, list[int]]]:
    """``indices`` grouped by the node their key lives on; a call whose slot
    no node covers gets that error in ``results`` and is left out."""
    groups: dict[str, tuple[Any, list[int]]] = {}
    for key, i in zip(routing_keys, indices):
        if key is None:
            # Every call rivulet queues names a key; keyless ones go anywhere.
            node = redis.get_default_node()
        else:
            try:
                node = redis.get_node_from_key(key)
            except rex.RedisClusterException as error:
                results[i] = error
                continue
        groups.setdefault(node.name, (node.redis_connection, []))[1].append(i)
    return list(groups.values())


def group_asked(redis: Any, indices: list[int],
                results: list[Any]) -> list[tuple[Any, list[int]]]:
    """The calls among ``indices`` that were answered ASK, grouped by the node
    they were sent to; a node the slot table does not know keeps its error."""
    groups: dict[str, tuple[Any, list[int]]] = {}
    for i in indices:
        error = results[i]
        if isinstance(error, rex.AskError) and not isinstance(error, rex.MovedError):
            node = redis.nodes_manager.get_node(host=error.host, port=error.port)
            if node is not None and node.redis_connection is not None:
                groups.setdefault(node.name, (node.redis_connection, []))[1].append(i)
    return list(groups.values())


def refresh(redis: Any) -> None:
    """Reload the slot table; a failure here shows up on the next send."""
    try:
        redis.nodes_manager.initialize()
    except (rex.RedisError, rex.RedisClusterException):
        pass


def in_parallel(jobs: list[Callable[[], None]]) -> None:
    """Run ``jobs`` at once (the first on this thread) and wait for all."""
    if len(jobs) <= 1:
        for job in jobs:
            job()
        return
    # Each job runs in a copy of this context: the call's deadline
    # (rivulet.deadline) bounds the sockets of the other nodes too.
    futures = [_pool().submit(contextvars.copy_context().run, job) for job in jobs[1:]]
    try:
        jobs[0]()
    finally:
        for future in futures:
            future.result()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    # One small shared pool: threads are started once, not per batch.
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=16, thread_name_prefix="rivulet-node"
            )
        return _executor
