"""The coalescing Producer against threads writing on their own (issue 9).

Two comparisons, each with ``threads`` threads writing to one channel (or stream):

- fire and forget: every thread calls ``Producer.send`` for all its messages, then
  ``flush()``; the baseline is the same threads calling ``XADD`` through one shared
  redis-py client (its pool gives each thread a connection);
- waiting: every thread calls ``send(...).result()`` per message, so nothing is in
  flight but what the threads wait on; the baseline is the same threads each calling
  ``Client.write`` on a client of its own (a ``Client`` serves one thread at a time).

The clock runs from the threads' start to the last one done, ``flush()`` included.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from bench import _timing

if TYPE_CHECKING:
    from bench._baselines import Streams
    from bench.core import Bench


def in_threads(threads: int, per_thread: int, work: Callable[[int], None]) -> int:
    """Run ``work(thread_number)`` on ``threads`` threads released together;
    re-raises the first failure so a broken round is never timed as a fast one."""
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(t: int) -> None:
        start.wait()
        try:
            work(t)
        except BaseException as error:  # reported after the join
            errors.append(error)

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return threads * per_thread


def fire_and_forget(b: Bench, threads: int, per_thread: int) -> tuple[
        list[_timing.Throughput], list[_timing.Throughput]]:
    import rivulet

    def ours(channel: str) -> int:
        producer = rivulet.Producer(b.client)

        def send_all(_: int) -> None:
            for _i in range(per_thread):
                producer.send(channel, b.payload)
            producer.flush()

        try:
            done = in_threads(threads, per_thread, send_all)
        finally:
            producer.close()
        return done

    def theirs(stream: Streams) -> int:
        def xadd_all(_: int) -> None:
            for _i in range(per_thread):
                stream.xadd(b.payload)

        return in_threads(threads, per_thread, xadd_all)

    return _timing.interleave(lambda: b.on_channel(ours), lambda: b.on_stream(theirs),
                              b.cfg.rounds)


def waiting(b: Bench, threads: int, per_thread: int) -> tuple[
        list[_timing.Throughput], list[_timing.Throughput]]:
    import rivulet

    def ours(channel: str) -> int:
        producer = rivulet.Producer(b.client)

        def send_each(_: int) -> None:
            for _i in range(per_thread):
                producer.send(channel, b.payload).result()

        try:
            done = in_threads(threads, per_thread, send_each)
        finally:
            producer.close()
        return done

    def theirs() -> _timing.Throughput:
        channel = b.fresh_channel()
        ids = [f"{b.src}-writer-{t}" for t in range(threads)]
        clients = [rivulet.Client(redis=b.r, client_id=i, channel_ids=channel) for i in ids]

        def write_each(t: int) -> None:
            for _i in range(per_thread):
                clients[t].write(channel, b.payload)

        try:
            return _timing.timed(lambda: in_threads(threads, per_thread, write_each),
                                 b.server_cpu)
        finally:
            b.leave(channel, *ids)

    return _timing.interleave(lambda: b.on_channel(ours), theirs, b.cfg.rounds)
