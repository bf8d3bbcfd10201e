"""Producers and consumers: connect, subscribe, write, read, commit, listen."""

from __future__ import annotations

import functools
import itertools
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import redis.exceptions as rex

from . import fastpath, forks, keys, scripts
from .codec import (
    MAX_ID,
    Message,
    decode_messages,
    encode_batch,
    ids_of,
    json_literal,
    text,
)
from .exceptions import (
    BackendError,
    NotReplicatedError,
    NotSubscribedError,
    RivuletError,
    translate,
)
from .mirror import IndexMirror, out_of_memory
from .names import validate_name, validate_names
from .policy import IndexPolicy, checked_limit, checked_timeout
from .retry import RetryPolicy
from .urls import redis_from_url, redis_url_from_env
from .wakeup import SPUBLISH, Read, Wakeup

DEFAULT_MAX_MESSAGE_BYTES = 1 << 20

log = logging.getLogger("rivulet")

Inbox = dict[str, list[Message]]


class Client:
    """A producer and consumer with a durable read position in each channel.

    One ``Client`` serves one thread at a time; give each thread its own.
    Reusing a ``client_id`` resumes that client's subscriptions.
    """

    def __init__(
        self,
        redis: Any = None,
        *,
        redis_url: str | None = None,
        client_id: str | None = None,
        channel_ids: str | Iterable[str] | None = None,
        index_policy: IndexPolicy | str = IndexPolicy.CURRENT,
        auto_commit: bool = True,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        retry: RetryPolicy | None = None,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
        **redis_args: Any,
    ) -> None:
        if redis is not None and (redis_url is not None or redis_args):
            raise TypeError("pass either a ready redis client or a URL and options, not both")
        self.client_id = validate_name(
            uuid.uuid4().hex if client_id is None else client_id, "client id"
        )
        if isinstance(max_message_bytes, bool) or not isinstance(max_message_bytes, int):
            raise TypeError("max_message_bytes must be an int")
        if max_message_bytes < 1:
            raise ValueError("max_message_bytes must be at least 1")
        self.max_message_bytes = max_message_bytes
        self.auto_commit = bool(auto_commit)
        self.retry = retry or RetryPolicy()
        for name, value in (("wait_replicas", wait_replicas), ("wait_timeout_ms", wait_timeout_ms)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, not {value!r}")
        # Every write waits (WAIT) for this many replicas: what Redis's
        # asynchronous replication would otherwise lose in a failover.
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        # Write tokens: unique per call, and per process even for a reused id.
        self._token_generation = -1
        self._token_prefix = ""
        self._writes = itertools.count()
        self._owns_redis = redis is None
        self.redis: Any = redis if redis is not None else redis_from_url(redis_url, **redis_args)
        self._mirror = IndexMirror(self.redis, self.retry, self.client_id)
        self._wakeup = Wakeup(self.redis)
        # Writes skip redis-py's command layer where the client allows it.
        self._fast = fastpath.for_redis(self.redis)
        self._publish: str | None = None
        self._write_prefixes: dict[str, tuple[list[str], list[str]]] = {}
        # The reads of the last read() when it drained every channel.
        self._primed: list[Read] | None = None
        # The read calls last built, and for which (channels, limit, commit).
        self._reads: tuple[tuple[list[str], int, str], list[Read]] | None = None
        if channel_ids is not None:
            self.subscribe(channel_ids, index_policy)

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release connections. Subscriptions stay in Redis for a later resume."""
        self._wakeup.close()
        if self._fast is not None:
            self._fast.close()
        if self._owns_redis:
            self.redis.close()

    def ping(self) -> bool:
        """True when Redis answers; raises :class:`ConnectionError` otherwise."""
        return bool(self.retry.run(self.redis.ping, "PING"))

    def __repr__(self) -> str:
        return f"<rivulet.Client {self.client_id!r}>"

    # -- subscriptions -----------------------------------------------------

    @property
    def subscriptions(self) -> list[str]:
        """The channels this client reads, as Redis records them (sorted)."""
        members = self.retry.run(
            lambda: self.redis.zrange(keys.index_key(self.client_id), 0, -1), "subscriptions"
        )
        return sorted(text(m) for m in members)

    def subscribe(
        self,
        channel_ids: str | Iterable[str],
        index_policy: IndexPolicy | str = IndexPolicy.CURRENT,
    ) -> dict[str, int]:
        """Subscribe to channels, creating them as needed; returns each index.

        ``earliest`` and ``latest`` move an existing index; ``current`` keeps it.
        """
        channels = validate_names(channel_ids)
        policy = IndexPolicy.parse(index_policy)
        if not channels:
            return {}
        self._primed = None  # an index may move: the next read looks first
        batch = scripts.Batch()
        for channel in channels:
            batch.script(
                scripts.SUBSCRIBE, keys.subscribe_keys(channel), [self.client_id, policy.value]
            )
        batch.command("zadd", keys.CHANNELS, {c: 0 for c in channels})
        batch.command("zadd", keys.CLIENTS, {self.client_id: 0})
        results = batch.run(self.redis, self.retry, "subscribe", strict=False)
        for result in results[:len(channels)]:
            if isinstance(result, Exception):
                raise result
        for result in results[len(channels):]:
            # On a full Redis (maxmemory) a subscribe script only succeeds
            # when it created nothing: the channel and this client's
            # subscription existed, so the registries already name them.
            if isinstance(result, Exception) and not out_of_memory(result):
                raise result
        indexes = {c: int(results[i]) for i, c in enumerate(channels)}
        self._mirror.write(indexes)
        return indexes

    def unsubscribe(self, channel_ids: str | Iterable[str]) -> None:
        """Drop this client's index in those channels.

        A channel whose last subscriber leaves is deleted with its messages.
        """
        channels = validate_names(channel_ids)
        if not channels:
            return
        self._primed = None
        batch = scripts.Batch()
        publish = self._publish_command(channels[0])
        for channel in channels:
            batch.script(scripts.UNSUBSCRIBE, keys.channel_keys(channel),
                         [self.client_id, keys.wake_channel(channel), publish])
        batch.command("zrem", keys.index_key(self.client_id), *channels)
        batch.command("zcard", keys.index_key(self.client_id))
        results = self._run(batch, "unsubscribe")
        deleted = [c for i, c in enumerate(channels) if int(results[i][1])]
        cleanup = scripts.Batch()
        if deleted:
            cleanup.command("zrem", keys.CHANNELS, *deleted)
        if int(results[-1]) == 0:
            cleanup.command("zrem", keys.CLIENTS, self.client_id)
        self._run(cleanup, "unsubscribe")
        self._mirror.drop(channels)

    # -- writing -----------------------------------------------------------

    def write(self, channel_id: str, messages: str | Sequence[str]) -> list[int]:
        """Append one message or a batch; returns the ids issued, in order.

        A batch is one round trip and gets contiguous ids. The writer must be
        subscribed to the channel, which keeps a typo from creating a channel
        nobody reads.

        :raises NotSubscribedError: this client is not subscribed to the channel.
        :raises MessageTooLargeError: a message is over ``max_message_bytes``;
            nothing of the batch is written.
        """
        channel = validate_name(channel_id)
        encoded = encode_batch(messages, self.max_message_bytes)
        if not encoded:
            return []
        write_keys, fixed = self._write_prefix(channel)
        args = [*fixed, self._token(), *encoded]
        acked = 0
        try:
            if self.wait_replicas:
                first, acked = self._write_replicated(write_keys, args)
            else:
                first = self.retry.run(
                    functools.partial(self._write_once, write_keys, args), "write"
                )
        except NotSubscribedError:
            raise NotSubscribedError(
                f"client {self.client_id!r} is not subscribed to channel {channel!r}; "
                "subscribe first", channel,
            ) from None
        ids = list(range(first, first + len(encoded)))
        if self.wait_replicas and acked < self.wait_replicas:
            raise NotReplicatedError(
                f"write to {channel!r} reached {acked} of {self.wait_replicas} replicas in "
                f"{self.wait_timeout_ms} ms; it is stored on the master only", ids, acked,
                self.wait_replicas,
            )
        return ids

    def _write_once(self, write_keys: list[str], args: list[str]) -> int:
        if self._fast is not None:
            reply = self._fast.call(scripts.WRITE, write_keys, args, WRITE_FIXED_ARGS)
        else:
            reply = scripts.WRITE(self.redis, write_keys, args)
        return _first_id(reply)

    def _write_replicated(self, write_keys: list[str], args: list[str]) -> tuple[int, int]:
        """The write and its WAIT in one round trip to the channel's node."""
        batch = scripts.Batch()
        batch.script(scripts.WRITE, write_keys, args)
        batch.wait(write_keys[0], self.wait_replicas, self.wait_timeout_ms)
        reply, acked = self._run(batch, "write")
        return _first_id(reply), int(acked)

    # -- reading -----------------------------------------------------------

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

    def _run(self, batch: scripts.Batch, what: str) -> list[Any]:
        return batch.run(self.redis, self.retry, what)

    def _token(self) -> str:
        """A new write token. The prefix is drawn per process: a forked child
        counting on from its parent's counter must not repeat its tokens, or
        its write and the parent's next would pass for one call's retries."""
        if self._token_generation != forks.generation():
            self._token_generation = forks.generation()
            self._token_prefix = os.urandom(6).hex() + ":"
        return f"{self._token_prefix}{next(self._writes)}"

    def _write_prefix(self, channel: str) -> tuple[list[str], list[str]]:
        """write_call()'s keys and the arguments before the token, kept per
        channel: the same string objects every call, so the fast path finds
        its packed prefix by their cached hashes."""
        prefix = self._write_prefixes.get(channel)
        if prefix is None:
            write_keys, args = write_call(
                channel, [], mode="sub", writer=self.client_id, src=self.client_id,
                token="", publish=self._publish_command(channel),
            )
            prefix = (write_keys, args[:WRITE_FIXED_ARGS])
            if len(self._write_prefixes) >= 1024:
                self._write_prefixes.clear()  # writes to very many channels: start over
            self._write_prefixes[channel] = prefix
        return prefix

    def _publish_command(self, channel: str) -> str:
        # Probed once per client (one round trip), then remembered.
        if self._publish is None:
            self._publish = self.retry.run(lambda: self._wakeup.publisher.command(channel),
                                           "wake-up probe")
        return self._publish

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


def _first_id(reply: Any) -> int:
    try:
        return write_reply(reply)[0]
    except ValueError as error:
        raise BackendError(str(error)) from None


def _warn_broken(channel: str, what: str, error: Exception) -> None:
    log.warning("channel %r could not %s and was skipped: %s", channel, what, error)


def write_call(
    channel: str, encoded: list[str], *, mode: str, writer: str, src: str, token: str,
    publish: str = SPUBLISH,
) -> tuple[list[str], list[str]]:
    """Keys and arguments of one write-script call for pre-encoded messages.

    The caller draws ``token`` once per call and every retry of the call
    reuses it, so a write whose reply was lost is not stored twice. The
    script remembers each writer's last token per channel. ``publish`` is
    the server's wake-up command (:class:`rivulet.wakeup.Publisher`); the
    script falls back to PUBLISH where SPUBLISH is missing, so the default
    is right everywhere, only slower on Redis 6.2.
    """
    return (keys.write_keys(channel),
            [mode, writer, json_literal(src), keys.wake_channel(channel), publish, token,
             *encoded])


#: How many of write_call()'s arguments come before the token: the same for
#: every call of one writer on one channel, so the fast path packs them once.
WRITE_FIXED_ARGS = 5


def write_reply(reply: Any) -> tuple[int, bool]:
    """The write script's reply as ``(first id, duplicate)``: a retried
    token is answered with minus the first id it was given.

    :raises ValueError: the reply is not a write script's (a foreign script
        under its sha, a proxy's garbage).
    """
    if isinstance(reply, bool) or not isinstance(reply, int):
        raise ValueError(f"the write script answered {reply!r}")
    return (-reply, True) if reply < 0 else (reply, False)


def connect(
    redis_url: str | None = None,
    client_id: str | None = None,
    channel_ids: str | Iterable[str] | None = None,
    index_policy: IndexPolicy | str = IndexPolicy.CURRENT,
    **options: Any,
) -> Client:
    """A :class:`Client` for ``redis_url``.

    The URL defaults to ``$RIVULET_REDIS_URL``, then ``$REDIS_URL``, then
    ``redis://localhost:6379/0``. Keyword options (``auto_commit``,
    ``max_message_bytes``, ``retry``, ``wait_replicas``, ``wait_timeout_ms``) go to the
    client,
    the rest to redis-py. Nothing is sent until the first call that needs it.
    """
    return Client(
        redis_url=redis_url,
        client_id=client_id,
        channel_ids=channel_ids,
        index_policy=index_policy,
        **options,
    )


__all__ = [
    "Client", "IndexPolicy", "RivuletError", "connect", "redis_from_url", "redis_url_from_env",
    "write_call", "write_reply",
]
