"""Subscriber and channel rows with what the lag history says about them:
status, rates, ETA and a time lag that pruning cannot shorten (SPEC 8).

The Admin fetches the scripts' replies (subscribers.lua and the history for
one channel's subscribers, lagscan.lua for listings and /metrics); turning
them into rows is here, so admin.py stays about asking Redis.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from . import history, status
from .codec import text
from .models import ChannelInfo, Rows, SubscriberInfo


def _age_s(now_ms: int, ts: int) -> float:
    return 0.0 if ts < 0 else max(0.0, (now_ms - ts) / 1000)


def _snapshots(hist: Any) -> list[history.Snapshot]:
    # A history key Redis cannot read costs the judgement, not the listing.
    return [] if isinstance(hist, Exception) else history.parse(hist)


def subscriber_rows(channel: str, reply: list[Any], hist: Any, window: float,
                    stop_after: float) -> Rows[SubscriberInfo]:
    """Rows from subscribers.lua's reply and the LRANGE of rvl:hist:{C}."""
    return judged_subscribers(channel, reply, _snapshots(hist), window, stop_after)


def judged_subscribers(channel: str, reply: list[Any], snapshots: list[history.Snapshot],
                       window: float, stop_after: float) -> Rows[SubscriberInfo]:
    """:func:`subscriber_rows` over snapshots already parsed."""
    return Rows(SubscriberInfo(*row) for row in judged(
        channel, int(reply[1]), int(reply[2]), reply[3:], snapshots, window, stop_after))


class SubscriberLag(NamedTuple):
    """One subscriber judged: :class:`rivulet.SubscriberInfo`'s fields and
    values (one set of rules), as a tuple: a frozen dataclass per subscriber
    was a fifth of a 50,000-subscriber scrape's client time."""

    channel: str
    client_id: str
    index: int  # type: ignore[assignment]  # shadows tuple.index, as SubscriberInfo names it
    lag: int
    pending: int
    lag_seconds: float
    last_read_ts: int | None
    beyond_head: bool
    status: str
    read_rate: float | None
    eta_s: float | None


def judged(channel: str, head: int, now: int, flat: list[Any],
           snapshots: list[history.Snapshot], window: float,
           stop_after: float) -> list[SubscriberLag]:
    """Each subscriber of subscribers.lua's rows ``flat`` (client, index,
    pending, oldest pending ts, last read ts, subscribe ts; -1: none) judged
    at ``now`` against the channel's ``head`` and ``snapshots``.

    One pass over the snapshots gives every subscriber its points, rather
    than one pass per subscriber (history.points): the listing and /metrics
    judge tens of thousands of subscribers a call.
    """
    new = tuple.__new__  # the NamedTuples' own __new__ is a Python call more
    by_client: dict[str, list[status.Point]] = {}
    for snap in snapshots:
        ts, snap_head = snap.ts, snap.head_id
        for client_id, at in snap.indexes.items():
            point = new(status.Point, (ts, at, snap_head))
            found = by_client.get(client_id)
            if found is None:
                by_client[client_id] = [point]
            else:
                found.append(point)
    judge, lag_seconds = status.judge, status.lag_seconds
    rows: list[SubscriberLag] = []
    for i in range(0, len(flat), 6):
        client = flat[i]
        if not isinstance(client, str):
            client = text(client)
        index, pending, oldest_ts = int(flat[i + 1]), int(flat[i + 2]), int(flat[i + 3])
        read_raw, since_raw = int(flat[i + 4]), int(flat[i + 5])
        read_ts = None if read_raw < 0 else read_raw
        since = None if since_raw < 0 else since_raw
        lag = head - index if head > index else 0
        points = by_client.get(client, ())
        verdict = judge(index=index, head=head, last_read_ts=read_ts, subscribed_ts=since,
                        points=points, now_ms=now, window_s=window, stop_after_s=stop_after)
        lag_s = lag_seconds(stored_age_s=_age_s(now, oldest_ts) if pending else 0.0, lag=lag,
                            pending=pending, points=points, index=index, now_ms=now)
        rows.append(new(SubscriberLag, (channel, client, index, lag, pending, lag_s, read_ts,
                                        index > head, *verdict)))
    return rows


def channel_write_rate(snapshots: list[history.Snapshot], head: int, now_ms: int,
                       window: float) -> float | None:
    """Messages per second written since the window's start snapshot (None
    when history does not reach back a whole window); /metrics shares it."""
    start = status.baseline(history.head_points(snapshots), now_ms, window)
    return status.rate(start.head, head, start.ts, now_ms) if start else None


def listed_channel(name: str, header: list[str], flat: list[Any],
                   snapshots: list[history.Snapshot], window: float,
                   stop_after: float) -> ChannelInfo:
    """A listing row from lagscan.lua's "listing" reply: info.lua's numbers
    (``header``) with the worst of its subscribers' statuses, the write rate
    and a ``max_lag_seconds`` that pruning cannot shorten."""
    (head, count, oldest_id, oldest_ts, newest_id, newest_ts, min_index, unread_ts,
     last_write, max_messages, max_age_ms, now) = (int(v) for v in header[:12])
    subs = len(flat) // 6
    max_lag = max(0, head - min_index) if subs else 0
    max_lag_s = _age_s(now, unread_ts) if max_lag else 0.0
    rows = judged(name, head, now, flat, snapshots, window, stop_after)
    if rows and max_lag:
        max_lag_s = max(max_lag_s, max(r.lag_seconds for r in rows))
    return ChannelInfo(
        name=name,
        head_id=head,
        message_count=count,
        oldest_id=None if oldest_id < 0 else oldest_id,
        newest_id=None if newest_id < 0 else newest_id,
        oldest_ts=None if oldest_ts < 0 else oldest_ts,
        newest_ts=None if newest_ts < 0 else newest_ts,
        subscriber_count=subs,
        max_lag=max_lag,
        max_lag_seconds=max_lag_s,
        last_write_ts=None if last_write < 0 else last_write,
        max_messages=None if max_messages < 0 else max_messages,
        max_age=None if max_age_ms < 0 else max_age_ms / 1000,
        error=header[12] or None,
        status=status.worst(r.status for r in rows),
        write_rate=channel_write_rate(snapshots, head, now, window),
    )
