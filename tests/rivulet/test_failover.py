"""A master killed under load on a real 3+3 cluster: writers and a blocked
at-least-once reader go on once its replica is promoted, and nothing
acknowledged is lost or stored twice (SPEC section 7)."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import rivulet
from rivulet import keys

from ..conftest import RedisCluster6, channels_per_master

pytestmark = pytest.mark.slow

CHANNEL = "failover"  # its slot's master is the one killed
STOP = "stop"
#: Each phase (messages before the kill, promotion, messages after it, the
#: reader catching up) must finish within this; the whole test stops by itself.
PHASE_S = 60.0


@pytest.fixture
def cluster() -> Iterator[RedisCluster6]:
    """A 3+3 cluster of this test's own: it kills one of its masters."""
    made = RedisCluster6()
    yield made
    made.stop()


class Tally:
    """Acknowledged writes, counted under a condition the test waits on."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.acked: list[str] = []
        self.unconfirmed: list[str] = []
        self.errors: list[BaseException] = []

    def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: predicate() or bool(self.errors), PHASE_S):
                raise AssertionError(f"timed out waiting for {what}")
        assert not self.errors, self.errors


def client_of(cluster: RedisCluster6) -> Any:
    """A cluster client whose default node is the master about to die: the
    worst case, where redis-py's cluster pipeline sent COMMAND GETKEYS."""
    redis = cluster.client()
    redis.set_default_node(redis.get_node_from_key(keys.id_key(CHANNEL)))
    return redis


def produce(cluster: RedisCluster6, name: str, stop: threading.Event, tally: Tally,
            wait_replicas: int) -> None:
    redis = client_of(cluster)
    with rivulet.Client(redis=redis, client_id=name, channel_ids=CHANNEL,
                        wait_replicas=wait_replicas, wait_timeout_ms=500) as writer:
        i = 0
        while not stop.is_set():
            data = f"{name}-{i}"
            i += 1
            try:
                writer.write(CHANNEL, data)
            except rivulet.NotReplicatedError:
                # Stored on the new master before its replica is back: not
                # acknowledged as safe, so not promised.
                with tally.cond:
                    tally.unconfirmed.append(data)
                continue
            except BaseException as error:
                with tally.cond:
                    tally.errors.append(error)
                    tally.cond.notify_all()
                return
            with tally.cond:
                # Without WAIT an acknowledged write may still be lost with
                # the killed master (asynchronous replication): not promised.
                (tally.acked if wait_replicas else tally.unconfirmed).append(data)
                tally.cond.notify_all()
    redis.close()


def consume(reader: rivulet.Client, seen: list[str], errors: list[BaseException]) -> None:
    try:
        while True:
            inbox = reader.read(timeout=-1)  # blocks until a write wakes it
            for message in inbox.get(CHANNEL, []):
                seen.append(message["data"])
            reader.commit(inbox)  # at least once: commit after processing
            if STOP in seen:
                return
    except BaseException as error:
        errors.append(error)


