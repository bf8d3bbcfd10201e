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
    """``ops`` operations (messages) done in ``seconds``."""

    ops: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else math.inf


def timed(work: Callable[[], int]) -> Throughput:
    """Run ``work`` (which returns how many operations it did) and time it."""
    start = time.perf_counter()
    ops = work()
    return Throughput(ops, time.perf_counter() - start)


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


def repeat(times: int, work: Callable[[], T]) -> tuple[list[float], T]:
    """Time ``work`` ``times`` times (at least once); each duration (s), last result."""
    durations: list[float] = []
    while True:
        gc.collect()
        start = time.perf_counter()
        result = work()
        durations.append(time.perf_counter() - start)
        if len(durations) >= times:
            return durations, result
