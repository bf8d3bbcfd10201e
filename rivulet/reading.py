"""The reading half of :class:`rivulet.Client`: read, commit, listen, and the
read-script calls and replies behind them (a mixin, so ``Client`` stays the
one object users hold)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import redis.exceptions as rex

from . import keys, scripts
from .codec import MAX_ID, Message, decode_messages, ids_of, text
from .exceptions import NotSubscribedError, translate
from .mirror import IndexMirror
from .names import validate_name
from .policy import checked_limit, checked_timeout
from .retry import RetryPolicy
from .wakeup import Read, Wakeup

log = logging.getLogger("rivulet")

Inbox = dict[str, list[Message]]


class Reading:
    """Reads, commits and listens for a client; the state it needs is set by
    ``Client.__init__``."""

    redis: Any
    retry: RetryPolicy
    client_id: str
    auto_commit: bool
    _mirror: IndexMirror
    _wakeup: Wakeup
    # The reads of the last read() when it drained every channel.
    _primed: list[Read] | None
    # The read calls last built, and for which (channels, limit, commit).
    _reads: tuple[tuple[list[str], int, str], list[Read]] | None

    def read(self, timeout: float = 0, message_limit: int = 512) -> Inbox:
        """Unread messages by channel, each list oldest first.

        ``timeout`` is in seconds: ``0`` returns at once, ``> 0`` waits up to
        that long for a message, ``< 0`` waits until one arrives. Waiting is
        woken by the write itself (its channel's doorbell on a standalone
        Redis, pub/sub on a cluster), not by polling.

        With ``auto_commit`` (the default) the index moves as the messages are
        fetched: at most once. A read whose reply is lost with a dropped
        connection has already moved it; use ``auto_commit=False`` and
        :meth:`commit` for at-least-once processing.

        :raises NotSubscribedError: ``timeout < 0`` with no subscriptions.
        """
        wait_s = checked_timeout(timeout)
        limit = checked_limit(message_limit)
        deadline = None if wait_s < 0 else time.monotonic() + wait_s
        while True:
            channels = self._mirror.channels()
            if not channels:
                # None to begin with, or an operator removed the last one while
                # we waited: no write can wake us now.
                if deadline is None:
                    raise NotSubscribedError("read(timeout<0) with no subscriptions would "
                                             "never return")
                time.sleep(max(0.0, deadline - time.monotonic()))
                return {}
            if wait_s == 0:
                inbox = self._fetch(channels, limit)
                return inbox
            # Subscribing to wake-ups before looking means a write that lands
            # between the look and the wait still wakes the wait.
            if not self._wakeup.on_doorbell():
                self.retry.run(functools.partial(self._wakeup.watch, channels), "wake-ups")
            elif self._primed is self._reads_of(channels, limit):
                # The last read took everything there was and saw the bells as
                # it did: anything written since has rung them. The wait,
                # whose reads are the look, then returns at once.
                self._primed = None
                self._wakeup.wait(None if deadline is None else deadline - time.monotonic())
                continue
            inbox = self._fetch(channels, limit)
            if inbox:
                return inbox
            if self._mirror.channels() != channels:
                continue  # an operator removed a subscription: watch the rest
            self._primed = None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return {}
            self._wakeup.wait(left)

    def commit(self, inbox: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, int]:
        """Mark messages processed (``auto_commit=False``); returns new indexes.

        Each channel's index moves to the highest id in its list, never back.
        A channel this client no longer reads (unsubscribed, or removed by an
        operator) has nothing to commit: it is left out of the result, and the
        others are committed all the same. So is a broken channel (a key of
        the wrong type), with a warning on the ``rivulet`` logger.
        """
        self._primed = None
        upto: dict[str, int] = {}
        for channel, messages in inbox.items():
            validate_name(channel)
            ids = [int(m["id"]) for m in messages]
            if ids:
                # Clamped to the ids rivulet issues: the script refuses others.
                upto[channel] = min(max(0, max(ids)), MAX_ID)
        if not upto:
            return {}
        batch = scripts.Batch()
        for channel, last in upto.items():
            batch.script(scripts.COMMIT, keys.reader_keys(channel), [self.client_id, last])
        results = batch.run(self.redis, self.retry, "commit", strict=False)
        indexes: dict[str, int] = {}
        gone: list[str] = []
        for channel, result in zip(upto, results):
            if isinstance(result, Exception):
                _warn_broken(channel, "commit", result)
                continue
            state, index = result
            if int(state):
                indexes[channel] = int(index)
            else:
                gone.append(channel)
        self._mirror.forget(gone)
        self._mirror.write(indexes)
        return indexes

    def listen(
        self, timeout: float = -1, message_limit: int = 512
    ) -> Iterator[tuple[str, Message]]:
        """Yield ``(channel, message)`` pairs from blocking reads.

        With ``timeout >= 0`` the generator ends after a read that returns
        nothing. With ``auto_commit=False`` a batch is committed once its last
        message was yielded and the next is asked for, so a crash mid-batch
        gets the batch again.
        """
        checked_timeout(timeout)
        done: Inbox | None = None
        while True:
            if done is not None:
                self.commit(done)
                done = None
            inbox = self.read(timeout, message_limit)
            if not inbox:
                if timeout >= 0:
                    return
                continue
            for channel, messages in inbox.items():
                for message in messages:
                    yield channel, message
            if not self.auto_commit:
                done = inbox

    # -- internals ---------------------------------------------------------

    def _fetch(self, channels: list[str], limit: int) -> Inbox:
        self._primed = None
        reads = self._reads_of(channels, limit)
        # Woken on the doorbell, the reads already ran behind the wait.
        results = self._wakeup.replies(reads)
        woken = results is not None
        if results is None:
            # One broken channel costs only itself: its error is reported and
            # the others are delivered (its script failed before writing).
            results = self._read_batch(reads)
        else:
            unrun = [i for i, r in enumerate(results) if isinstance(r, rex.NoScriptError)]
            results = [translate(r) if isinstance(r, Exception) else r for r in results]
            if unrun:  # a flushed script cache: these never ran
                for i, reply in zip(unrun, self._read_batch([reads[i] for i in unrun])):
                    results[i] = reply
        inbox: Inbox = {}
        indexes: dict[str, int] = {}
        gone: list[str] = []
        bells: list[tuple[str, str]] = []
        broken_bell = False
        # Every channel read to its end and committed: the next blocking read
        # may wait at once, on the bells seen here.
        drained = self.auto_commit
        for channel, reply in zip(channels, results):
            if isinstance(reply, Exception):
                _warn_broken(channel, "read", reply)
                drained = False
                continue
            if not int(reply[0]):
                gone.append(channel)
                continue
            indexes[channel] = int(reply[1])
            if int(reply[2]):
                log.warning("channel %r: skipped %d member(s) whose score is no message id "
                            "(written around the library?); see Admin.messages",
                            channel, int(reply[2]))
            bell = text(reply[4])
            if not bell:
                broken_bell = True
            bells.append((keys.bell_key(channel), bell))
            count = int(reply[3])
            drained = drained and count < limit
            messages = decode_messages(reply[5:5 + count], ids_of(reply[5 + count:]), channel)
            if messages:
                inbox[channel] = messages
        # A broken bell, or none at all (every channel broken), puts the wait
        # on pub/sub.
        ringable = bool(bells) and not broken_bell
        self._wakeup.looked(bells if ringable else None, reads)
        if drained and ringable and not gone:
            self._primed = reads
        self._mirror.forget(gone)
        link = self._wakeup.doorbell
        if woken and link is not None:
            # Sent before returning (SPEC section 2), its reply read with the
            # doorbell's next command: the wake-up waits for no round trip.
            self._mirror.send(indexes, link.send)
        else:
            self._mirror.write(indexes)
        return inbox

    def _reads_of(self, channels: list[str], limit: int) -> list[Read]:
        """The read-script calls for ``channels``, built once per set of
        channels: a blocking read asks for the same ones on every wake-up."""
        commit = "1" if self.auto_commit else "0"
        cached = self._reads
        if cached is not None and cached[0] == (channels, limit, commit):
            return cached[1]
        reads: list[Read] = [
            (scripts.READ, [*keys.reader_keys(c), keys.bell_key(c)],
             [self.client_id, limit, commit]) for c in channels]
        self._reads = ((list(channels), limit, commit), reads)
        return reads

    def _read_batch(self, reads: list[Read]) -> list[Any]:
        batch = scripts.Batch()
        for script, read_keys, args in reads:
            batch.script(script, read_keys, args)
        return batch.run(self.redis, self.retry, "read", strict=False)


def _warn_broken(channel: str, what: str, error: Exception) -> None:
    log.warning("channel %r could not %s and was skipped: %s", channel, what, error)
