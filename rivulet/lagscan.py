"""Every channel's counts and every subscriber's lag, compactly, for ``/metrics``.

:meth:`Admin.channels` and :meth:`Admin.subscribers_many` give the same
numbers and much more (oldest and newest ids and stamps, caps, last reads),
as model objects, through two scripts per channel. A scrape of 10,000
channels needs a handful of numbers each: one script per channel
(``lagscan.lua``) in one pipeline. Statuses, rates and time lags are
judged by the listing's own code (:mod:`.lag_rows`, :mod:`.status`), over
only the history snapshots the rules read, so both report the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from . import fastpath, history, keys, lag_rows, scripts
from .codec import text
from .exceptions import InvalidNameError, RivuletError, translate
from .models import SubscriberInfo
from .names import validate_name
from .retry import RetryPolicy

#: A subscriber's row is the listing's own (``Admin.subscribers``), judged by
#: the same code (:func:`rivulet.lag_rows.judged_subscribers`).
SubscriberLag = SubscriberInfo


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
    #: ``ChannelInfo.write_rate``: None until history reaches back a window.
    write_rate: float | None = None


def scan(redis: Any, retry: RetryPolicy, names: list[str],
         run: Callable[[scripts.Batch], list[Any]], window: float = 120,
         stop_after: float = 60) -> list[ChannelLag]:
    """The rows of the registered channels ``names``, in that order; channels
    gone from Redis are left out.

    On standalone Redis the scripts go as one packed pipeline on one
    connection (:mod:`.fastpath`; redis-py's per-command layer was a third of
    the scan), sent again whole after a lost link: they only read. Elsewhere
    (a cluster) ``run`` executes them as a batch, one pipeline per node,
    leaving each channel's own error on its row. Statuses and rates are
    judged here over ``window`` and ``stop_after`` (the Admin's), with
    rivulet/status.py's rules, from what each script sends back.
    """
    calls: list[list[str] | RivuletError] = []
    for name in names:
        try:
            every = keys.channel_keys(validate_name(name))
            calls.append([*every[:5], *every[6:8]])  # not the lock; hist, hcfg
        except InvalidNameError as error:
            calls.append(error)  # send nothing for it; it shows as broken
    # One clock for every age in the scan: Redis's, read once.
    seconds, micros = retry.run(redis.time, "server time")
    now = int(seconds) * 1000 + int(micros) // 1000
    args = [str(now), str(round(window * 1000))]
    fast = fastpath.for_redis(redis)
    if fast is not None:
        sent: list[tuple[list[str], list[str]]] = [
            (c, args) for c in calls if not isinstance(c, RivuletError)]
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
                batch.script(scripts.LAGSCAN, call, args)
        replies = run(batch)
    rows: list[ChannelLag] = []
    for name, reply in zip(names, replies):
        if isinstance(reply, RivuletError):
            rows.append(ChannelLag(name, 0, 0, 0, [], broken=True))
        elif reply != 0:
            rows.append(_row(name, text(reply), now, window, stop_after))
    return rows


def _translated(reply: Any) -> Any:
    return translate(reply) if isinstance(reply, Exception) else reply


def _row(name: str, reply: str, now: int, window: float, stop_after: float) -> ChannelLag:
    fields, *hist = reply.split("\x1e")
    flat = fields.split("\n")
    head, count = int(flat[0]), int(flat[1])
    snapshots = history.parse(hist)
    subscribers: list[SubscriberInfo] = []
    if flat[2] == "0":  # no planted members (a listing "problem"): show them
        # subscribers.lua's reply shape: exists, head, now, then the rows.
        subscribers = list(lag_rows.judged_subscribers(
            name, ["1", flat[0], now, *flat[3:]], snapshots, window, stop_after))
    return ChannelLag(name, head, count, (len(flat) - 3) // 6, subscribers,
                      write_rate=lag_rows.channel_write_rate(snapshots, head, now, window))
