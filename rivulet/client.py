"""Producers and consumers: connect, subscribe, write, read, commit, listen."""

from __future__ import annotations

import functools
import itertools
import logging
import os
import uuid
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from . import fastpath, forks, keys, scripts
from .codec import encode_batch, text
from .exceptions import NotReplicatedError, NotSubscribedError, RivuletError
from .mirror import IndexMirror, out_of_memory
from .names import validate_name, validate_names
from .policy import IndexPolicy
from .reading import Inbox, Reading
from .retry import RetryPolicy
from .urls import redis_from_url, redis_url_from_env, require_utf8
from .wakeup import Wakeup
from .write_calls import WRITE_FIXED_ARGS, first_id, write_call, write_reply

DEFAULT_MAX_MESSAGE_BYTES = 1 << 20

log = logging.getLogger("rivulet")


class Client(Reading):
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
        self.redis: Any = require_utf8(
            redis if redis is not None else redis_from_url(redis_url, **redis_args))
        self._mirror = IndexMirror(self.redis, self.retry, self.client_id)
        self._wakeup = Wakeup(self.redis)
        # Writes skip redis-py's command layer where the client allows it.
        self._fast = fastpath.for_redis(self.redis)
        self._publish: str | None = None
        self._write_prefixes: dict[str, fastpath.Prefix] = {}
        self._primed = None
        self._reads = None
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
        prefix = self._write_prefix(channel)
        rest = [self._token(), *encoded]
        acked = 0
        try:
            if self.wait_replicas:
                first, acked = self._write_replicated(prefix, rest)
            else:
                first = self.retry.run(functools.partial(self._write_once, prefix, rest), "write")
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

    def _write_once(self, prefix: fastpath.Prefix, rest: list[str]) -> int:
        if self._fast is not None:
            return first_id(self._fast.call(prefix, rest))
        return first_id(scripts.WRITE(self.redis, prefix.keys, [*prefix.args, *rest]))

    def _write_replicated(self, prefix: fastpath.Prefix, rest: list[str]) -> tuple[int, int]:
        """The write and its WAIT in one round trip to the channel's node."""
        batch = scripts.Batch()
        batch.script(scripts.WRITE, prefix.keys, [*prefix.args, *rest])
        batch.wait(prefix.keys[0], self.wait_replicas, self.wait_timeout_ms)
        reply, acked = self._run(batch, "write")
        return first_id(reply), int(acked)

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

    def _write_prefix(self, channel: str) -> fastpath.Prefix:
        """write_call()'s keys and the arguments before the token, kept per
        channel with their packed bytes (:class:`rivulet.fastpath.Prefix`)."""
        prefix = self._write_prefixes.get(channel)
        if prefix is None:
            write_keys, args = write_call(
                channel, [], mode="sub", writer=self.client_id, src=self.client_id,
                token="", publish=self._publish_command(channel),
            )
            prefix = fastpath.Prefix(scripts.WRITE, write_keys, args[:WRITE_FIXED_ARGS])
            if len(self._write_prefixes) >= _MAX_WRITE_PREFIXES:
                self._write_prefixes.clear()  # writes to very many channels: start over
            self._write_prefixes[channel] = prefix
        return prefix

    def _publish_command(self, channel: str) -> str:
        # Probed once per client (one round trip), then remembered.
        if self._publish is None:
            self._publish = self.retry.run(lambda: self._wakeup.publisher.command(channel),
                                           "wake-up probe")
        return self._publish


#: Write prefixes a client keeps (one per channel it writes to).
_MAX_WRITE_PREFIXES = 1024


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
    "Client",
    "Inbox",
    "IndexPolicy",
    "RivuletError",
    "connect",
    "redis_from_url",
    "redis_url_from_env",
    "write_call",
    "write_reply",
]
