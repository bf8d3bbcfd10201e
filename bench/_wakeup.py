"""Blocking-read wake-up latency: a reader in its own process, a writer stamping time.

The reader blocks (rivulet ``read(timeout=-1)`` or ``XREAD BLOCK 0``) and sends
``time.perf_counter()`` down a pipe the moment its read returns; the writer takes
``perf_counter()`` just before its write call.  ``perf_counter`` is CLOCK_MONOTONIC on
Linux, one clock for every process, so the difference is the write-to-wake-up latency
(write round trip + server hand-off + the reader's own round trips + parsing).
A separate process keeps the two off one GIL, as producers and consumers are deployed.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

STOP = "stop"
READY_TIMEOUT_S = 20.0


def _rivulet_reader(url: str, channel: str, client_id: str) -> Callable[[], list[str]]:
    import rivulet

    client = rivulet.connect(url, client_id=client_id)
    client.subscribe(channel, index_policy="latest")

    def wait() -> list[str]:
        inbox = client.read(timeout=-1)
        return [m["data"] for m in inbox.get(channel, [])]

    return wait


def _streams_reader(url: str, key: str, _client_id: str) -> Callable[[], list[str]]:
    import redis

    from bench._baselines import stream_entries

    client = redis.Redis.from_url(url, decode_responses=True)
    last_id = "0-0"  # the stream is fresh: nothing is missed between two XREADs

    def wait() -> list[str]:
        nonlocal last_id
        entries = stream_entries(client.xread({key: last_id}, block=0), key)
        last_id = entries[-1][0]
        return [str(fields["data"]) for _id, fields in entries]

    return wait


READERS = {"rivulet": _rivulet_reader, "streams": _streams_reader}


def reader_main(kind: str, url: str, key: str, client_id: str, pipe: Connection) -> None:
    """Child process: block, stamp each wake-up, until a message says stop."""
    wait = READERS[kind](url, key, client_id)
    pipe.send("ready")
    while True:
        data = wait()
        woke = time.perf_counter()
        if STOP in data:
            return
        pipe.send((woke, len(data)))


class Reader:
    """One blocked reader process and the writer's end of its pipe."""

    def __init__(self, kind: str, url: str, key: str, client_id: str) -> None:
        ctx = multiprocessing.get_context("spawn")  # no forked redis connections
        self._pipe, child_end = ctx.Pipe()
        self._proc: BaseProcess = ctx.Process(
            target=reader_main, args=(kind, url, key, client_id, child_end), daemon=True
        )
        self._proc.start()
        if not self._pipe.poll(READY_TIMEOUT_S) or self._pipe.recv() != "ready":
            self.stop()
            raise RuntimeError(f"{kind} reader did not start")

    def measure(
        self, write: Callable[[str], object], samples: int, gap_s: tuple[float, float]
    ) -> list[float]:
        """``samples`` latencies (s): write one message, wait for the reader's stamp."""
        latencies: list[float] = []
        for i in range(samples):
            # Let the reader re-enter its blocking call, at an irregular pace.
            time.sleep(random.uniform(*gap_s))  # jitter, not security
            start = time.perf_counter()
            write(f"wake {i}")
            if not self._pipe.poll(10):
                raise RuntimeError("reader did not wake within 10 s")
            woke, count = self._pipe.recv()
            if count != 1:
                raise RuntimeError(f"reader woke with {count} messages, expected 1")
            latencies.append(woke - start)
        return latencies

    def stop(self, write: Callable[[str], object] | None = None) -> None:
        if write is not None and self._proc.is_alive():
            write(STOP)
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
