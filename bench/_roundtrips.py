"""Counting Redis round trips from the client side.

redis-py writes a single command, or a whole pipeline, with one
``Connection.send_packed_command`` call and then waits for the replies, so the
number of those calls on a connection is the number of round trips it made.  The
commands inside them are counted too (``send_command`` sends one, ``pack_commands``
packs a pipeline's), so a table can show "1 round trip, 51 commands".  Nothing is
sampled or inferred on the server; the count is exact for redis-py's
synchronous client (connection set-up, e.g. ``HELLO``, counts as well, which is why
callers warm a connection up before they count).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.connection import Connection


@dataclass
class Trips:
    """Round trips and the commands they carried, so far."""

    round_trips: int = 0
    commands: int = 0

    @contextlib.contextmanager
    def measure(self) -> Iterator[Trips]:
        """Count what happens inside the block; the yielded Trips fills in on exit."""
        start_trips, start_commands = self.round_trips, self.commands
        delta = Trips()
        try:
            yield delta
        finally:
            delta.round_trips = self.round_trips - start_trips
            delta.commands = self.commands - start_commands


def counting_redis(url: str, **kwargs: Any) -> tuple[redis.Redis, Trips]:
    """A redis-py client whose connections count their round trips into one Trips."""
    trips = Trips()

    class CountingConnection(Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            trips.round_trips += 1
            super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]

        def send_command(self, *args: Any, **kwargs: Any) -> None:
            trips.commands += 1
            super().send_command(*args, **kwargs)  # type: ignore[no-untyped-call]

        def pack_commands(self, commands: Sequence[Sequence[Any]]) -> list[bytes | memoryview]:
            trips.commands += len(commands)
            packed: list[bytes | memoryview] = super().pack_commands(commands)  # type: ignore[no-untyped-call]
            return packed

    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection, **kwargs)
    return redis.Redis(connection_pool=pool), trips
