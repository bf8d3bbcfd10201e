"""``--demo``: channels under ``demo/`` with producers and consumers, one slow,
so the dashboard has lag to show within seconds, and a ``demo/status ⚑``
channel with one consumer of each status kind (SPEC section 8): with the
dashboard's Admin judging over ``DEMO_WINDOW_S`` and ``DEMO_STOP_AFTER_S``
every status shows within a minute.

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
from rivulet import keys
from rivulet.exceptions import RivuletError

log = logging.getLogger("rivulet.dashboard.demo")

SENSORS = "demo/sensors #1"
LOGS = "demo/logs 100%"
ORDERS = "demo/orders <eu>?"
WEATHER = "demo/météo ✓"
STATUS = "demo/status ⚑"
#: Nothing writes here: a planted stale index stays beyond its head.
QUIET = "demo/quiet archive"
CHANNELS = (SENSORS, LOGS, ORDERS, WEATHER, STATUS, QUIET)

#: The status window and stop time the demo is paced for: pass them to the
#: dashboard's Admin (Admin(window=..., stop_after=...)) to see every status
#: within a minute; the defaults (120 s, 60 s) show them within three.
DEMO_WINDOW_S = 20.0
DEMO_STOP_AFTER_S = 15.0
#: History interval of the demo channels (the default is 10 s).
DEMO_HISTORY_INTERVAL_S = 1.0
#: The status channel's feed: this many messages every STATUS_EVERY_S.
STATUS_BATCH, STATUS_EVERY_S = 5, 0.5

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
#: Subscribed but never reads: shows as "stopped" once past stop_after.
STALLED_CONSUMER = ("demo/stalled auditor", (LOGS,))
#: One consumer per status on STATUS, each reading this many per tick
#: (the feed writes STATUS_BATCH): catching up, falling behind.
CATCHING_UP = ("demo catching-up replayer", 3 * STATUS_BATCH)
FALLING_BEHIND = ("demo lagging indexer", 3)
#: Reads without committing: stuck on a poison message ("stalled").
STALLED = "demo poison-stuck worker"
#: Read once at start, then nothing: "stopped".
STOPPED = "demo crashed consumer"
#: Subscribes afresh every so often: "behind" (not a window of history yet).
NEWCOMER = "demo newcomer"
#: A stale index planted beyond QUIET's head: "beyond head".
BEYOND = "demo restored replica"
#: Backlog the replayer starts behind: at 20 messages/s net, five minutes of
#: "catching up", longer than the default 120 s window.
BACKLOG = 6000


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
        self._spawn("demo status feed", self._status_feed)
        for client_id, per_tick in (CATCHING_UP, FALLING_BEHIND):
            self._spawn(f"demo consumer {client_id}", self._consume_at, client_id, per_tick)
        self._spawn("demo stalled worker", self._consume_stuck)
        self._spawn("demo newcomer", self._consume_new)

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
            self._setup_status(admin)
        finally:
            admin.close()

    def _setup_status(self, admin: rivulet.Admin) -> None:
        """The status channel: a backlog for the replayer, a consumer that
        reads once and dies, and a quiet channel with a stale index."""
        with rivulet.connect(self.redis_url, client_id="demo status feed") as feed:
            feed.subscribe([STATUS, QUIET], "current")
            for client_id in (CATCHING_UP[0], FALLING_BEHIND[0], STALLED, STOPPED):
                with rivulet.connect(self.redis_url, client_id=client_id) as client:
                    client.subscribe(STATUS, "current")
            admin.set_retention(STATUS, max_messages=2 * BACKLOG)
            for channel in CHANNELS:
                admin.set_history(channel, interval=DEMO_HISTORY_INTERVAL_S)
            feed.write(STATUS, [f"backlog {i}" for i in range(BACKLOG)])
            with rivulet.connect(self.redis_url, client_id=CATCHING_UP[0]) as replayer:
                replayer.subscribe(STATUS, "earliest")
            with rivulet.connect(self.redis_url, client_id=STOPPED) as crashed:
                crashed.read(timeout=0, message_limit=1)
            head = feed.write(QUIET, "the only message")[-1]
            feed.read(timeout=0)
        # As a restored backup or a recreated channel leaves it; nothing
        # writes to QUIET, so no write moves it down to the head.
        admin.redis.zadd(keys.channel_key(QUIET), {BEYOND: head + 10})

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

    def _status_feed(self) -> None:
        with rivulet.connect(self.redis_url, client_id="demo status feed") as client:
            client.subscribe(STATUS, "current")
            seq = 0
            while not self._stop.wait(STATUS_EVERY_S):
                seq += 1
                client.write(STATUS, [f"tick {seq}.{i}" for i in range(STATUS_BATCH)])
                client.read(timeout=0, message_limit=1000)  # caught up

    def _consume_at(self, client_id: str, per_tick: int) -> None:
        """Read ``per_tick`` messages per feed tick: faster than the feed
        catches up (then starts over from the oldest), slower falls behind."""
        with rivulet.connect(self.redis_url, client_id=client_id) as client:
            client.subscribe(STATUS, "current")
            while not self._stop.wait(STATUS_EVERY_S):
                if not client.read(timeout=0, message_limit=per_tick):
                    client.subscribe(STATUS, "earliest")

    def _consume_stuck(self) -> None:
        with rivulet.connect(self.redis_url, client_id=STALLED, auto_commit=False) as client:
            client.subscribe(STATUS, "current")
            while not self._stop.wait(1.0):
                client.read(timeout=0, message_limit=1)  # the same message, never committed

    def _consume_new(self) -> None:
        """Subscribe afresh, read a little, leave before a window has passed."""
        with rivulet.connect(self.redis_url, client_id=NEWCOMER) as client:
            while not self._stop.is_set():
                client.subscribe(STATUS, "latest")
                for _ in range(int(DEMO_WINDOW_S * 0.75)):
                    if self._stop.wait(1.0):
                        break
                    client.read(timeout=0, message_limit=1)
                client.unsubscribe(STATUS)
