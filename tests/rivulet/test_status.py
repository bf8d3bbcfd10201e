"""The status rules of SPEC section 8 as pure functions (rivulet.status)."""

from __future__ import annotations

from typing import Any

import pytest

from rivulet import status
from rivulet.status import Point

NOW = 1_000_000_000
WINDOW = 2.0
STOP_AFTER = 5.0


def judged(index: int, head: int, points: list[Point], last_read_ts: int | None = NOW - 100,
           subscribed_ts: int | None = NOW - 60_000, **changes: Any) -> status.Judgement:
    args: dict[str, Any] = dict(index=index, head=head, last_read_ts=last_read_ts,
                                subscribed_ts=subscribed_ts, points=points, now_ms=NOW,
                                window_s=WINDOW, stop_after_s=STOP_AFTER)
    return status.judge(**(args | changes))


def series(*rows: tuple[int, int, int]) -> list[Point]:
    """Points from (ms before NOW, index, head)."""
    return [Point(NOW - ago, index, head) for ago, index, head in rows]


def test_beyond_head_and_caught_up_come_first() -> None:
    assert judged(7, 3, [], last_read_ts=None).status == "beyond head"
    assert judged(3, 3, [], last_read_ts=None).status == "caught up"


def test_stopped_after_stop_after_without_a_read() -> None:
    assert judged(1, 5, [], last_read_ts=NOW - 5_000).status == "stopped"
    assert judged(1, 5, [], last_read_ts=NOW - 4_999).status == "behind"


def test_a_new_subscriber_is_never_stopped_within_stop_after() -> None:
    # Never read, subscribed 4.9 s ago: not gone, just new.
    assert judged(1, 5, [], last_read_ts=None, subscribed_ts=NOW - 4_900).status == "behind"
    # Never read since subscribing 5 s ago: stopped.
    assert judged(1, 5, [], last_read_ts=None, subscribed_ts=NOW - 5_000).status == "stopped"


def test_subscribe_time_unknown_falls_back_to_first_snapshot() -> None:
    old = series((9_000, 1, 5), (1_000, 1, 5))
    assert judged(1, 5, old, last_read_ts=None, subscribed_ts=None).status == "stopped"
    new = series((1_000, 1, 5))
    assert judged(1, 5, new, last_read_ts=None, subscribed_ts=None).status == "behind"


def test_behind_with_less_than_a_window_of_history() -> None:
    assert judged(2, 9, series((1_999, 1, 5), (500, 2, 9))).status == "behind"


def test_stalled_when_reading_but_the_index_never_moved() -> None:
    points = series((2_500, 4, 9), (1_000, 4, 9), (200, 4, 12))
    row = judged(4, 12, points)
    assert (row.status, row.read_rate, row.eta_s) == ("stalled", 0.0, None)


def test_falling_behind_when_moving_but_lag_does_not_shrink() -> None:
    points = series((2_000, 10, 20), (1_000, 15, 25))
    row = judged(20, 30, points)
    assert row.status == "falling behind"
    assert row.read_rate == pytest.approx(5.0)  # 10 ids in 2 s


def test_catching_up_with_an_eta() -> None:
    points = series((2_000, 0, 100))
    row = judged(50, 110, points)  # lag 100 -> 60 in 2 s: 20/s closing
    assert row.status == "catching up"
    assert row.read_rate == pytest.approx(25.0)
    assert row.eta_s == pytest.approx(3.0)


def test_baseline_is_the_newest_snapshot_at_the_window_start() -> None:
    points = series((5_000, 0, 0), (2_000, 1, 1), (1_999, 2, 2))
    assert status.baseline(points, NOW, WINDOW) == points[1]
    assert status.baseline(points[2:], NOW, WINDOW) is None


def test_worst_status_orders_by_severity() -> None:
    assert status.worst([]) == "caught up"
    assert status.worst(["catching up", "stopped", "stalled"]) == "stopped"
    assert status.worst(["behind", "falling behind", "caught up"]) == "falling behind"


def test_lag_seconds_survives_pruning_through_history() -> None:
    points = series((600_000, 3, 3), (590_000, 3, 8), (1_000, 3, 20))
    # 17 behind, only 2 still stored (4.9 s old): history says 590 s.
    assert status.lag_seconds(stored_age_s=4.9, lag=17, pending=2, points=points, index=3,
                              now_ms=NOW) == pytest.approx(590.0)
    # Nothing pruned: the oldest stored unread message is exact.
    assert status.lag_seconds(stored_age_s=4.9, lag=17, pending=17, points=points, index=3,
                              now_ms=NOW) == 4.9
    assert status.lag_seconds(stored_age_s=0.0, lag=0, pending=0, points=points, index=20,
                              now_ms=NOW) == 0.0


def test_snapshots_before_a_resubscribe_do_not_count() -> None:
    # Stuck at 4 for ages, then unsubscribed and subscribed again 1 s ago.
    points = series((9_000, 4, 9), (3_000, 4, 9), (500, 9, 12))
    assert judged(9, 12, points, subscribed_ts=NOW - 1_000).status == "behind"
