"""Many producers and consumers on one channel (on the 3+3 cluster, one per
master): everyone gets everything once, in order."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest

import rivulet

from ..conftest import RedisCluster6, channels_per_master, is_cluster

PRODUCERS, PER_PRODUCER, CONSUMERS = 4, 150, 3
TOTAL = PRODUCERS * PER_PRODUCER


def channels_of(backend: Any) -> list[str]:
    """``["ch"]``, or on a multi-master cluster one channel per master."""
    if is_cluster(backend) and len(backend.get_primaries()) > 1:
        return channels_per_master(backend)
    return ["ch"]


def consume_all(client: rivulet.Client, expected: int, into: dict[str, list[dict[str, Any]]],
                errors: list[BaseException]) -> None:
    """Read until ``expected`` messages arrived on each channel of ``into``."""
    try:
        while any(len(got) < expected for got in into.values()):
            inbox = client.read(timeout=20, message_limit=64)
            if not inbox:
                counts = {name: len(got) for name, got in into.items()}
                raise AssertionError(f"no message for 20 s after {counts} of {expected}")
            for name, messages in inbox.items():
                into[name].extend(messages)
    except BaseException as error:  # surfaced by the test thread
        errors.append(error)


def check(received: list[dict[str, Any]]) -> None:
    ids = [m["id"] for m in received]
    assert ids == list(range(1, TOTAL + 1)), "every message once, in id order"
    # Each producer's own messages arrive in the order it wrote them.
    for p in range(PRODUCERS):
        mine = [int(m["data"].split(":")[1]) for m in received if m["src"] == f"producer-{p}"]
        assert mine == list(range(PER_PRODUCER))


def test_threads(backend: Any) -> None:
    names = channels_of(backend)
    consumers = [rivulet.Client(redis=backend, client_id=f"consumer-{i}", channel_ids=names)
                 for i in range(CONSUMERS)]
    producers = [rivulet.Client(redis=backend, client_id=f"producer-{p}", channel_ids=names)
                 for p in range(PRODUCERS)]
    received: list[dict[str, list[dict[str, Any]]]] = [{n: [] for n in names} for _ in consumers]
    errors: list[BaseException] = []

    def produce(p: int) -> None:
        try:
            for name in names:
                sent = 0
                while sent < PER_PRODUCER:
                    size = 1 + (sent + p) % 7  # batches of mixed sizes
                    batch = [f"{p}:{i}" for i in range(sent, min(sent + size, PER_PRODUCER))]
                    ids = producers[p].write(name, batch)
                    assert ids == list(range(ids[0], ids[0] + len(batch)))  # contiguous
                    sent += len(batch)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=consume_all, args=(c, TOTAL, r, errors))
               for c, r in zip(consumers, received)]
    threads += [threading.Thread(target=produce, args=(p,)) for p in range(PRODUCERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    for r in received:
        for messages in r.values():
            check(messages)
    # Once the producers (subscribed, never reading) leave, everything has
    # been read by every remaining subscriber, so retention deletes it all.
    for producer in producers:
        producer.unsubscribe(names)
    assert [rivulet.Admin(backend).count(name) for name in names] == [0] * len(names)


@pytest.mark.parametrize("kind", ["redis", "cluster6"])
def test_producer_processes(kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "redis":
        store: Any = request.getfixturevalue("real_redis")
        url = request.getfixturevalue("redis_server").url
    else:
        store = request.getfixturevalue("cluster6_redis")
        cluster: RedisCluster6 = request.getfixturevalue("cluster6_server")
        url = f"redis+cluster://127.0.0.1:{cluster.port}"
    names = channels_of(store)
    consumer = rivulet.Client(redis=store, client_id="consumer", channel_ids=names)
    for p in range(PRODUCERS):
        rivulet.Client(redis=store, client_id=f"producer-{p}", channel_ids=names)
    code = (
        "import sys, rivulet\n"
        "c = rivulet.connect(sys.argv[1], client_id=sys.argv[2])\n"
        "p = sys.argv[2].split('-')[1]\n"
        "for name in sys.argv[3:]:\n"
        f"    for i in range({PER_PRODUCER}):\n"
        "        c.write(name, f'{p}:{i}')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, url, f"producer-{p}", *names])
             for p in range(PRODUCERS)]
    received: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    errors: list[BaseException] = []
    consume_all(consumer, TOTAL, received, errors)
    assert [proc.wait(60) for proc in procs] == [0] * PRODUCERS
    assert not errors, errors
    for messages in received.values():
        check(messages)
