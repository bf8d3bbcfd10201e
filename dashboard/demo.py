"""``--demo``: channels under ``demo/`` with producers and consumers, one slow,
so the dashboard has lag to show within seconds.

Every producer and consumer is an ordinary :func:`rivulet.connect` client in its
own thread. The names are deliberately awkward (``#``, ``%``, ``<``, ``?``,
spaces, non-ASCII): the demo doubles as a check that they work end to end.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import rivulet
from rivulet.exceptions import RivuletError

log = logging.getLogger("rivulet.dashboard.demo")

SENSORS = "demo/sensors #1"
LOGS = "demo/logs 100%"
ORDERS = "demo/orders <eu>?"
WEATHER = "demo/météo ✓"
CHANNELS = (SENSORS, LOGS, ORDERS, WEATHER)

#: The slow consumer drains everything it has missed this often (seconds), so
#: its lag climbs and falls instead of only growing.
SLOW_CATCH_UP_S = 45.0
#: How long a worker waits after a Redis error before trying again.
ERROR_PAUSE_S = 2.0


@dataclass(frozen=True)
class Producer:
    client_id: str
    channel: str
    every_s: float
    make: Callable[[int], list[str]]


def _sensor(seq: int) -> list[str]:
    celsius = round(20 + 3 * random.random(), 2)  # noqa: S311 - demo data
    return [json.dumps({"sensor": "t1", "seq": seq, "celsius": celsius, "ok": True})]


def _log_lines(seq: int) -> list[str]:
    levels = ("INFO", "INFO", "INFO", "WARN", "ERROR")
    return [
        f"{random.choice(levels)} worker-{seq % 3} request {seq}.{i} done in "  # noqa: S311
        f"{random.randint(3, 900)} ms (100% of budget used: <none>)"  # noqa: S311
        for i in range(random.randint(1, 4))  # noqa: S311
    ]


def _order(seq: int) -> list[str]:
    order = {
        "order": f"EU-{seq:05d}",
        "items": [{"sku": "tea/green", "qty": 1 + seq % 3}],
        "note": '<b>fragile</b> & "urgent"',
    }
    return [json.dumps(order, ensure_ascii=False)]


def _weather(seq: int) -> list[str]:
    return [f"Relevé n°{seq}: {round(12 + 6 * random.random(), 1)} °C, vent ↗"]  # noqa: S311


PRODUCERS = (
    Producer("demo sensor feed", SENSORS, 0.4, _sensor),
    Producer("demo log shipper", LOGS, 0.7, _log_lines),
    Producer("demo shop", ORDERS, 2.0, _order),
    Producer("demo station météo", WEATHER, 5.0, _weather),
)

#: (client id, channels) of consumers that keep up.
FAST_CONSUMERS = (
    ("demo dashboard widget", (SENSORS, WEATHER)),
    ("demo log indexer", (LOGS,)),
    ("demo billing <script>", (ORDERS,)),
)
#: Reads one message a second from a channel written faster than that.
SLOW_CONSUMER = ("demo slow archiver", (SENSORS, ORDERS))
#: Subscribed but never reads: shows as "stalled".
STALLED_CONSUMER = ("demo/stalled auditor", (LOGS,))


class Demo:
    """Background producers and consumers; ``start()`` then ``stop()``."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Create the demo channels and start every worker thread."""
        self._setup()
        for producer in PRODUCERS:
            self._spawn(f"demo producer {producer.channel}", self._produce, producer)
        for client_id, channels in FAST_CONSUMERS:
            self._spawn(f"demo consumer {client_id}", self._consume_fast, client_id, channels)
        self._spawn("demo slow consumer", self._consume_slow, *SLOW_CONSUMER)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def _setup(self) -> None:
        # Subscribing creates the channels; a stalled reader and retention caps
        # give the pages something to show besides lag.
        for client_id, channels in (SLOW_CONSUMER, STALLED_CONSUMER):
            with rivulet.connect(self.redis_url, client_id=client_id) as client:
                client.subscribe(channels, "current")
        admin = rivulet.Admin(self.redis_url)
        try:
            for producer in PRODUCERS:
                with rivulet.connect(self.redis_url, client_id=producer.client_id) as client:
                    client.subscribe(producer.channel, "current")
            # The slow archiver falls further behind than this, so some of
            # what it misses is pruned unread.
            admin.set_retention(SENSORS, max_messages=40)
            admin.set_retention(LOGS, max_age=300)
            admin.set_retention(ORDERS, max_messages=1000)
        finally:
            admin.close()

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=self._guard, args=(target, *args), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guard(self, target: Callable[..., None], *args: object) -> None:
        """Run a worker until stopped; a Redis outage pauses it, never ends it."""
        while not self._stop.is_set():
            try:
                target(*args)
                return
            except RivuletError as error:
                log.warning("demo worker paused: %s", error)
                self._stop.wait(ERROR_PAUSE_S)

    def _produce(self, producer: Producer) -> None:
        with rivulet.connect(self.redis_url, client_id=producer.client_id) as client:
            client.subscribe(producer.channel, "current")
            seq = 0
            while not self._stop.wait(producer.every_s):
                seq += 1
                client.write(producer.channel, producer.make(seq))
                # A writer is a subscriber too (the library's rule): read back
                # what we wrote so the producer never shows as lagging.
                client.read(timeout=0, message_limit=1000)

    def _consume_fast(self, client_id: str, channels: tuple[str, ...]) -> None:
        with rivulet.connect(self.redis_url, client_id=client_id) as client:
            client.subscribe(channels, "current")
            while not self._stop.is_set():
                client.read(timeout=1.0)

    def _consume_slow(self, client_id: str, channels: tuple[str, ...]) -> None:
        with rivulet.connect(self.redis_url, client_id=client_id) as client:
            client.subscribe(channels, "current")
            caught_up_at = time.monotonic()
            while not self._stop.wait(1.0):
                if time.monotonic() - caught_up_at >= SLOW_CATCH_UP_S:
                    client.read(timeout=0, message_limit=10_000)
                    caught_up_at = time.monotonic()
                else:
                    client.read(timeout=0, message_limit=1)
