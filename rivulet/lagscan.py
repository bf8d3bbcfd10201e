"""Every channel's numbers, its subscribers' and their history, one compact
script per channel (``lagscan.lua``): the listing and ``/metrics``.

:meth:`Admin.channels` used to send two scripts and an LRANGE per channel
(info.lua, subscribers.lua, the whole history) and build a model object per
subscriber only to find the worst status; ``/metrics`` needs a handful of
numbers per subscriber. Both now read the same one-string reply per channel
in one pipeline, and judge statuses, rates and time lags with the listing's
own rules (:mod:`.lag_rows`, :mod:`.status`), so both report the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from . import fastpath, history, keys, lag_rows, scripts
from .codec import text
from .exceptions import InvalidNameError, RivuletError, translate
from .lag_rows import SubscriberLag as SubscriberLag  # re-exported: the rows' type
from .names import validate_name
from .retry import RetryPolicy

#: lagscan.lua's fields before the subscribers' (see its header).
HEADER = 13


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


class Reply(NamedTuple):
    """One channel's script reply, split: ``header`` holds lagscan.lua's
    first 13 fields, ``subscribers`` 6 per subscriber (subscribers.lua's
    row without the channel), ``snapshots`` the raw history entries."""

    header: list[str]
    subscribers: list[Any]
    snapshots: list[Any]


def fetch(redis: Any, retry: RetryPolicy, names: list[str],
          run: Callable[[scripts.Batch], list[Any]], mode: str, now_ms: int | None,
          window: float, what: str = "lag scan") -> list[Reply | RivuletError | None]:
    """lagscan.lua's reply for each of ``names``, in order: None for a
    channel that does not exist, the error for one Redis cannot read as
    rivulet's (an invalid name is not sent at all).

    ``mode`` is the script's (``listing`` or ``scan``); ``now_ms`` its clock
    (None: each script reads Redis's TIME). On standalone Redis the scripts
    go as one packed pipeline on one connection (:mod:`.fastpath`; redis-py's
    per-command layer was a third of the scan), sent again whole after a lost
    link: they only read. Elsewhere (a cluster) ``run`` executes them as a
    batch, one pipeline per node, leaving each channel's own error on its row.
    """
    calls: list[list[str] | RivuletError] = []
    for name in names:
        try:
            every = keys.channel_keys(validate_name(name))
            calls.append([*every[:5], *every[6:8]])  # not the lock; hist, hcfg
        except InvalidNameError as error:
            calls.append(error)  # send nothing for it; it shows as broken
    args = ["" if now_ms is None else str(now_ms), str(round(window * 1000)), mode]
    fast = fastpath.for_redis(redis, afresh=False)  # held for this one scan
    if fast is not None:
        sent: list[tuple[list[str], list[str]]] = [
            (c, args) for c in calls if not isinstance(c, RivuletError)]
        try:
            got = iter(retry.run(lambda: fast.call_many(scripts.LAGSCAN, sent), what))
        finally:
            fast.close()
        replies = [c if isinstance(c, RivuletError) else next(got) for c in calls]
    else:
        batch = scripts.Batch()
        for call in calls:
            if isinstance(call, RivuletError):
                batch.constant(call)
            else:
                batch.script(scripts.LAGSCAN, call, args)
        replies = run(batch)
    return [_split(reply) for reply in replies]


def _split(reply: Any) -> Reply | RivuletError | None:
    if isinstance(reply, Exception):
        return translate(reply)
    if isinstance(reply, list):  # a name or snapshot holding a separator
        header = text(reply[0]).split("\n")
        end = 2 + 6 * int(reply[1])
        return Reply(header, reply[2:end], reply[end:])
    if not isinstance(reply, (bytes, str)):
        return None  # 0: no such channel
    fields, *snapshots = text(reply).split("\x1e")
    flat = fields.split("\n")
    return Reply(flat[:HEADER], flat[HEADER:], snapshots)


def scan(redis: Any, retry: RetryPolicy, names: list[str],
         run: Callable[[scripts.Batch], list[Any]], window: float = 120,
         stop_after: float = 60) -> list[ChannelLag]:
    """The rows of the registered channels ``names``, in that order; channels
    gone from Redis are left out.

    Statuses and rates are judged over ``window`` and ``stop_after`` (the
    Admin's) from what each script sends back, against one clock for every
    age in the scan: Redis's, read once.
    """
    seconds, micros = retry.run(redis.time, "server time")
    now = int(seconds) * 1000 + int(micros) // 1000
    rows: list[ChannelLag] = []
    for name, reply in zip(names, fetch(redis, retry, names, run, "scan", now, window)):
        if isinstance(reply, RivuletError):
            rows.append(ChannelLag(name, 0, 0, 0, [], broken=True))
        elif reply is not None:
            rows.append(_row(name, reply, now, window, stop_after))
    return rows


def _row(name: str, reply: Reply, now: int, window: float, stop_after: float) -> ChannelLag:
    head = int(reply.header[0])
    snapshots = history.parse(reply.snapshots)
    subscribers: list[SubscriberLag] = []
    if not reply.header[12]:  # no planted members (a listing "problem"): show them
        subscribers = lag_rows.judged(name, head, now, reply.subscribers, snapshots, window,
                                      stop_after)
    return ChannelLag(name, head, int(reply.header[1]), len(reply.subscribers) // 6,
                      subscribers,
                      write_rate=lag_rows.channel_write_rate(snapshots, head, now, window))
