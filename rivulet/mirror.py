"""A client's ``rvl:index:<client>`` mirror of its indexes (SPEC section 2).

``rvl:channel:{C}`` is the authority; the mirror lives in another Cluster slot,
so no channel's script can write it. The client writes it after each call that
moved an index, before that call returns, and repairs what it finds stale.
The one exception is a blocking read woken by its doorbell: its write is
left for the client's next call (:meth:`IndexMirror.write_later`), which
carries it -- ahead of its doorbell wait, or merged into its own mirror
write -- so the wake-up pays no round trip for it. ``subscriptions`` and
``close`` send what is left first.
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
        # Written into _known by write_later, not yet sent to Redis.
        self._unsent: dict[str, int] = {}

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

        Only values that differ from what this object last saw are written
        (with any left by :meth:`write_later`); before it has seen the mirror
        (a fresh client subscribing) all are, rather than spending a round
        trip to load it first.
        """
        known = self._known
        stale = {c: i for c, i in indexes.items() if known is None or known.get(c) != i}
        if stale:
            self._send({**self._unsent, **stale})

    def write_later(self, indexes: Mapping[str, int]) -> None:
        """As :meth:`write`, but left for the client's next call to carry
        (:meth:`carry`, or merged into its next :meth:`write`)."""
        known = self._known
        stale = {c: i for c, i in indexes.items() if known is None or known.get(c) != i}
        self._unsent.update(stale)
        if known is not None:
            known.update(stale)

    def flush(self, retry: RetryPolicy | None = None) -> None:
        """Write what :meth:`write_later` left, if anything (under ``retry``,
        by default the client's)."""
        if self._unsent:
            self._send(dict(self._unsent), retry)

    def carry(self) -> tuple[list[Any], Callable[[Any], None]] | None:
        """What :meth:`write_later` left, as a command for another call to send
        ahead of its own and the callable its reply goes to; None for nothing."""
        if not self._unsent:
            return None
        sent, self._unsent = self._unsent, {}
        command: list[Any] = ["ZADD", self._key]
        for channel, index in sent.items():
            command += [index, channel]
        return command, functools.partial(self._carried, sent)

    def _carried(self, sent: Mapping[str, int], reply: Any) -> None:
        if isinstance(reply, Exception):
            # Refused (a full Redis) or lost: left for the next call again,
            # unless a newer value was left meanwhile.
            log.warning("index mirror of client %r not updated: %s", self._client_id, reply)
            self._unsent = {**sent, **self._unsent}

    def _send(self, stale: dict[str, int], retry: RetryPolicy | None = None) -> None:
        known = self._known
        try:
            (retry or self._retry).run(lambda: self._redis.zadd(self._key, stale),
                                       "update index")
        except BackendError as error:
            if not out_of_memory(error):
                raise
            # A full Redis (maxmemory) refuses the mirror, not the read or
            # commit that moved the authority: draining must go on. Left
            # stale here, the mirror is written again by the next call.
            log.warning("index mirror of client %r not updated: %s", self._client_id, error)
            return
        self._unsent = {}
        if known is not None:
            known.update(stale)

    def forget(self, gone: list[str]) -> None:
        """Drop subscriptions Redis no longer has (an operator removed them, or
        the channel was deleted) from the mirror and from this object."""
        if not gone:
            return
        self._retry.run(lambda: self._redis.zrem(self._key, *gone), "drop subscriptions")
        self.drop(gone)

    def drop(self, channels: list[str]) -> None:
        """Forget ``channels`` here only (the caller removed them from Redis)."""
        for channel in channels:
            self._unsent.pop(channel, None)  # or a later carry would add it back
        if self._known is not None:
            for channel in channels:
                self._known.pop(channel, None)
