"""A client's ``rvl:index:<client>`` mirror of its indexes (SPEC section 2).

``rvl:channel:{C}`` is the authority; the mirror lives in another Cluster slot,
so no channel's script can write it. The client writes it after each call that
moved an index, before that call returns, and repairs what it finds stale.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from . import keys
from .codec import display_id, text
from .exceptions import BackendError
from .retry import RetryPolicy

log = logging.getLogger("rivulet")


def out_of_memory(error: Exception) -> bool:
    """True for Redis refusing a write under ``maxmemory`` (its OOM reply)."""
    return "maxmemory" in str(error)


class IndexMirror:
    """What one client object last wrote to (or read from) its mirror.

    ``None`` until loaded, so a resumed client learns its channels lazily, and a
    fresh one writes its first indexes without a round trip to load them.
    """

    def __init__(self, redis: Any, retry: RetryPolicy, client_id: str) -> None:
        self._redis = redis
        self._retry = retry
        self._key = keys.index_key(client_id)
        self._client_id = client_id
        self._known: dict[str, int] | None = None
        # A mirror refused again and again (a full Redis being drained) is
        # said once, then at debug level until a write gets through.
        self._refused = False

    def channels(self) -> list[str]:
        """The channels the client reads, loading the mirror the first time."""
        if self._known is None:
            rows = self._retry.run(
                lambda: self._redis.zrange(self._key, 0, -1, withscores=True),
                "load subscriptions",
            )
            # display_id: a planted inf is no reason for every read to fail.
            self._known = {text(m): display_id(float(s)) for m, s in rows}
        return list(self._known)

    def write(self, indexes: Mapping[str, int]) -> None:
        """Bring the mirror in line with the authority's indexes.

        Only values that differ from what this object last saw are written;
        before it has seen the mirror (a fresh client subscribing) all are,
        rather than spending a round trip to load it first.
        """
        known, stale = self._known, self._stale(indexes)
        if not stale:
            return
        try:
            self._retry.run(lambda: self._redis.zadd(self._key, stale), "update index")
        except BackendError as error:
            if not out_of_memory(error):
                raise
            # A full Redis (maxmemory) refuses the mirror, not the read or
            # commit that moved the authority: draining must go on. Left
            # stale here, the mirror is written again by the next call.
            self._warn(error)
            return
        self._refused = False
        if known is not None:
            known.update(stale)

    def send(self, indexes: Mapping[str, int],
             send: Callable[[list[Any], Callable[[Any], None]], None]) -> None:
        """:meth:`write` for a blocking read woken by its doorbell: the ZADD
        is sent before the read returns, by ``send`` (the doorbell's link),
        and its reply read with that link's next command, so the wake-up
        waits for no round trip. A refused or lost one leaves the mirror to
        be written again by the next call (it forgets what it sent)."""
        known, stale = self._known, self._stale(indexes)
        if not stale:
            return
        command: list[Any] = ["ZADD", self._key]
        for channel, index in stale.items():
            command += [index, channel]
        if known is not None:
            known.update(stale)
        send(command, functools.partial(self._sent, list(stale)))

    def _stale(self, indexes: Mapping[str, int]) -> dict[str, int]:
        """The indexes that differ from what this object last saw (all of
        them before it has seen the mirror)."""
        known = self._known
        return {c: i for c, i in indexes.items() if known is None or known.get(c) != i}

    def _sent(self, channels: list[str], reply: Any) -> None:
        if not isinstance(reply, Exception):
            self._refused = False
        else:
            self._warn(reply)
            if self._known is not None:
                for channel in channels:  # differs from the next index: written again
                    self._known[channel] = -2

    def _warn(self, error: Exception) -> None:
        level = logging.DEBUG if self._refused else logging.WARNING
        log.log(level, "index mirror of client %r not updated: %s%s", self._client_id, error,
                "" if self._refused else " (said once until it is written again)")
        self._refused = True

    def forget(self, gone: list[str]) -> None:
        """Drop subscriptions Redis no longer has (an operator removed them, or
        the channel was deleted) from the mirror and from this object."""
        if not gone:
            return
        self._retry.run(lambda: self._redis.zrem(self._key, *gone), "drop subscriptions")
        self.drop(gone)

    def drop(self, channels: list[str]) -> None:
        """Forget ``channels`` here only (the caller removed them from Redis)."""
        if self._known is not None:
            for channel in channels:
                self._known.pop(channel, None)
