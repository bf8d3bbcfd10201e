"""The management API on data written around the library, its round trips
(never KEYS, constant per page) and its connections; on every backend.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest

import rivulet
from rivulet import (
    Admin,
    BackendError,
    InvalidNameError,
)
from rivulet import keys as rivulet_keys
from rivulet.names import validate_name

from .admin_support import (
    MakeClient,
    all_keys,
    by_client,
    channel_with,
    foreign_index,
    foreign_message,
    id_key,
    index_key,
    msg_key,
    names,
    server_ms,
    snapshot,
    sub_key,
)

# -- malformed data -----------------------------------------------------------------------------


def test_non_json_member_is_shown_not_fatal(admin: Admin, backend: Any,
                                            make_client: MakeClient) -> None:
    writer = channel_with(make_client, "ch", 1, "w")
    backend.zadd(msg_key("ch"), {"not json {": 2})
    backend.zadd(msg_key("ch"), {"[1, 2]": 3})
    backend.set(id_key("ch"), 3)
    writer.write("ch", "good")
    got = admin.messages("ch", newest_first=False)
    assert [m["id"] for m in got] == [1, 2, 3, 4]
    assert got[1]["malformed"] is True and got[1]["data"] == "not json {"
    assert got[2]["malformed"] is True and got[2]["data"] == "[1, 2]"
    assert "malformed" not in got[0] and "malformed" not in got[3]
    (row,) = admin.channels()
    assert (row.message_count, row.head_id, row.error) == (4, 4, None)
    first_ts = got[0]["ts"]
    before = server_ms(backend)
    (sub,) = admin.subscribers("ch")
    after = server_ms(backend)
    assert (sub.lag, sub.pending) == (4, 4)
    assert (before - first_ts) / 1000 <= sub.lag_seconds <= (after - first_ts) / 1000


def test_malformed_oldest_message(admin: Admin, backend: Any, make_client: MakeClient) -> None:
    writer = channel_with(make_client, "ch", 0)
    backend.zadd(msg_key("ch"), {"garbage": 1})
    backend.set(id_key("ch"), 1)
    writer.write("ch", "good")
    info = admin.channel("ch")
    assert (info.oldest_id, info.oldest_ts, info.newest_id) == (1, None, 2)
    assert info.newest_ts == admin.messages("ch", limit=1)[0]["ts"]
    (sub,) = admin.subscribers("ch")
    assert (sub.lag, sub.pending) == (2, 2)


def test_a_malformed_member_does_not_stop_age_pruning(admin: Admin, backend: Any,
                                                    make_client: MakeClient) -> None:
    # One unreadable member must not switch off older_than and max_age for
    # good: the old messages stored after it still go (and it, with its lower
    # id, goes with them).
    writer = channel_with(make_client, "ch", 0)
    now = server_ms(backend)
    backend.zadd(msg_key("ch"), {"garbage": 1})
    foreign_message(backend, "ch", 2, now - 7_200_000, "old")
    foreign_message(backend, "ch", 3, now - 3_600_000, "old")
    writer.write("ch", "fresh")
    assert admin.prune("ch", older_than=60) == 3
    assert [m["id"] for m in admin.messages("ch")] == [4]
    admin.prune("ch", upto_id=4)
    backend.zadd(msg_key("ch"), {"garbage again": 5})
    foreign_message(backend, "ch", 6, now - 3_600_000, "old")
    writer.write("ch", "fresh again")
    assert admin.set_retention("ch", max_age=60) == 2
    assert [m["id"] for m in admin.messages("ch")] == [7]


@pytest.mark.parametrize("key_of", [msg_key, id_key, sub_key],
                         ids=["msg-as-string", "id-as-zset", "channel-as-string"])
def test_key_of_the_wrong_type_is_reported_on_the_row(admin: Admin, backend: Any,
                                                      make_client: MakeClient,
                                                      key_of: Callable[[str], str]) -> None:
    channel_with(make_client, "good", 2, "a")
    channel_with(make_client, "broken", 2, "b")
    backend.delete(key_of("broken"))
    if key_of is id_key:
        backend.zadd(key_of("broken"), {"x": 1})
    else:
        backend.set(key_of("broken"), "oops")
    rows = {row.name: row for row in admin.channels()}
    assert sorted(rows) == ["broken", "good"]
    assert rows["good"].error is None and rows["good"].head_id == 2
    assert rows["broken"].error
    rows_page, total = admin.channel_page(limit=10)
    assert total == 2 and [r.error is None for r in rows_page] == [False, True]
    assert admin.channel("broken").error
    # One channel's subscriber list cannot be shown: a library error, not redis-py's.
    with pytest.raises(BackendError):
        admin.subscribers("broken")
    assert [s.lag for s in admin.subscribers("good")] == [2]


def test_foreign_channel_key_of_wrong_type_after_rebuild(admin: Admin, backend: Any,
                                                         make_client: MakeClient) -> None:
    channel_with(make_client, "good", 1)
    backend.rpush(msg_key("listy"), "a", "b")
    admin.rebuild_registry()
    rows = {row.name: row for row in admin.channels()}
    assert sorted(rows) == ["good", "listy"]
    assert rows["listy"].error and rows["good"].error is None


def test_foreign_index_key_of_wrong_type_does_not_break_clients(
    admin: Admin, backend: Any, make_client: MakeClient
) -> None:
    channel_with(make_client, "good", 2, "a")
    backend.set(index_key("weird"), "not a zset")
    admin.rebuild_registry()
    rows = {c.client_id: c for c in admin.clients()}
    assert rows["a"].lags == {"good": 2}


# -- rebuild_registry and data written around the library -----------------------------------------


def test_rebuild_registry_finds_and_forgets(admin: Admin, backend: Any,
                                            make_client: MakeClient) -> None:
    channel_with(make_client, "lib", 1, "libclient")
    now = server_ms(backend)
    foreign_message(backend, "foreign/ch #1", 1, now - 1000, "hi")
    foreign_index(backend, "foreign/ch #1", "fx", 0)
    backend.set(id_key("only-counter"), 4)
    backend.zadd(rivulet_keys.CHANNELS, {"ghost": 0})
    assert names(admin.channels()) == ["lib"]  # the registry does not know it yet
    assert admin.rebuild_registry() == 3
    assert names(admin.channels()) == ["foreign/ch #1", "lib", "only-counter"]
    assert admin.channel_count() == 3
    assert backend.zscore(rivulet_keys.CHANNELS, "ghost") is None
    clients = {c.client_id: c for c in admin.clients()}
    assert clients["fx"].channels == {"foreign/ch #1": 0}
    assert clients["fx"].lags == {"foreign/ch #1": 1}
    assert admin.channel("only-counter").head_id == 4
    # Idempotent.
    assert admin.rebuild_registry() == 3
    assert names(admin.channels()) == ["foreign/ch #1", "lib", "only-counter"]


def test_foreign_keys_with_invalid_channel_names_are_flagged(admin: Admin, backend: Any,
                                                             make_client: MakeClient) -> None:
    # Keys no rivulet client could write: an empty hash tag, a brace in the
    # name, a name no URL can carry. A listing may leave them out or flag them,
    # but never offer them as channels the API would then refuse.
    channel_with(make_client, "ok", 1)
    backend.zadd("rvl:msg:{}", {"x": 1})
    backend.set("rvl:id:{a{b}", 3)
    backend.set("rvl:id:{.}", 3)
    admin.rebuild_registry()
    rows = admin.channels()
    assert "ok" in names(rows)
    for row in rows:
        try:
            validate_name(row.name)
        except InvalidNameError:
            assert row.error, f"{row.name!r} listed as a usable channel"


def test_management_calls_on_one_channel_do_not_need_the_registry(
    admin: Admin, backend: Any
) -> None:
    foreign_message(backend, "unlisted", 1, server_ms(backend), "x")
    foreign_index(backend, "unlisted", "fx", 0)
    assert admin.channels() == []
    assert admin.channel("unlisted").head_id == 1
    assert [s.lag for s in admin.subscribers("unlisted")] == [1]
    assert admin.count("unlisted") == 1
    assert admin.delete_channel("unlisted") is True
    assert all_keys(backend) == set()


def test_lag_of_data_written_by_another_client(admin: Admin, backend: Any) -> None:
    now = server_ms(backend)
    # Messages 1..5 were written and already pruned; 6..10 are stored, with
    # another client's JSON layout (spaces, different key order).
    backend.set(id_key("ext"), 10)
    stamps = {i: now - (11 - i) * 60_000 for i in range(6, 11)}
    for i, ts in stamps.items():
        member = json.dumps({"data": f"d{i}", "src": "other", "ts": ts, "id": i})
        backend.zadd(msg_key("ext"), {member: i})
    for client, index in (("slow", 3), ("mid", 8), ("done", 10), ("ahead", 12)):
        foreign_index(backend, "ext", client, index)

    before = server_ms(backend)
    rows = by_client(admin.subscribers("ext"))
    info = admin.channel("ext")
    after = server_ms(backend)

    def age_bounds(ts: int) -> tuple[float, float]:
        return (before - ts) / 1000, (after - ts) / 1000

    slow, mid, done, ahead = rows["slow"], rows["mid"], rows["done"], rows["ahead"]
    assert (slow.index, slow.lag, slow.pending, slow.pruned_unread) == (3, 7, 5, 2)
    low, high = age_bounds(stamps[6])
    assert low <= slow.lag_seconds <= high
    assert (mid.index, mid.lag, mid.pending) == (8, 2, 2)
    low, high = age_bounds(stamps[9])
    assert low <= mid.lag_seconds <= high
    assert (done.lag, done.pending, done.lag_seconds, done.beyond_head) == (0, 0, 0.0, False)
    assert (ahead.lag, ahead.pending, ahead.beyond_head) == (0, 0, True)
    for row in rows.values():
        assert row.last_read_ts is None

    assert (info.head_id, info.message_count, info.oldest_id, info.newest_id) == (10, 5, 6, 10)
    assert (info.oldest_ts, info.newest_ts) == (stamps[6], stamps[10])
    assert (info.subscriber_count, info.max_lag) == (4, 7)
    low, high = age_bounds(stamps[6])
    assert low <= info.max_lag_seconds <= high
    assert [m["data"] for m in admin.messages("ext", limit=2)] == ["d10", "d9"]


# -- reads never write ----------------------------------------------------------------------


def test_read_only_calls_write_nothing(admin: Admin, backend: Any,
                                       make_client: MakeClient) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe(["x", "y"])
    b.subscribe("x")
    a.write("x", ["1", "2", "3"])
    b.read(message_limit=1)
    admin.set_retention("y", max_messages=5)
    before = snapshot(backend)
    admin.channels()
    admin.channels(match="x*", offset=0, limit=1)
    admin.channel_page(limit=1)
    admin.channel_count()
    admin.channel_count(match="*")
    admin.channel("x")
    admin.subscribers("x")
    admin.subscribers_many(["x", "y"])
    admin.clients()
    admin.client_count()
    admin.count("x")
    admin.messages("x")
    admin.messages("x", newest_first=False, after_id=1)
    assert snapshot(backend) == before


# -- round trips and KEYS (real redis-server only) ------------------------------------


class RoundTrips:
    """Counts what redis-py sends: one packed send is one round trip (a
    pipeline is one send)."""

    def __init__(self) -> None:
        self.count = 0

    def measure(self, call: Callable[[], Any]) -> tuple[int, Any]:
        call()  # warm up: connections made, scripts loaded
        self.count = 0
        result = call()
        return self.count, result


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    from redis.connection import AbstractConnection

    counter = RoundTrips()
    original = AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        counter.count += 1
        original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return counter


def command_stats(r: Any) -> set[str]:
    return {name.removeprefix("cmdstat_") for name in r.info("commandstats")}


def populate_channels(r: Any, count: int) -> None:
    """``count`` channels, each with a message one subscriber has not read."""
    r.flushall()
    channels = [f"ch{i:04d}" for i in range(count)]
    writer = rivulet.Client(redis=r, client_id="writer")
    reader = rivulet.Client(redis=r, client_id="reader")
    writer.subscribe(channels)
    reader.subscribe(channels)
    for channel in channels:
        writer.write(channel, ["one", "two"])
    reader.read(message_limit=1)


def populate_subscribers(r: Any, count: int) -> None:
    """One channel with ``count`` subscribers at different indexes, each
    also reading a channel of its own."""
    r.flushall()
    writer = rivulet.Client(redis=r, client_id="writer")
    writer.subscribe("big")
    for i in range(count):
        client = rivulet.Client(redis=r, client_id=f"sub{i:04d}")
        client.subscribe(["big", f"own{i:04d}"])
    writer.write("big", ["1", "2", "3"])
    for i in range(0, count, 2):
        rivulet.Client(redis=r, client_id=f"sub{i:04d}").read(message_limit=1)


CHANNEL_PAGES: dict[str, Callable[[Admin], Any]] = {
    "channels(limit=50)": lambda a: a.channels(limit=50),
    "channels()": lambda a: a.channels(),
    "channels(offset=5, limit=5)": lambda a: a.channels(offset=5, limit=5),
    "channels(match, limit)": lambda a: a.channels(match="ch*", limit=50),
    "channel_page(limit=50)": lambda a: a.channel_page(limit=50),
    "channel_page(match, offset, limit)": lambda a: a.channel_page("ch0*", 2, 50),
    "channel_count()": lambda a: a.channel_count(),
    "channel_count(match)": lambda a: a.channel_count("ch*"),
}


def test_channel_pages_cost_constant_round_trips(real_redis: Any,
                                                 round_trips: RoundTrips) -> None:
    admin = Admin(real_redis)
    costs: dict[int, dict[str, int]] = {}
    for size in (10, 1000):
        populate_channels(real_redis, size)
        real_redis.config_resetstat()
        costs[size] = {}
        for label, call in CHANNEL_PAGES.items():
            costs[size][label], _ = round_trips.measure(lambda call=call: call(admin))
        rows = admin.channels()
        assert len(rows) == size
        assert all((r.head_id, r.message_count, r.max_lag) == (2, 2, 2) for r in rows)
        assert len(admin.channels(limit=50)) == min(50, size)
        used = command_stats(real_redis)
        assert "keys" not in used
        assert "scan" not in used  # listing never walks the keyspace
    assert all(cost > 0 for cost in costs[10].values())
    assert costs[10] == costs[1000]


def test_subscriber_and_client_lists_cost_constant_round_trips(
    real_redis: Any, round_trips: RoundTrips
) -> None:
    admin = Admin(real_redis)
    calls: dict[str, Callable[[], Any]] = {
        "subscribers": lambda: admin.subscribers("big"),
        "subscribers_many": lambda: admin.subscribers_many(["big", "own0001"]),
        "clients()": lambda: admin.clients(),
        "clients(limit=50)": lambda: admin.clients(limit=50),
        "client_count": lambda: admin.client_count(),
        "channel": lambda: admin.channel("big"),
    }
    costs: dict[int, dict[str, int]] = {}
    for size in (10, 1000):
        populate_subscribers(real_redis, size)
        real_redis.config_resetstat()
        costs[size] = {label: round_trips.measure(call)[0] for label, call in calls.items()}
        subs = admin.subscribers("big")
        assert len(subs) == size + 1
        assert sorted({s.lag for s in subs}) == [2, 3]
        clients = admin.clients()
        assert len(clients) == size + 1
        assert clients[0].channels == {"big": 1, "own0000": 0}
        assert clients[0].lags == {"big": 2, "own0000": 0}
        assert "keys" not in command_stats(real_redis)
    assert all(cost > 0 for cost in costs[10].values())
    assert costs[10] == costs[1000]


def test_no_management_call_uses_keys(real_redis: Any) -> None:
    admin = Admin(real_redis)
    a = rivulet.Client(redis=real_redis, client_id="a")
    b = rivulet.Client(redis=real_redis, client_id="b")
    a.subscribe(["x", "y", "z"])
    b.subscribe("x")
    a.write("x", ["1", "2", "3"])
    real_redis.config_resetstat()
    admin.channels(match="x*")
    admin.channel_page(limit=2)
    admin.channel("x")
    admin.subscribers("x")
    admin.clients()
    admin.messages("x", after_id=1)
    admin.count("x")
    admin.set_index("x", "b", "latest")
    admin.set_retention("x", max_messages=10, max_age=60)
    admin.prune("x", upto_id=1, older_than=3600, consumed=True, keep_last=2)
    admin.post("x", "hello")
    admin.remove_subscriber("y", "a")
    admin.delete_channel("z")
    admin.rebuild_registry()
    used = command_stats(real_redis)
    assert "evalsha" in used  # the statistics did record the calls
    assert "keys" not in used


# -- connections -------------------------------------------------------------------------


def test_admin_from_a_url(real_redis: Any, redis_server: Any) -> None:
    rivulet.Client(redis=real_redis, client_id="c").subscribe("x")
    admin = Admin(redis_server.url)
    try:
        assert admin.ping() is True
        assert names(admin.channels()) == ["x"]
    finally:
        admin.close()


def test_admin_over_a_decoding_client_gives_the_same_rows(real_redis: Any,
                                                          redis_server: Any) -> None:
    a = rivulet.Client(redis=real_redis, client_id="a")
    b = rivulet.Client(redis=real_redis, client_id="b")
    a.subscribe(["x", "naïve ☃"])
    b.subscribe("x")
    a.write("x", ["1", "2", "3"])
    b.read(message_limit=1)
    real_redis.zadd(msg_key("x"), {"not json": 4})
    real_redis.set(id_key("x"), 4)
    raw = Admin(real_redis)
    decoding_redis = redis_server.client(decode_responses=True)
    decoding = Admin(decoding_redis)

    def timeless(rows: list[Any]) -> list[Any]:
        # Ages move between the two calls; everything else must be equal.
        ages = ("max_lag_seconds", "lag_seconds")
        return [dataclasses.replace(r, **{a: 0.0 for a in ages if hasattr(r, a)})
                for r in rows]

    try:
        assert timeless(decoding.channels()) == timeless(raw.channels())
        assert timeless(decoding.subscribers("x")) == timeless(raw.subscribers("x"))
        assert decoding.clients() == raw.clients()
        assert decoding.messages("x") == raw.messages("x")
        assert timeless([decoding.channel("naïve ☃")]) == timeless([raw.channel("naïve ☃")])
    finally:
        decoding_redis.close()


def test_unreachable_redis_raises_the_library_error() -> None:
    from rivulet.retry import RetryPolicy

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = sock.getsockname()[1]
    try:
        admin = Admin(f"redis://127.0.0.1:{port}/0", retry=RetryPolicy.none())
        with pytest.raises(rivulet.ConnectionError):
            admin.channels()
        with pytest.raises(rivulet.ConnectionError):
            admin.channel("x")
        admin.close()
    finally:
        sock.close()
