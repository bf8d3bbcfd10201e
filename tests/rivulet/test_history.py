"""Lag over time (SPEC section 8): history recorded in Redis by the library's
own calls, statuses judged over a window, rates, ETA and a time lag that
survives pruning. Real clients are driven into each state with short
settings (interval 0.2 s, window 2 s)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import rivulet
from rivulet import keys

from ..conftest import RedisServer
from .test_oom import fill, refuses_writes

MakeClient = Callable[..., rivulet.Client]
INTERVAL, WINDOW, STOP_AFTER = 0.2, 2.0, 1.5


def admin_for(backend: Any) -> rivulet.Admin:
    return rivulet.Admin(backend, window=WINDOW, stop_after=STOP_AFTER)


def by_client(rows: Any) -> dict[str, Any]:
    return {r.client_id: r for r in rows}


def within_factor_2(measured: float | None, truth: float) -> bool:
    return measured is not None and truth / 2 <= measured <= truth * 2


def test_every_state_from_real_clients(backend: Any, make_client: MakeClient) -> None:
    writer = make_client("writer", channel_ids="ch")
    admin = admin_for(backend)
    admin.set_history("ch", interval=INTERVAL, keep=60)
    caught = make_client("caught", channel_ids="ch")
    faller = make_client("faller", channel_ids="ch")
    stuck = make_client("stuck", channel_ids="ch", auto_commit=False)
    gone = make_client("gone", channel_ids="ch")
    writer.write("ch", [f"backlog {i}" for i in range(200)])
    catcher = make_client("catcher")
    catcher.subscribe("ch", "earliest")
    gone.read(message_limit=1)

    heads: list[tuple[float, int]] = []   # (time, head) after each write
    reads: list[tuple[float, int]] = []   # (time, faller's index) after each read
    start = time.monotonic()
    while time.monotonic() - start < WINDOW + 0.8:
        ids = writer.write("ch", ["x"] * 5)
        heads.append((time.monotonic(), ids[-1]))
        caught.read()
        catcher.read(message_limit=9)
        faller.read(message_limit=2)
        reads.append((time.monotonic(), faller.subscribe("ch")["ch"]))
        assert stuck.read(message_limit=1)  # the same message again: never committed
        time.sleep(0.05)  # pacing the load, not waiting for an event
    make_client("newcomer", channel_ids="ch")
    ids = writer.write("ch", "one more")
    heads.append((time.monotonic(), ids[-1]))
    caught.read()
    backend.zadd(keys.channel_key("ch"), {"ahead": ids[-1] + 5})  # a stale, planted index

    rows = by_client(admin.subscribers("ch"))
    assert {name: row.status for name, row in rows.items()} == {
        "writer": "stopped",  # subscribed, writes, never reads: behind and gone as a reader
        "caught": "caught up",
        "catcher": "catching up",
        "faller": "falling behind",
        "stuck": "stalled",
        "gone": "stopped",
        "newcomer": "behind",  # never read, but new: never stopped within stop_after
        "ahead": "beyond head",
    }
    assert rows["catcher"].eta_s is not None and rows["catcher"].eta_s > 0
    assert all(row.eta_s is None for name, row in rows.items() if name != "catcher")
    assert rows["stuck"].read_rate == 0.0

    def rate(log: list[tuple[float, int]]) -> float:
        end_t, end_v = log[-1]
        begin_t, begin_v = next((t, v) for t, v in log if t >= end_t - WINDOW)
        return (end_v - begin_v) / (end_t - begin_t)

    assert within_factor_2(rows["faller"].read_rate, rate(reads))
    info = admin.channel("ch")
    assert within_factor_2(info.write_rate, rate(heads))
    assert info.status == "stopped"  # the worst of its subscribers
    assert admin.channels()[0].status == "stopped"
    # A restarted dashboard (a new Admin) judges from the same history.
    again = by_client(admin_for(backend).subscribers("ch"))
    assert {n: r.status for n, r in again.items()} == {n: r.status for n, r in rows.items()}


def test_history_survives_new_clients_and_admin(backend: Any, make_client: MakeClient) -> None:
    reader = make_client("reader", channel_ids="ch")
    admin_for(backend).set_history("ch", interval=0.05, keep=60)
    reader.write("ch", ["a", "b"])
    reader.close()
    time.sleep(0.06)  # let one interval pass so the next call records again
    again = make_client("reader")  # a restarted consumer: new object, same id
    assert [m["data"] for m in again.read()["ch"]] == ["a", "b"]
    rows = admin_for(backend).history("ch")
    assert [(r.client_id, r.index, r.head_id, r.lag) for r in rows] == [
        ("reader", 0, 2, 2), ("reader", 2, 2, 0)]
    assert rows[0].ts < rows[1].ts
    assert admin_for(backend).history("ch", since_ts=rows[1].ts) == rows[1:]
    assert admin_for(backend).history("ch", client_id="nobody") == []


def test_at_most_one_snapshot_per_interval(backend: Any, make_client: MakeClient) -> None:
    a, b = make_client("a", channel_ids="ch"), make_client("b", channel_ids="ch")
    admin = admin_for(backend)
    admin.set_history("ch", interval=3600, keep=7200)
    for _ in range(5):
        a.write("ch", "x")
        b.read()
        a.commit(a.read())
    rows = admin.history("ch")
    assert [(r.client_id, r.index, r.head_id) for r in rows] == [("a", 0, 1), ("b", 0, 1)]
    assert backend.llen(keys.history_key("ch")) == 1


def test_history_is_bounded_by_keep(backend: Any, make_client: MakeClient) -> None:
    writer = make_client("w", channel_ids="ch")
    admin_for(backend).set_history("ch", interval=0.001, keep=0.003)  # at most 4 kept
    for _ in range(40):
        writer.write("ch", "x")
        time.sleep(0.002)  # more than one interval between calls
    assert 2 <= backend.llen(keys.history_key("ch")) <= 4


def test_interval_none_stops_recording(backend: Any, make_client: MakeClient) -> None:
    writer = make_client("w", channel_ids="ch")
    admin = admin_for(backend)
    admin.set_history("ch", interval=None)
    writer.write("ch", ["x", "y"])
    writer.read()
    assert admin.history("ch") == []
    admin.set_history("ch")  # the defaults again: the next call records
    writer.write("ch", "z")
    assert [(r.index, r.head_id) for r in admin.history("ch")] == [(2, 3)]


def test_set_history_refuses_bad_settings_and_unknown_channels(backend: Any,
                                                                make_client: MakeClient) -> None:
    make_client("w", channel_ids="ch")
    admin = admin_for(backend)
    for bad in ({"interval": 0}, {"interval": -1}, {"keep": float("inf")},
                {"interval": 10, "keep": 5}, {"interval": "10"},
                # Finite in seconds, but not as ms, or past any sane setting.
                {"interval": 1, "keep": 1e308}, {"interval": 1e308, "keep": 1e308},
                # A snapshot on nearly every call is not "once per interval".
                {"interval": 1e-7}):
        with pytest.raises(ValueError):
            admin.set_history("ch", **bad)
    with pytest.raises(rivulet.ChannelNotFoundError):
        admin.set_history("nowhere", interval=1)
    with pytest.raises(rivulet.ChannelNotFoundError):
        admin.history("nowhere")
    with pytest.raises(TypeError):
        admin.history("ch", since_ts="yesterday")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        admin.history("ch", since_ts=-1)
    assert not backend.exists(keys.history_settings_key("nowhere"))


def test_history_is_gone_with_the_channel(backend: Any, make_client: MakeClient) -> None:
    writer = make_client("w", channel_ids=["ch", "other"])
    admin = admin_for(backend)
    admin.set_history("ch", interval=1, keep=10)
    writer.write("ch", "x")
    writer.write("other", "x")
    assert backend.exists(keys.history_key("ch"), keys.history_settings_key("ch")) == 2
    assert admin.delete_channel("ch")
    assert backend.exists(keys.history_key("ch"), keys.history_settings_key("ch")) == 0
    writer.unsubscribe("other")  # the last subscriber leaves: the channel goes
    assert backend.exists(keys.history_key("other"), keys.history_settings_key("other")) == 0


def test_time_lag_survives_pruning(backend: Any, make_client: MakeClient) -> None:
    make_client("slow", channel_ids="ch")
    writer = make_client("w", channel_ids="ch")
    admin = admin_for(backend)
    admin.set_history("ch", interval=0.05, keep=60)
    before = time.time()
    writer.write("ch", "first")
    for _ in range(6):
        time.sleep(0.1)  # time passing is what this test is about
        writer.write("ch", "more")
    admin.prune("ch", upto_id=6)  # six unread messages pruned, one left
    row = by_client(admin.subscribers("ch"))["slow"]
    elapsed = time.time() - before
    assert (row.lag, row.pending) == (7, 1)
    # Not the age of message 7 (just written): the time since message 1.
    assert 0.5 <= row.lag_seconds <= elapsed + 0.01
    # The channel's worst time lag is the same, asked a moment later.
    assert row.lag_seconds <= admin.channel("ch").max_lag_seconds <= time.time() - before + 0.01


@pytest.fixture
def full_redis() -> Iterator[Any]:
    server = RedisServer("--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
    client = server.client()
    yield client
    client.close()
    server.stop()


@pytest.mark.slow
def test_a_full_redis_is_drained_with_history_due(full_redis: Any) -> None:
    writer = rivulet.Client(redis=full_redis, client_id="w", channel_ids="ch")
    slow = rivulet.Client(redis=full_redis, client_id="slow", channel_ids="ch",
                          auto_commit=False)
    rivulet.Admin(full_redis).set_history("ch", interval=0.001, keep=3600)
    fill(writer, "ch")
    assert refuses_writes(full_redis)
    for _ in range(3):
        time.sleep(0.002)  # a snapshot is due on every call
        inbox = slow.read(message_limit=10)
        assert len(inbox["ch"]) == 10
        assert slow.commit(inbox)["ch"] == inbox["ch"][-1]["id"]
    writer.close()
    slow.close()


def test_memory_per_subscriber_hour(real_redis: Any) -> None:
    """README.rst states about 16 KiB (at most 18 KiB) per subscriber-hour at the defaults
    (360 snapshots of 32-character client ids with 7-digit indexes)."""
    clients = [rivulet.Client(redis=real_redis, client_id=f"{i:032x}", channel_ids="ch")
               for i in range(10)]
    real_redis.set(keys.id_key("ch"), 1_000_000)
    for client in clients:
        client.subscribe("ch", "latest")
    rivulet.Admin(real_redis).set_history("ch", interval=0.001, keep=3600)
    hist = keys.history_key("ch")
    while real_redis.llen(hist) < 360:
        clients[0].read()
    real_redis.ltrim(hist, -360, -1)
    used = real_redis.memory_usage(hist, samples=0)
    assert used / len(clients) <= 18 * 1024
    for client in clients:
        client.close()


@pytest.mark.slow
def test_the_demo_shows_every_status_within_a_minute(redis_server: RedisServer) -> None:
    from dashboard import demo

    redis_server.client().flushall()
    running = demo.Demo(redis_server.url)
    running.start()
    admin = rivulet.Admin(redis_server.url, window=demo.DEMO_WINDOW_S,
                          stop_after=demo.DEMO_STOP_AFTER_S)
    wanted = {"caught up", "catching up", "behind", "beyond head", "falling behind", "stalled",
              "stopped"}
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    try:
        while not wanted <= seen and time.monotonic() < deadline:
            rows = admin.subscribers_many(demo.CHANNELS)
            seen |= {row.status for found in rows.values() for row in found}
            time.sleep(0.5)  # polling what an operator would see
    finally:
        running.stop()
        admin.close()
    assert seen >= wanted, wanted - seen


# The shipped alerting rules and Grafana dashboard are checked against a real
# scrape in tests/dashboard/test_metrics_contrib.py.


def test_broken_history_keys_cost_nothing_but_history(backend: Any,
                                                      make_client: MakeClient) -> None:
    # Written around the library: the wrong types under both history keys.
    backend.set(keys.history_key("ch"), "junk")
    backend.rpush(keys.history_settings_key("ch"), "junk")
    writer = make_client("w", channel_ids="ch")
    reader = make_client("r", channel_ids="ch", auto_commit=False)
    assert writer.write("ch", ["a", "b"]) == [1, 2]
    inbox = reader.read()
    assert reader.commit(inbox) == {"ch": 2}
    admin = admin_for(backend)
    assert {r.client_id: r.status for r in admin.subscribers("ch")} == {
        "w": "behind", "r": "caught up"}
    assert admin.channel("ch").status == "behind"
    with pytest.raises(rivulet.RivuletError, match="WRONGTYPE"):
        admin.history("ch")
    assert backend.get(keys.history_key("ch")) in (b"junk", "junk")


def test_recording_costs_one_command_except_once_per_interval(real_redis: Any) -> None:
    writer = rivulet.Client(redis=real_redis, client_id="w", channel_ids="ch")
    reader = rivulet.Client(redis=real_redis, client_id="r", channel_ids="ch",
                            auto_commit=False)
    rivulet.Admin(real_redis).set_history("ch", interval=3600, keep=7200)
    writer.write("ch", "due")  # the first call after set_history records

    def calls() -> dict[str, int]:
        stats = real_redis.info("commandstats")
        return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0)
                for name in ("hmget", "rpush", "ltrim", "zrange", "hset")}

    before = calls()
    for _ in range(10):
        writer.write("ch", "x")
        reader.commit(reader.read())
    after = calls()
    delta = {name: after[name] - before[name] for name in after}
    # write.lua remembers in its meta hash (which it HMGETs anyway) when the
    # next snapshot is due, so a write costs nothing more; a read and a commit
    # one HMGET each; and no snapshot (RPUSH, LTRIM, its ZRANGE) in between.
    assert delta["hmget"] == 10 * (1 + 1 + 1)
    assert (delta["rpush"], delta["ltrim"]) == (0, 0)
    assert real_redis.llen(keys.history_key("ch")) == 1
    writer.close()
    reader.close()


def test_a_new_history_interval_reaches_the_next_write(real_redis: Any) -> None:
    # The write's memory of when a snapshot is due must not outlive the
    # settings it came from.
    writer = rivulet.Client(redis=real_redis, client_id="w", channel_ids="ch")
    admin = rivulet.Admin(real_redis)
    admin.set_history("ch", interval=3600, keep=7200)
    writer.write("ch", "records")  # due: the first call after set_history
    writer.write("ch", "within the hour")
    assert real_redis.llen(keys.history_key("ch")) == 1
    admin.set_history("ch", interval=None)
    writer.write("ch", "stopped")
    admin.set_history("ch", interval=3600, keep=7200)
    writer.write("ch", "records again")
    assert real_redis.llen(keys.history_key("ch")) == 2
    writer.close()


def test_a_snapshot_taken_by_a_read_is_not_taken_again_by_a_write(real_redis: Any) -> None:
    writer = rivulet.Client(redis=real_redis, client_id="w", channel_ids="ch")
    reader = rivulet.Client(redis=real_redis, client_id="r", channel_ids="ch")
    admin = rivulet.Admin(real_redis)
    admin.set_history("ch", interval=3600, keep=7200)
    reader.read()  # records the interval's one snapshot
    for _ in range(3):
        writer.write("ch", "x")  # its memory is empty: it asks, and is told not yet
    assert real_redis.llen(keys.history_key("ch")) == 1
    writer.close()
    reader.close()
