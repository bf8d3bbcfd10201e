"""Subscriber and channel rows with what the lag history says about them:
status, rates, ETA and a time lag that pruning cannot shorten (SPEC 8).

The Admin fetches the subscribers script's reply and the channel's snapshots
in one pipeline; turning them into rows is here, so admin.py stays about
asking Redis.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import history, status
from .codec import text
from .models import ChannelInfo, Rows, SubscriberInfo


def _none(value: Any) -> int | None:
    number = int(value)
    return None if number < 0 else number


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
    """:func:`subscriber_rows` over snapshots already parsed (/metrics sends
    lagscan.lua's fields in subscribers.lua's shape: one set of rules)."""
    head, now = int(reply[1]), int(reply[2])
    rows: Rows[SubscriberInfo] = Rows()
    flat = reply[3:]
    for i in range(0, len(flat), 6):
        client, index, pending, oldest_ts, read_ts, since = flat[i:i + 6]
        client, index, pending = text(client), int(index), int(pending)
        lag = max(0, head - index)
        points = history.points(snapshots, client)
        judged = status.judge(index=index, head=head, last_read_ts=_none(read_ts),
                              subscribed_ts=_none(since), points=points, now_ms=now,
                              window_s=window, stop_after_s=stop_after)
        rows.append(SubscriberInfo(
            channel=channel,
            client_id=client,
            index=index,
            lag=lag,
            pending=pending,
            lag_seconds=status.lag_seconds(
                stored_age_s=_age_s(now, int(oldest_ts)) if pending else 0.0, lag=lag,
                pending=pending, points=points, index=index, now_ms=now),
            last_read_ts=_none(read_ts),
            beyond_head=index > head,
            status=judged.status,
            read_rate=judged.read_rate,
            eta_s=judged.eta_s,
        ))
    return rows


def judged_channel(row: ChannelInfo, subs: list[Any], hist: Any, window: float,
                   stop_after: float) -> ChannelInfo:
    """``row`` with its status (the worst subscriber's), write rate and
    history-aware ``max_lag_seconds``."""
    subscribers = subscriber_rows(row.name, subs, hist, window, stop_after)
    write_rate = channel_write_rate(_snapshots(hist), row.head_id, int(subs[2]), window)
    worst_lag_s = max((r.lag_seconds for r in subscribers), default=0.0)
    return dataclasses.replace(
        row, status=status.worst(r.status for r in subscribers), write_rate=write_rate,
        max_lag_seconds=max(row.max_lag_seconds, worst_lag_s) if row.max_lag else 0.0)


def channel_write_rate(snapshots: list[history.Snapshot], head: int, now_ms: int,
                       window: float) -> float | None:
    """Messages per second written since the window's start snapshot (None
    when history does not reach back a whole window); /metrics shares it."""
    start = status.baseline(history.head_points(snapshots), now_ms, window)
    return status.rate(start.head, head, start.ts, now_ms) if start else None
