"""Write throughput over many channels: several writer processes, each with
its own share of the channels, write batches as fast as the servers answer.

Used by ``bench/cluster.py`` to compare one server with three masters. Each
writer is its own process (spawned, so no Redis connection is inherited and
the GIL limits no one); all start on one event, and the time is the wall clock
from that event to the last writer's end.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.synchronize import Event
from typing import Any

CHANNELS = 64
WRITERS = 4
BATCH = 10  # messages per write call
START_TIMEOUT_S = 30.0


def channel_names(count: int = CHANNELS) -> list[str]:
    return [f"tp{i}" for i in range(count)]


def _writer_main(make: Any, args: tuple[Any, ...], client_id: str, channels: list[str],
                 calls: int, ready: Any, go: Event, done: Any) -> None:
    """Child process: subscribe, wait for the start, write ``calls`` batches
    round-robin over ``channels``; report the seconds it took."""
    client = make(*args, client_id, channels)
    ready.put(client_id)
    go.wait()
    began = time.perf_counter()
    batch = ["x" * 64] * BATCH
    for i in range(calls):
        client.write(channels[i % len(channels)], batch)
    done.put(time.perf_counter() - began)
    client.close()


def measure(make: Any, args: tuple[Any, ...], calls_per_writer: int,
            writers: int = WRITERS, channels: int = CHANNELS) -> dict[str, Any]:
    """Messages per second written by ``writers`` processes over ``channels``.

    ``make(*args, client_id, channel_names)`` builds a subscribed rivulet
    Client in the child; it must be a module-level function (spawned).
    """
    names = channel_names(channels)
    ctx = multiprocessing.get_context("spawn")
    ready, done, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_writer_main,
                         args=(make, args, f"tp-writer-{w}", names[w::writers],
                               calls_per_writer, ready, go, done), daemon=True)
             for w in range(writers)]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=START_TIMEOUT_S)
        began = time.perf_counter()
        go.set()
        each = [done.get(timeout=600) for _ in procs]
        wall = time.perf_counter() - began
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
    messages = writers * calls_per_writer * BATCH
    return {"writers": writers, "channels": channels, "batch": BATCH,
            "messages": messages, "seconds": wall,
            "messages_per_s": messages / wall,
            "calls_per_s": writers * calls_per_writer / wall,
            "slowest_writer_s": max(each)}