def test_a_killed_master_loses_no_acknowledged_write(cluster: RedisCluster6) -> None:
    setup = cluster.client()
    slot = setup.keyslot(keys.id_key(CHANNEL))
    reader_redis = client_of(cluster)
    # Channels on the other masters too: every read is a batch over three nodes.
    others = [c for c in channels_per_master(setup, prefix="other")
              if setup.get_node_from_key(keys.id_key(c)).name
              != setup.get_node_from_key(keys.id_key(CHANNEL)).name]
    reader = rivulet.Client(redis=reader_redis, client_id="reader",
                            channel_ids=[CHANNEL, *others], auto_commit=False)
    for name in ("p0", "p1", "async"):  # subscribed before any write: the reader sees them all
        rivulet.Client(redis=setup, client_id=name, channel_ids=CHANNEL).close()
    seen: list[str] = []
    reader_errors: list[BaseException] = []
    consumer = threading.Thread(target=consume, args=(reader, seen, reader_errors))
    consumer.start()
    tally, stop = Tally(), threading.Event()
    # Two writers WAIT for the replica; one does not, and must go on all the same.
    producers = [threading.Thread(target=produce, args=(cluster, name, stop, tally, wait))
                 for name, wait in (("p0", 1), ("p1", 1), ("async", 0))]
    for thread in producers:
        thread.start()
    try:
        tally.wait_for(lambda: len(tally.acked) >= 200, "writes before the kill")
        victim = cluster.node_for_slot(slot)
        victim.kill()  # kill -9 under load
        at_kill = len(tally.acked)
        # Redis tells no client when the replica is promoted: ask until so.
        deadline = time.monotonic() + PHASE_S
        while True:
            try:
                if cluster.node_for_slot(slot) is not victim:
                    break
            except LookupError:
                pass
            assert time.monotonic() < deadline, "the replica was never promoted"
            time.sleep(0.1)
        victim.start()  # rejoins as the new master's replica
        cluster.wait_healthy(PHASE_S)
        tally.wait_for(lambda: len(tally.acked) >= at_kill + 200, "writes after the failover")
    finally:
        stop.set()
        for thread in producers:
            thread.join(PHASE_S)
    with rivulet.Client(redis=setup, client_id="stopper", channel_ids=CHANNEL,
                        wait_replicas=1) as stopper:
        stopper.write(CHANNEL, STOP)
    consumer.join(PHASE_S)
    alive = consumer.is_alive()
    stored = [m["data"] for m in rivulet.Admin(setup).messages(CHANNEL, limit=1_000_000)]
    reader.close()
    reader_redis.close()
    setup.close()

    assert not any(t.is_alive() for t in producers), "a writer hung"
    assert not alive, "the reader never got the stop message"
    assert not reader_errors and not tally.errors
    assert len(tally.acked) >= 400
    # Every acknowledged write arrived, through the same reader object.
    assert set(tally.acked) <= set(seen)
    # None stored twice (a retried write is recognised by its token).
    twice = [d for d, n in collections.Counter(stored).items() if n > 1]
    assert twice == []
    assert set(tally.acked) <= set(stored)


def test_a_reader_blocked_on_the_killed_master_is_woken_on_the_promoted_one(
    cluster: RedisCluster6,
) -> None:
    """Nothing is written while the master dies: only a re-subscription on
    the promoted master (sharded wake-ups, SSUBSCRIBE) can wake the reader."""
    setup = cluster.client()
    slot = setup.keyslot(keys.id_key(CHANNEL))
    reader_redis = cluster.client()
    reader = rivulet.Client(redis=reader_redis, client_id="blocked", channel_ids=CHANNEL)
    got: list[list[str]] = []
    errors: list[BaseException] = []
    woke = threading.Event()

    def block() -> None:
        try:
            inbox = reader.read(timeout=-1)
            got.append([m["data"] for m in inbox.get(CHANNEL, [])])
        except BaseException as error:
            errors.append(error)
        woke.set()

    blocked = threading.Thread(target=block, daemon=True)
    try:
        blocked.start()
        # The reader is in its wait once its shard subscription is live:
        # the owning master counts it (SPUBLISH reaches it from then on).
        victim = cluster.node_for_slot(slot)
        probe = victim.client()
        wake = keys.wake_channel(CHANNEL)
        deadline = time.monotonic() + PHASE_S
        while not probe.execute_command("PUBSUB", "SHARDNUMSUB", wake)[1]:
            assert time.monotonic() < deadline, "the reader never subscribed"
            time.sleep(0.05)
        probe.close()
        victim.kill()
        deadline = time.monotonic() + PHASE_S
        while True:  # Redis tells no client of the promotion: ask until so
            try:
                if cluster.node_for_slot(slot) is not victim:
                    break
            except LookupError:
                pass
            assert time.monotonic() < deadline, "the replica was never promoted"
            time.sleep(0.1)
        assert not woke.is_set(), (got, errors)  # nothing was written yet
        with rivulet.Client(redis=setup, client_id="writer", channel_ids=CHANNEL) as writer:
            writer.write(CHANNEL, "after the failover")
        assert woke.wait(PHASE_S), "the blocked reader was never woken"
        assert not errors, errors
        # A re-subscription looks again, so it may wake early with nothing;
        # the message itself must come to this reader all the same.
        seen = [d for batch in got for d in batch]
        if not seen:
            seen = [m["data"] for m in reader.read(timeout=PHASE_S).get(CHANNEL, [])]
        assert seen == ["after the failover"]
    finally:
        reader.close()
        reader_redis.close()
        setup.close()
