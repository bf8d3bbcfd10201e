"""Concurrent identical requests share one computation (a "single flight").

``/metrics`` over 2,000 channels costs hundreds of milliseconds of CPU; fifty
scrapers or browsers asking at once made fifty copies of the same work, and
everything else queued behind them. A request that arrives while the same
computation is running waits for it and gets its result; one that arrives
after it finished starts a new one, so nothing is ever older than the request
that asked before it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Flight(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.waiters = 0


class SingleFlight(Generic[T]):
    """Runs ``compute`` once for all callers that ask with the same key at once."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._flights: dict[Hashable, _Flight[T]] = {}

    def run(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
            else:
                flight.waiters += 1
                self._lock.notify_all()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.result  # type: ignore[return-value]
        try:
            flight.result = compute()
        except BaseException as error:
            flight.error = error
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return flight.result

    def wait_for_waiters(self, key: Hashable, count: int, timeout: float) -> bool:
        """Block until ``count`` callers wait on ``key``'s running computation
        (lets a test line requests up without sleeping)."""
        with self._lock:
            return self._lock.wait_for(
                lambda: key in self._flights and self._flights[key].waiters >= count, timeout
            )
