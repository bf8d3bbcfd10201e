"""/metrics's status, rates and ETA against the listing API, and the shipped
Prometheus rules and Grafana dashboard against a real scrape (SPEC 8, issue 10).

The channel here is put in six states by planting its lag history (the
snapshots record_history writes, in its format) and the subscribe and read
times, relative to Redis's own clock: no waiting for windows to pass.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import rivulet
from dashboard import create_app
from rivulet import keys, status
from tests.dashboard.conftest import TOKEN, bearer, client_factory

CONTRIB = Path(__file__).parents[2] / "contrib"
WINDOW, STOP_AFTER = 120, 60
NAME = re.compile(r"\brivulet_[a-z_]+\b")


def _server_ms(redis: Any) -> int:
    seconds, micros = redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _snapshot(ts: int, head: int, indexes: dict[str, int]) -> str:
    return "\n".join([f"{ts} {head}", *(f"{i}\t{c}" for c, i in indexes.items())])


def six_states(redis: Any, make_client: Callable[..., rivulet.Client]) -> dict[str, str]:
    """Channel "st" with a subscriber in each of six statuses, and channel
    "cap" whose reader lost messages to pruning (its time lag then comes from
    history older than the window); returns client -> expected status on "st"."""
    writer = make_client("writer", channel_ids=["st", "cap"])
    readers = {c: make_client(c) for c in ("cu", "catch", "fall", "stall", "stop", "new")}
    for reader in readers.values():
        reader.subscribe("st", "earliest")
    writer.write("st", [f"m{i}" for i in range(100)])
    for client, limit in (("cu", 512), ("catch", 60), ("fall", 5), ("stall", 10)):
        readers[client].read(message_limit=limit)
    slow = make_client("slow")
    slow.subscribe("cap", "earliest")
    writer.write("cap", [f"c{i}" for i in range(10)])
    redis.zpopmin(keys.msg_key("cap"), 5)  # pruned unread, as a retention cap would
    now = _server_ms(redis)
    old = now - 1_000_000
    redis.delete(keys.history_key("st"), keys.history_key("cap"))
    # Many snapshots before the window's start: only the newest of them counts.
    early = [_snapshot(now - 900_000 + k * 10_000, 50, {"stall": 0}) for k in range(40)]
    redis.rpush(keys.history_key("st"), *early,
                _snapshot(now - 300_000, 50, {"cu": 0, "catch": 0, "fall": 0, "stall": 10,
                                              "stop": 0, "new": 0}),
                _snapshot(now - 60_000, 80, {"cu": 70, "catch": 30, "fall": 2, "stall": 10,
                                             "stop": 0, "new": 0}))
    redis.rpush(keys.history_key("cap"), _snapshot(now - 500_000, 0, {"slow": 0}),
                _snapshot(now - 400_000, 10, {"slow": 0}))
    for client in ("cu", "catch", "fall", "stall", "stop"):
        redis.hset(keys.history_settings_key("st"), f"s:{client}", old)
    redis.hset(keys.history_settings_key("cap"), "s:slow", old)
    redis.zrem(keys.read_key("st"), "stop")  # never read since subscribing long ago
    return {"cu": status.CAUGHT_UP, "catch": status.CATCHING_UP, "fall": status.FALLING_BEHIND,
            "stall": status.STALLED, "stop": status.STOPPED, "new": status.BEHIND}


def test_the_scan_judges_as_the_listing_does(store: Any, make_client: Any) -> None:
    expected = six_states(store, make_client)
    admin = rivulet.Admin(store, window=WINDOW, stop_after=STOP_AFTER)
    started = time.monotonic()
    listed = {c.name: c for c in admin.channels()}
    subs = admin.subscribers_many(listed)
    scanned = {row.name: row for row in admin.lag_scan()}
    slack = time.monotonic() - started + 0.002  # the two read Redis's clock apart
    judged = {s.client_id: s.status for s in subs["st"]}
    assert {c: judged[c] for c in expected} == expected
    for name in ("st", "cap"):
        assert scanned[name].write_rate == pytest.approx(listed[name].write_rate, rel=1e-3)
        theirs = {s.client_id: s for s in subs[name]}
        assert {s.client_id for s in scanned[name].subscribers} == set(theirs)
        for sub in scanned[name].subscribers:
            api = theirs[sub.client_id]
            assert (sub.status, sub.lag, sub.index) == (api.status, api.lag, api.index)
            assert sub.lag_seconds == pytest.approx(api.lag_seconds, rel=1e-3, abs=slack)
            for ours, their in ((sub.read_rate, api.read_rate), (sub.eta_s, api.eta_s)):
                assert (ours is None) == (their is None)
                if ours is not None:
                    assert ours == pytest.approx(their, rel=1e-3)
    catch = next(s for s in scanned["st"].subscribers if s.client_id == "catch")
    assert catch.read_rate == pytest.approx(0.2, rel=1e-3)  # 60 read in 300 s
    assert catch.eta_s == pytest.approx(1200, rel=1e-3)  # lag 40, closing 10 in 300 s
    assert scanned["st"].write_rate == pytest.approx(50 / 300, rel=1e-3)
    # Pruning cut the stored age short; the history says 400 s.
    slow = next(s for s in scanned["cap"].subscribers if s.client_id == "slow")
    assert slow.lag_seconds == pytest.approx(400, abs=slack + 1)


def _shipped_names() -> tuple[set[str], set[str]]:
    """Metric names and status label values the rules and the dashboard use."""
    rules = yaml.safe_load((CONTRIB / "prometheus" / "rivulet-alerts.yml").read_text("utf-8"))
    texts: list[str] = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            texts.append(rule["expr"])
            texts.extend(rule.get("annotations", {}).values())  # they query too
    board = json.loads((CONTRIB / "grafana" / "rivulet-dashboard.json").read_text("utf-8"))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "query", "definition") and isinstance(value, str):
                    texts.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(board)
    joined = "\n".join(texts)
    return set(NAME.findall(joined)), set(re.findall(r'status\s*=~?\s*"([^"]+)"', joined))


def test_the_shipped_rules_and_dashboard_use_only_what_a_real_scrape_serves(
    real_redis: Any,
) -> None:
    makers = client_factory(real_redis)
    six_states(real_redis, next(makers))
    admin = rivulet.Admin(real_redis, window=WINDOW, stop_after=STOP_AFTER)
    app = create_app({"TESTING": True, "ADMIN": admin, "DASHBOARD_TOKEN": TOKEN,
                      "REDIS_URL": "redis://127.0.0.1:1/0", "SECRET_KEY": "test secret"})
    reply = app.test_client().get("/metrics", headers=bearer())
    assert reply.status_code == 200
    samples = [line for line in reply.get_data(as_text=True).splitlines()
               if line and not line.startswith("#")]
    served = {line.split("{", 1)[0] for line in samples}
    served_statuses = set(re.findall(r'status="([^"]+)"', "\n".join(samples)))
    used, statuses = _shipped_names()
    assert len(used) >= 8 and used <= served, used - served
    # Every status a rule or panel picks is one the library judges, and
    # this scrape served each one the alerts fire on.
    assert statuses and statuses <= set(status.SEVERITY), statuses - set(status.SEVERITY)
    assert statuses - {status.BEYOND_HEAD} <= served_statuses, statuses - served_statuses
    # One status series per subscriber (7 on "st", 2 on "cap"), and it is 1.
    status_lines = [s for s in samples if s.startswith("rivulet_subscriber_status{")]
    assert len(status_lines) == 9 and all(s.endswith(" 1.0") for s in status_lines)
    next(makers, None)  # close the clients
