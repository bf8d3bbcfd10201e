"""Lag sparklines, rates, ETA and status on the channel page, and the status settings."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import rivulet
from dashboard import create_app
from dashboard.backend import backend
from dashboard.sparkline import Series, channel_series, lag_series, rate, sparkline
from rivulet import keys
from rivulet.models import LagSample, now_ms

from .conftest import TOKEN, seg

HOSTILE_ID = 'r<script>alert(1)</script>"&\'x'


def row_of(page: str, client_id_attr: str) -> str:
    found = re.search(rf'<tr data-client="{re.escape(client_id_attr)}".*?</tr>', page, re.S)
    assert found, page[-3000:]
    return found.group(0)


# -- the SVG itself ------------------------------------------------------------

def test_label_and_class_are_escaped() -> None:
    svg = str(sparkline([Series('x"><script>', [(0, 1), (10, 3)])], HOSTILE_ID))
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&amp;&#39;x" in svg
    assert 'class="spark-line x&#34;&gt;&lt;script&gt;"' in svg
    assert "style" not in svg  # the CSP forbids inline style: classes only


def test_empty_history_is_a_note_not_an_empty_box() -> None:
    assert "no history" in str(sparkline([], "lag"))
    assert "no history" in str(sparkline([Series("spark-lag", [])], "lag"))


def test_one_point_is_a_dot() -> None:
    svg = str(sparkline([Series("spark-lag", [(5, 7)])], "lag"))
    assert "<circle" in svg and "<polyline" not in svg


def test_points_stay_inside_the_box_and_rise_with_lag() -> None:
    svg = str(sparkline([Series("spark-lag", [(0, 0), (50, 10), (100, 5)])], "lag"))
    pairs = re.search(r'points="([^"]+)"', svg)
    assert pairs
    coords = [tuple(float(v) for v in p.split(",")) for p in pairs.group(1).split()]
    assert all(0 <= x <= 120 and 0 <= y <= 24 for x, y in coords)
    assert coords[0][0] < coords[1][0] < coords[2][0]
    # SVG's y grows downwards: the peak is the highest point, lag 0 the lowest.
    assert coords[1][1] < coords[2][1] < coords[0][1]


def test_series_from_history_rows() -> None:
    rows = [LagSample(1, "a", 5, 9, 4), LagSample(1, "b", 9, 9, 0),
            LagSample(2, "a", 9, 12, 3), LagSample(2, "b", 2, 12, 10)]
    assert lag_series(rows) == {"a": [(1, 4), (2, 3)], "b": [(1, 0), (2, 10)]}
    assert channel_series(rows) == ([(1, 9), (2, 12)], [(1, 4), (2, 10)])


@pytest.mark.parametrize(("per_s", "shown"), [
    (None, "—"), (0.0, "0.0/s"), (0.04, "< 0.1/s"), (2.345, "2.3/s"), (42.4, "42/s"),
    (12345.6, "12,346/s"),
])
def test_rate(per_s: float | None, shown: str) -> None:
    assert rate(per_s) == shown


# -- the channel page ----------------------------------------------------------

def test_channel_page_draws_a_sparkline_per_subscriber_and_for_the_channel(
    client: FlaskClient, admin: rivulet.Admin, make_client: Callable[..., rivulet.Client]
) -> None:
    reader = make_client(HOSTILE_ID, "jobs")
    admin.set_history("jobs", interval=0.001)
    for batch in (["a"], ["b", "c"], ["d"]):
        reader.write("jobs", batch)
    page = client.get(f"/channels/{seg('jobs')}").get_data(as_text=True)
    row = row_of(page, 'r&lt;script&gt;alert(1)&lt;/script&gt;&#34;&amp;&#39;x')
    assert '<svg class="spark"' in row
    assert "<script>alert" not in page
    assert "Lag of r&lt;script&gt;" in row
    channel_card = re.search(r'id="channel-spark">(.*?)</dd>', page, re.S)
    assert channel_card and '<svg class="spark"' in channel_card.group(1)
    assert "spark-head" in channel_card.group(1) and "spark-lag" in channel_card.group(1)


def test_live_fragment_carries_the_sparklines(
    client: FlaskClient, admin: rivulet.Admin, make_client: Callable[..., rivulet.Client]
) -> None:
    reader = make_client("r1", "jobs")
    admin.set_history("jobs", interval=0.001)
    reader.write("jobs", ["a"])
    before = client.get(f"/channels/{seg('jobs')}/_live").get_data(as_text=True)
    reader.write("jobs", ["b", "c", "d"])
    after = client.get(f"/channels/{seg('jobs')}/_live").get_data(as_text=True)
    assert '<svg class="spark"' in after
    spark = re.compile(r'<svg class="spark".*?</svg>', re.S)
    assert spark.findall(before) != spark.findall(after)


def test_no_history_says_so(client: FlaskClient, admin: rivulet.Admin, store: Any,
                            make_client: Callable[..., rivulet.Client]) -> None:
    reader = make_client("r1", "jobs")
    admin.set_history("jobs", interval=None)
    reader.write("jobs", ["a"])
    store.delete(keys.history_key("jobs"))
    page = client.get(f"/channels/{seg('jobs')}").get_data(as_text=True)
    assert "no history" in row_of(page, "r1")
    assert "<svg" not in row_of(page, "r1")


def test_rates_eta_and_lag_time_cells(
    client: FlaskClient, admin: rivulet.Admin, make_client: Callable[..., rivulet.Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_client("slow", "jobs")
    make_client("fast", "jobs").write("jobs", ["a", "b", "c"])
    real = admin.subscribers

    def judged(channel: str) -> Any:
        # Catching up and with a pending of 0 (all its unread were pruned):
        # states too slow to build for real in a unit test.
        rows = real(channel)
        return rivulet.models.Rows(
            dataclasses.replace(s, status="catching up", read_rate=2.5, eta_s=42.0,
                                lag_seconds=7.0, pending=0)
            if s.client_id == "slow" else
            dataclasses.replace(s, status="behind", read_rate=None, eta_s=42.0)
            for s in rows)

    monkeypatch.setattr(admin, "subscribers", judged)
    page = client.get(f"/channels/{seg('jobs')}").get_data(as_text=True)
    slow, fast = row_of(page, "slow"), row_of(page, "fast")
    assert '<td class="num col-rate">2.5/s</td>' in slow
    assert '<td class="num col-eta">42 s</td>' in slow
    # LAG TIME shows whenever there is lag, even with nothing pending.
    assert '<td class="num col-lag_seconds">7.0 s</td>' in slow
    # ETA only while catching up; an unknown rate is a dash.
    assert '<td class="num col-eta">—</td>' in fast
    assert '<td class="num col-rate">—</td>' in fast
    assert 'class="status status-good status-catching-up">catching up' in slow
    assert 'class="status status-warn status-behind">behind' in fast
    assert re.search(r'<dt>Write rate</dt><dd>[^<]*/s</dd>|<dt>Write rate</dt><dd>—</dd>', page)


def test_worst_lag_card_takes_the_channel_status_colour(
    client: FlaskClient, store: Any, make_client: Callable[..., rivulet.Client]
) -> None:
    make_client("slow", "jobs").write("jobs", ["a", "b"])
    # Silent for ten minutes with two unread: stopped (red).
    store.zadd(keys.read_key("jobs"), {"slow": now_ms() - 600_000})
    store.hset(keys.history_settings_key("jobs"), "s:slow", now_ms() - 600_000)
    page = client.get(f"/channels/{seg('jobs')}").get_data(as_text=True)
    assert '<div class="stat-bad" id="worst-lag">' in page
    assert 'status-stopped">stopped' in row_of(page, "slow")


def test_a_channel_without_subscribers_has_no_status(
    client: FlaskClient, admin: rivulet.Admin
) -> None:
    admin.post("lonely", "a", create=True)
    overview = client.get("/?sort=status").get_data(as_text=True)
    assert re.search(r'<tr data-channel="lonely"[^>]*data-status="no subscribers"', overview)
    page = client.get(f"/channels/{seg('lonely')}").get_data(as_text=True)
    assert 'class="status status-none status-no-subscribers">no subscribers' in page


# -- settings ------------------------------------------------------------------

def test_status_window_and_stop_after_come_from_the_environment(
    real_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kw = real_redis.connection_pool.connection_kwargs
    monkeypatch.setenv("RIVULET_STATUS_WINDOW", "30")
    monkeypatch.setenv("RIVULET_STOP_AFTER", "12.5")
    app = create_app({"REDIS_URL": f"redis://{kw['host']}:{kw['port']}/0",
                      "DASHBOARD_TOKEN": TOKEN, "SECRET_KEY": "x"})
    with app.app_context():
        assert backend().admin.window == 30.0
        assert backend().admin.stop_after == 12.5


def test_status_settings_default_to_the_library_s(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert app.config["STATUS_WINDOW"] == 120.0
    assert app.config["STOP_AFTER"] == 60.0
