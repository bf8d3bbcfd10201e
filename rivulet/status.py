"""Judging a subscriber from its lag history (SPEC section 8).

Pure functions over numbers already fetched, so every rule is unit-tested
without Redis. Burrow's rules are the model (lag never decreasing across a
window is a warning; committing without advancing is a stall; no commits is
a stop), with two differences that need rivulet's own data: "stopped" goes by
the last read or commit time (or the subscribe time), so a quiet consumer on
an idle channel is not called dead, and a new subscriber is never "stopped"
within ``stop_after`` of subscribing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

BEYOND_HEAD = "beyond head"
CAUGHT_UP = "caught up"
STOPPED = "stopped"
STALLED = "stalled"
FALLING_BEHIND = "falling behind"
CATCHING_UP = "catching up"
BEHIND = "behind"
#: A channel's only, never a subscriber's: its keys hold what rivulet cannot
#: read, so nothing about it can be judged (ChannelInfo.error says what).
ERROR = "error"

#: Every status, best first: ChannelInfo.status is the last of its
#: subscribers' in this order.
SEVERITY = (CAUGHT_UP, CATCHING_UP, BEHIND, BEYOND_HEAD, FALLING_BEHIND, STALLED, STOPPED, ERROR)


class Point(NamedTuple):
    """One snapshot as one subscriber saw it: when (ms), its index, the head.

    A tuple, not a dataclass: the listing and /metrics make one per
    subscriber per snapshot, tens of thousands a call."""

    ts: int
    index: int  # type: ignore[assignment]  # shadows tuple.index
    head: int

    @property
    def lag(self) -> int:
        return max(0, self.head - self.index)


class Judgement(NamedTuple):
    status: str
    read_rate: float | None
    eta_s: float | None


def baseline(points: Sequence[Point], now_ms: int, window_s: float) -> Point | None:
    """The newest snapshot at or before the window's start (``points`` oldest
    first), or None when history does not reach back a whole window."""
    start = now_ms - window_s * 1000
    found = None
    for point in points:
        if point.ts > start:
            break
        found = point
    return found


def rate(before: int, after: int, before_ms: int, after_ms: int) -> float | None:
    """Messages per second between two counts, None without elapsed time."""
    if after_ms <= before_ms:
        return None
    return max(0, after - before) * 1000 / (after_ms - before_ms)


def judge(*, index: int, head: int, last_read_ts: int | None, subscribed_ts: int | None,
          points: Sequence[Point], now_ms: int, window_s: float,
          stop_after_s: float) -> Judgement:
    """The status, read rate and ETA of one subscriber.

    ``points`` are this subscriber's snapshots, oldest first; ``last_read_ts``
    the time of its last read or commit; ``subscribed_ts`` when it subscribed
    (None where unknown, e.g. subscribed before history existed: then its
    first snapshot stands in for it).
    """
    lag = max(0, head - index)
    # No list for the stall check's window: the listing and /metrics judge
    # tens of thousands of subscribers a call. The rules are unchanged
    # (tests/rivulet/test_lagscan.py holds them to 2eb8200's).
    if subscribed_ts is not None and points:
        # Snapshots from before an unsubscribe and a new subscribe are
        # another subscription's.
        points = [p for p in points if p.ts >= subscribed_ts]
    start = baseline(points, now_ms, window_s)
    read_rate = rate(start.index, index, start.ts, now_ms) if start else None
    if index > head:
        return Judgement(BEYOND_HEAD, read_rate, None)
    if lag == 0:
        return Judgement(CAUGHT_UP, read_rate, None)
    alive_since = last_read_ts
    if alive_since is None:
        alive_since = subscribed_ts if subscribed_ts is not None else (
            points[0].ts if points else None)
    subscribed_since = subscribed_ts if subscribed_ts is not None else alive_since
    new = subscribed_since is None or now_ms - subscribed_since < stop_after_s * 1000
    if not new and alive_since is not None and now_ms - alive_since >= stop_after_s * 1000:
        return Judgement(STOPPED, read_rate, None)
    if start is None:
        return Judgement(BEHIND, read_rate, None)
    if all(p.index == index for p in points if p.ts >= start.ts):
        return Judgement(STALLED, read_rate, None)
    start_lag = start.head - start.index if start.head > start.index else 0
    if lag >= start_lag:
        return Judgement(FALLING_BEHIND, read_rate, None)
    closing = (start_lag - lag) * 1000 / max(1, now_ms - start.ts)
    return Judgement(CATCHING_UP, read_rate, lag / closing)


def worst(statuses: Iterable[str]) -> str:
    """The most severe status (``caught up`` for none)."""
    return max(statuses, key=SEVERITY.index, default=CAUGHT_UP)


def passed_ms(points: Sequence[Point], index: int) -> int | None:
    """When the head first passed ``index`` by the snapshots (the first one
    whose head is beyond it), or None when no snapshot shows that.

    The snapshot is at or after the moment, so the age it gives is a lower
    bound, and it survives pruning: unlike the oldest stored unread message,
    it is not deleted by a retention cap.
    """
    for point in points:
        if point.head > index:
            return point.ts
    return None


def lag_seconds(*, stored_age_s: float, lag: int, pending: int, points: Sequence[Point],
                index: int, now_ms: int) -> float:
    """Time since the head passed ``index``: the age of the oldest stored
    unread message when none were pruned unread (exact), else the larger of
    that and what the history shows (pruning cut the stored one short)."""
    if lag <= 0:
        return 0.0
    if pending >= lag:
        return stored_age_s
    since = passed_ms(points, index)
    if since is None:
        return stored_age_s
    return max(stored_age_s, max(0, now_ms - since) / 1000)
