"""Every channel's counts and every subscriber's lag, compactly, for ``/metrics``.

:meth:`Admin.channels` and :meth:`Admin.subscribers_many` give the same
numbers and much more (oldest and newest ids and stamps, caps, last reads),
as model objects, through two scripts per channel. A scrape of 10,000
channels needs a handful of numbers each: one script per channel
(``lagscan.lua``) in one pipeline, and plain tuples, not models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from . import fastpath, keys, scripts
from .codec import text
from .exceptions import InvalidNameError, RivuletError, translate
from .names import validate_name
from .retry import RetryPolicy


class SubscriberLag(NamedTuple):
    client_id: str
    #: Messages issued that it has not read (``SubscriberInfo.lag``).
    lag: int
    #: Age of its oldest stored unread message (``SubscriberInfo.lag_seconds``).
    lag_seconds: float


class ChannelLag(NamedTuple):
    name: str
    head_id: int
    message_count: int
    subscriber_count: int
    #: Empty for a channel with a problem (``ChannelInfo.error``), as in the listing.
    subscribers: list[SubscriberLag]
    #: The channel cannot be read as rivulet's (a key of the wrong type, an
    #: invalid name registered around the library): its numbers are zeros.
    broken: bool = False


def scan(redis: Any, retry: RetryPolicy, names: list[str],
         run: Callable[[scripts.Batch], list[Any]]) -> list[ChannelLag]:
    """The rows of the registered channels ``names``, in that order; channels
    gone from Redis are left out.

    On standalone Redis the scripts go as one packed pipeline on one
    connection (:mod:`.fastpath`; redis-py's per-command layer was a third of
    the scan), sent again whole after a lost link: they only read. Elsewhere
    (a cluster) ``run`` executes them as a batch, one pipeline per node,
    leaving each channel's own error on its row.
    """
    calls: list[list[str] | RivuletError] = []
    for name in names:
        try:
            calls.append(keys.channel_keys(validate_name(name))[:5])
        except InvalidNameError as error:
            calls.append(error)  # send nothing for it; it shows as broken
    # One clock for every age in the scan: Redis's, read once.
    seconds, micros = retry.run(redis.time, "server time")
    now = int(seconds) * 1000 + int(micros) // 1000
    fast = fastpath.for_redis(redis)
    if fast is not None:
        sent: list[tuple[list[str], list[str]]] = [
            (c, []) for c in calls if not isinstance(c, RivuletError)]
        try:
            got = iter(retry.run(lambda: fast.call_many(scripts.LAGSCAN, sent), "lag scan"))
        finally:
            fast.close()
        replies = [c if isinstance(c, RivuletError) else _translated(next(got)) for c in calls]
    else:
        batch = scripts.Batch()
        for call in calls:
            if isinstance(call, RivuletError):
                batch.constant(call)
            else:
                batch.script(scripts.LAGSCAN, call, [])
        replies = run(batch)
    rows: list[ChannelLag] = []
    for name, reply in zip(names, replies):
        if isinstance(reply, RivuletError):
            rows.append(ChannelLag(name, 0, 0, 0, [], broken=True))
        elif reply != 0:
            rows.append(_row(name, text(reply).split("\n"), now))
    return rows


def _translated(reply: Any) -> Any:
    return translate(reply) if isinstance(reply, Exception) else reply


def _row(name: str, fields: list[str], now: int) -> ChannelLag:
    head, count = int(fields[0]), int(fields[1])
    flat = fields[3:]
    subscribers: list[SubscriberLag] = []
    if fields[2] == "0":  # no planted members (a listing "problem"): show them
        for i in range(0, len(flat), 3):
            index, ts = int(flat[i + 1]), int(flat[i + 2])
            subscribers.append(SubscriberLag(
                flat[i], max(0, head - index), 0.0 if ts < 0 else max(0.0, (now - ts) / 1000)))
    return ChannelLag(name, head, count, len(flat) // 3, subscribers)
