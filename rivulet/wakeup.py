"""Wake-ups for blocking reads: a pub/sub subscription to each channel's
``rvl:wake:{C}``, which every write publishes to.

The read loop subscribes *before* it looks for unread messages, so a write
landing between the look and the wait still wakes the wait. A dropped link
ends the wait at once: pub/sub forgets what was published while it was down,
so the caller re-subscribes and looks again.
"""

from __future__ import annotations

import time
from typing import Any

import redis.exceptions as rex

from . import keys
from .codec import text

#: A wait this long with no wake-up ends anyway, and the caller looks again:
#: cheap insurance against a link that died without telling us.
HEARTBEAT_S = 30.0
#: How long to wait for the server to confirm a SUBSCRIBE.
CONFIRM_S = 5.0


class Wakeup:
    """One client's pub/sub connection for wake-ups."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._pubsub: Any = None
        self._watching: set[str] = set()

    def watch(self, channels: list[str]) -> None:
        """Be subscribed, confirmed by the server, to the wake-ups of ``channels``."""
        wanted = {keys.wake_channel(c) for c in channels}
        try:
            if self._pubsub is None:
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
                self._watching = set()
            new = wanted - self._watching
            old = self._watching - wanted
            if old:
                self._pubsub.unsubscribe(*old)
            if new:
                self._pubsub.subscribe(*new)
                self._confirm(new)
            self._watching = wanted
        except Exception:
            self.close()
            raise

    def _confirm(self, pending: set[str]) -> None:
        # subscribe() returns before the server has it; only the confirmation
        # guarantees that a later PUBLISH reaches us.
        deadline = time.monotonic() + CONFIRM_S
        pending = set(pending)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise rex.TimeoutError("Redis did not confirm the wake-up subscription")
            reply = self._pubsub.get_message(timeout=left)
            if reply and text(reply["type"]) == "subscribe":
                pending.discard(text(reply["channel"]))

    def wait(self, timeout: float | None) -> None:
        """Return when a wake-up arrives, ``timeout`` seconds pass (None: no
        limit) or the link drops."""
        if self._pubsub is None:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = HEARTBEAT_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return
            try:
                reply = self._pubsub.get_message(timeout=min(left, HEARTBEAT_S))
                if reply is None and deadline is None:
                    return  # heartbeat: let the caller look again
                if reply is not None and text(reply["type"]) == "message":
                    # Coalesce a burst of wake-ups into one look.
                    while self._pubsub.get_message(timeout=0) is not None:
                        pass
                    return
            except (rex.ConnectionError, rex.TimeoutError, OSError):
                self.close()
                return

    def close(self) -> None:
        if self._pubsub is not None:
            try:
                self._pubsub.close()
            except (rex.RedisError, OSError):
                pass
            self._pubsub = None
        self._watching = set()
