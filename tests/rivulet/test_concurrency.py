"""Many producers and consumers on one channel: everyone gets everything once, in order."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest

import rivulet

from ..conftest import RedisServer

PRODUCERS, PER_PRODUCER, CONSUMERS = 4, 150, 3
TOTAL = PRODUCERS * PER_PRODUCER


def consume_all(client: rivulet.Client, expected: int, into: list[dict[str, Any]],
                errors: list[BaseException]) -> None:
    try:
        while len(into) < expected:
            inbox = client.read(timeout=20, message_limit=64)
            if not inbox:
                raise AssertionError(f"no message for 20 s after {len(into)} of {expected}")
            into.extend(inbox["ch"])
    except BaseException as error:  # surfaced by the test thread
        errors.append(error)


def check(received: list[dict[str, Any]]) -> None:
    ids = [m["id"] for m in received]
    assert ids == list(range(1, TOTAL + 1)), "every message once, in id order"
    # Each producer's own messages arrive in the order it wrote them.
    for p in range(PRODUCERS):
        mine = [int(m["data"].split(":")[1]) for m in received if m["src"] == f"producer-{p}"]
        assert mine == list(range(PER_PRODUCER))


@pytest.mark.parametrize("backend_name", ["fakeredis", "redis", "cluster"])
def test_threads(backend_name: str, request: pytest.FixtureRequest) -> None:
    backend = request.getfixturevalue(
        {"fakeredis": "fake_redis", "redis": "real_redis", "cluster": "cluster_redis"}[backend_name]
    )
    consumers = [rivulet.Client(redis=backend, client_id=f"consumer-{i}", channel_ids="ch")
                 for i in range(CONSUMERS)]
    producers = [rivulet.Client(redis=backend, client_id=f"producer-{p}", channel_ids="ch")
                 for p in range(PRODUCERS)]
    received: list[list[dict[str, Any]]] = [[] for _ in consumers]
    errors: list[BaseException] = []

    def produce(p: int) -> None:
        try:
            sent = 0
            while sent < PER_PRODUCER:
                size = 1 + (sent + p) % 7  # batches of mixed sizes
                batch = [f"{p}:{i}" for i in range(sent, min(sent + size, PER_PRODUCER))]
                ids = producers[p].write("ch", batch)
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
        check(r)
    # Once the producers (subscribed, never reading) leave, everything has
    # been read by every remaining subscriber, so retention deletes it all.
    for producer in producers:
        producer.unsubscribe("ch")
    assert rivulet.Admin(backend).count("ch") == 0


def test_producer_processes(redis_server: RedisServer, real_redis: Any) -> None:
    consumer = rivulet.Client(redis=real_redis, client_id="consumer", channel_ids="ch")
    for p in range(PRODUCERS):
        rivulet.Client(redis=real_redis, client_id=f"producer-{p}", channel_ids="ch")
    code = (
        "import sys, rivulet\n"
        "c = rivulet.connect(sys.argv[1], client_id=sys.argv[2])\n"
        "p = sys.argv[2].split('-')[1]\n"
        f"for i in range({PER_PRODUCER}):\n"
        "    c.write('ch', f'{p}:{i}')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, redis_server.url, f"producer-{p}"])
             for p in range(PRODUCERS)]
    received: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    consume_all(consumer, TOTAL, received, errors)
    assert [proc.wait(60) for proc in procs] == [0] * PRODUCERS
    assert not errors, errors
    check(received)
