"""What every part of the management API shares: the connection, the retry
policy, the status window, and the checks on numbers given to it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import keys, scripts
from .exceptions import ChannelNotFoundError, ConnectionError, TimeoutError
from .notebook import describe_redis
from .retry import RetryPolicy
from .urls import redis_from_url, require_utf8
from .wakeup import Publisher

#: Counts and ids above this are capped: doubles (Lua's numbers) are exact up to 2^53.
MAX_INT = 2**53 - 1


def none_if_negative(value: Any) -> int | None:
    number = int(value)
    return None if number < 0 else number


def age_s(now_ms: int, ts: int) -> float:
    return 0.0 if ts < 0 else max(0.0, (now_ms - ts) / 1000)


def non_negative(name: str, value: object, kind: type = int) -> Any:
    """``value`` checked, and capped at 2^53 - 1: Redis would read a larger
    count, formatted by Lua as ``1e+17``, as no integer at all."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise TypeError(f"{name} must be {'a number' if kind is float else 'an int'}")
    if value < 0 or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return min(value, MAX_INT)


class AdminBase:
    """The connection and plumbing :class:`rivulet.Admin` is built on."""

    def __init__(self, redis_url_or_client: Any = None, *, retry: RetryPolicy | None = None,
                 window: float = 120, stop_after: float = 60, **redis_args: Any) -> None:
        self.retry = retry or RetryPolicy()
        self.window = non_negative("window", window, float)
        self.stop_after = non_negative("stop_after", stop_after, float)
        if redis_url_or_client is None or isinstance(redis_url_or_client, str):
            self.redis: Any = require_utf8(redis_from_url(redis_url_or_client, **redis_args))
            self._owns_redis = True
        else:
            if redis_args:
                raise TypeError("pass either a ready redis client or a URL and options, not both")
            self.redis = require_utf8(redis_url_or_client)
            self._owns_redis = False
        self._publisher = Publisher(self.redis)

    def __repr__(self) -> str:
        # Names the server a notebook talks to, never its password.
        return f"<rivulet.Admin {describe_redis(self.redis)}>"

    def close(self) -> None:
        if self._owns_redis:
            self.redis.close()

    def ping(self) -> bool:
        """True when Redis answers; raises :class:`ConnectionError` otherwise."""
        return bool(self.retry.run(self.redis.ping, "PING"))

    def _run(self, batch: scripts.Batch, what: str, strict: bool = True) -> list[Any]:
        """``strict=False`` leaves a channel's or client's own error on its row,
        but a node out of reach (a cluster failing over, a link down past the
        retry budget) is raised: a row for it would show zeros that are not so."""
        results = batch.run(self.redis, self.retry, what, strict)
        for result in results:
            if isinstance(result, (ConnectionError, TimeoutError)):
                raise result
        return results

    def _call(self, call: Callable[[], Any], what: str) -> Any:
        return self.retry.run(call, what)

    def _with_existence(self, channel: str, what: str, command: str, *args: Any) -> Any:
        """Run one command on a channel in the same round trip as its existence check."""
        batch = scripts.Batch()
        batch.command("exists", *keys.reader_keys(channel)[:3])
        batch.command(command, *args)
        exists, result = self._run(batch, what)
        if not int(exists):
            raise ChannelNotFoundError(channel)
        return result

    def _channel_script(self, script: scripts.Script, channel: str, nkeys: int,
                        args: list[Any], what: str) -> Any:
        try:
            return self.retry.run(
                lambda: script(self.redis, keys.channel_keys(channel)[:nkeys], args), what
            )
        except ChannelNotFoundError:
            raise ChannelNotFoundError(channel) from None
