"""Interleaved rounds, throughput and latency statistics.

Two sides of a comparison run in alternating rounds (A B, B A, A B, ...) so that
drift on a shared machine (other processes, CPU frequency, Redis memory growth) hits
both; ratios are taken per pair of rounds and summarised by their median and range.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Throughput:
    """``ops`` operations (messages) done in ``seconds``, and the CPU they took.

    ``client_cpu_s`` is this process's CPU time (user + system, so socket calls
    count); ``server_cpu_s`` is redis-server's, when the caller measured it.
    """

    ops: int
    seconds: float
    client_cpu_s: float = math.nan
    server_cpu_s: float = math.nan

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else math.inf


def timed(work: Callable[[], int], server_cpu: Callable[[], float] | None = None) -> Throughput:
    """Run ``work`` (which returns how many operations it did) and time it.

    ``server_cpu`` reads the server's CPU seconds; it is called outside the timed span.
    """
    server_start = server_cpu() if server_cpu else math.nan
    cpu_start = time.process_time()
    start = time.perf_counter()
    ops = work()
    seconds = time.perf_counter() - start
    client_cpu = time.process_time() - cpu_start
    server = server_cpu() - server_start if server_cpu else math.nan
    return Throughput(ops, seconds, client_cpu, server)


def per_op_us(results: Sequence[Throughput]) -> dict[str, float]:
    """Median wall, client CPU and server CPU per operation, in microseconds."""
    return {
        "wall": statistics.median(r.seconds / r.ops for r in results) * 1e6,
        "client_cpu": statistics.median(r.client_cpu_s / r.ops for r in results) * 1e6,
        "server_cpu": statistics.median(r.server_cpu_s / r.ops for r in results) * 1e6,
    }


def interleave(
    a: Callable[[], T], b: Callable[[], T], rounds: int, warmup: int = 1
) -> tuple[list[T], list[T]]:
    """Run ``a`` and ``b`` alternately, ABBA order, after ``warmup`` untimed pairs."""
    for _ in range(warmup):
        a()
        b()
    results_a: list[T] = []
    results_b: list[T] = []
    for i in range(rounds):
        gc.collect()  # a collection triggered by one side's garbage must not bill the other
        if i % 2 == 0:
            results_a.append(a())
            results_b.append(b())
        else:
            results_b.append(b())
            results_a.append(a())
    return results_a, results_b


@dataclass(frozen=True)
class Spread:
    """Median of some per-round values and their range."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100
    lower = math.floor(pos)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (pos - lower)


def rate_spread(results: Sequence[Throughput]) -> Spread:
    return Spread.of([r.rate for r in results])


def ratio_spread(a: Sequence[Throughput], b: Sequence[Throughput]) -> Spread:
    """a/b throughput ratio per interleaved pair of rounds."""
    return Spread.of([ra.rate / rb.rate for ra, rb in zip(a, b, strict=True)])


def repeat(times: int, work: Callable[[], T]) -> tuple[list[Throughput], T]:
    """Run ``work`` ``times`` times (at least once), each as one timed operation.

    Returns each run's wall and client CPU time, and the last result.  The garbage
    collection between runs is outside the timed span.
    """
    runs: list[Throughput] = []
    while True:
        gc.collect()
        cpu_start = time.process_time()
        start = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - start
        runs.append(Throughput(1, seconds, time.process_time() - cpu_start))
        if len(runs) >= times:
            return runs, result
