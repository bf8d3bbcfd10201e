"""The fast write path (rivulet/fastpath.py): one kept connection, packed EVALSHA,
every guarantee of the ordinary path."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import redis.exceptions as rex

import rivulet
from rivulet import keys

from ..conftest import is_cluster
from ..socket_faults import lose_next_reply


def stored(backend: Any, channel: str) -> list[int]:
    return [int(s) for _, s in backend.zrange(keys.msg_key(channel), 0, -1, withscores=True)]


def _kept(client: rivulet.Client) -> Any:
    """The connection the client's fast path keeps (after one write)."""
    fast = client._fast
    assert fast is not None
    return fast._kept.conn


@pytest.fixture
def standalone(backend: Any) -> Any:
    if is_cluster(backend):
        pytest.skip("a cluster client keeps the routed path")
    return backend


def test_writes_check_out_no_pool_connection_after_the_first(
    standalone: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_client("w")
    c.subscribe("ch")
    c.write("ch", "first")
    checkouts = []
    pool = standalone.connection_pool
    real = pool.get_connection
    monkeypatch.setattr(pool, "get_connection",
                        lambda *a, **k: checkouts.append(a) or real(*a, **k))
    assert c.write("ch", "a") == [2]
    assert c.write("ch", ["b", "c"]) == [3, 4]
    assert checkouts == []
    assert stored(standalone, "ch") == [1, 2, 3, 4]


def test_the_kept_connection_starts_afresh_so_it_inherits_no_pending_reply(
    real_redis: Any
) -> None:
    # A pooled connection an interrupted call handed back may have a reply
    # on its way that the pool's readiness check cannot see yet.
    pool = real_redis.connection_pool
    try:
        pooled = pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        pooled = pool.get_connection("PING")
    pooled.connect()
    before = pooled._sock
    pool.release(pooled)  # the pool's one idle connection
    c = rivulet.Client(redis=real_redis, client_id="w", channel_ids="ch")
    c.write("ch", "x")
    assert _kept(c) is pooled
    assert pooled._sock is not before  # reconnected before its first use
    assert c.write("ch", "y") == [2]
    c.close()


@pytest.mark.parametrize("pool_class", ["ConnectionPool", "BlockingConnectionPool"])
def test_a_small_pool_keeps_no_connection_so_every_call_gets_one(
    redis_server: Any, pool_class: str
) -> None:
    import redis

    pool = getattr(redis, pool_class)(host="127.0.0.1", port=redis_server.port,
                                      max_connections=2, **({"timeout": 1} if pool_class
                                                            .startswith("Blocking") else {}))
    r = redis.Redis(connection_pool=pool)
    r.flushall()
    writer = rivulet.Client(redis=r, client_id="w", channel_ids="ch")
    reader = rivulet.Client(redis=r, client_id="r", channel_ids="ch")
    producer = rivulet.Producer(writer)
    try:
        assert writer.write("ch", "a") == [1]
        assert producer.send("ch", "b").result(timeout=10) == 2
        assert [m["data"] for m in reader.read(timeout=0)["ch"]] == ["a", "b"]
        assert writer.ping() and reader.ping()
        assert writer._fast is None  # none kept: a pool of 2 would be starved
    finally:
        producer.close()
        writer.close()
        reader.close()
        pool.disconnect()


def test_a_cluster_client_keeps_the_routed_path(backend: Any, make_client: Any) -> None:
    c = make_client("w")
    c.subscribe("ch")
    assert c.write("ch", "x") == [1]
    assert (c._fast is None) == is_cluster(backend)


def test_a_reply_lost_on_the_kept_connection_is_retried_and_stored_once(
    standalone: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_client("w")
    c.subscribe("ch")
    c.write("ch", "warm-up")
    lost = lose_next_reply(_kept(c), ConnectionResetError(104, "connection reset by peer"),
                           monkeypatch)
    assert c.write("ch", "once") == [2]
    assert lost  # the script ran; its reply was lost
    assert stored(standalone, "ch") == [1, 2]


def test_an_interrupted_call_drops_the_connection_so_no_stale_reply_is_read(
    standalone: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_client("w")
    c.subscribe("ch")
    c.write("ch", "warm-up")
    conn = _kept(c)
    lost = lose_next_reply(conn, KeyboardInterrupt(), monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        c.write("ch", "interrupted")  # sent and stored; its reply never handed over
    assert lost
    monkeypatch.undo()
    # The next write must get its own reply ([3]), not the interrupted one's ([2]).
    assert c.write("ch", "next") == [3]
    assert stored(standalone, "ch") == [1, 2, 3]


def test_a_flushed_script_cache_is_reloaded(standalone: Any, make_client: Any) -> None:
    c = make_client("w")
    c.subscribe("ch")
    c.write("ch", "a")
    standalone.script_flush()
    assert c.write("ch", "b") == [2]


def test_the_subscription_check_and_errors_are_rivulets(
    standalone: Any, make_client: Any
) -> None:
    c = make_client("w")
    c.subscribe("ch")
    c.write("ch", "a")
    with pytest.raises(rivulet.NotSubscribedError):
        c.write("other", "b")
    standalone.set(keys.msg_key("ch"), "not a zset")
    with pytest.raises(rivulet.RivuletError):
        c.write("ch", "c")
    standalone.delete(keys.msg_key("ch"))
    assert c.write("ch", "d") == [2]  # the connection stayed in step


def test_a_pending_reauthentication_is_sent_before_the_call(
    real_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Token:
        """A streaming credential provider's new token (redis-py >= 5.3)."""

        def try_get(self, key: str) -> str:
            return "default"

        def get_value(self) -> str:
            return "any: the default user has no password here"

    c = rivulet.Client(redis=real_redis, client_id="w")
    try:
        c.subscribe("ch")
        c.write("ch", "a")
        conn = _kept(c)
        if not hasattr(conn, "set_re_auth_token"):
            pytest.skip("redis-py before 5.3 has no re-authentication")
        sent = []
        real = conn.send_command
        monkeypatch.setattr(conn, "send_command", lambda *a, **k: sent.append(a) or real(*a, **k))
        conn.set_re_auth_token(Token())
        assert c.write("ch", "b") == [2]
        assert sent and sent[0][0] == "AUTH"
        assert conn._re_auth_token is None
    finally:
        c.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_writes_on_its_own_connection(real_redis: Any) -> None:
    c = rivulet.Client(redis=real_redis, client_id="w")
    try:
        c.subscribe("ch")
        assert c.write("ch", "parent-1") == [1]
        parent_conn = _kept(c)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: an inherited client, its parent's socket
            code = 1
            try:
                ids = c.write("ch", "child")
                fresh = _kept(c) is not parent_conn
                os.write(write_end, f"{ids[0]} {int(fresh)}".encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        _, status = os.waitpid(pid, 0)
        reply = os.read(read_end, 64).decode()
        os.close(read_end)
        assert os.waitstatus_to_exitcode(status) == 0
        assert reply == "2 1"
        # The parent's kept connection is untouched and in step.
        assert c.write("ch", "parent-2") == [3]
        assert _kept(c) is parent_conn
        assert stored(real_redis, "ch") == [1, 2, 3]
    finally:
        c.close()


def test_close_hands_the_connection_back_to_the_pool(standalone: Any) -> None:
    c = rivulet.Client(redis=standalone, client_id="w")
    c.subscribe("ch")
    c.write("ch", "a")
    conn = _kept(c)
    c.close()
    assert conn in standalone.connection_pool._available_connections


@pytest.mark.parametrize("args", [
    ["EVALSHA", "ab" * 20, 2, "rvl:id:{c}", "rvl:msg:{c}", "sub", "w", '"é ✓ 𝄞"', ""],
    ["EVALSHA", "x", 0, b"\x00\xff raw", "y" * 70_000, -12, 2**60],
])
def test_packed_commands_are_byte_for_byte_redis_pys(real_redis: Any, args: list[Any]) -> None:
    from rivulet.fastpath import pack

    try:
        conn = real_redis.connection_pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        conn = real_redis.connection_pool.get_connection("EVALSHA")
    try:
        assert pack(conn, args) == b"".join(conn.pack_command(*args))
    finally:
        real_redis.connection_pool.release(conn)


def test_unicode_and_large_messages_round_trip_on_the_fast_path(
    standalone: Any, make_client: Any
) -> None:
    c = make_client("w")
    c.subscribe("ch")
    big = "y" * (1 << 20)
    assert c.write("ch", ["é ✓ 𝄞 \"quoted\" \\", big]) == [1, 2]
    assert [m["data"] for m in c.read()["ch"]] == ["é ✓ 𝄞 \"quoted\" \\", big]


# -- /metrics: the compact lag scan ---------------------------------------------


def _reference_exposition(admin: rivulet.Admin) -> bytes:
    """What prometheus_client writes for /metrics's nine families over the
    listing API (channels() and subscribers_many()): the text format, and
    every value as the API reports it."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    from dashboard.metrics import FAMILIES

    def gauge(name: str, *labels: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, FAMILIES[name], labels=list(labels))

    class Collector:
        def collect(self) -> Any:
            channels = admin.channels()
            subscribers = admin.subscribers_many([c.name for c in channels if c.error is None])
            per_channel = [gauge(n, "channel") for n in (
                "rivulet_channel_messages", "rivulet_channel_head_id",
                "rivulet_channel_subscribers", "rivulet_channel_write_rate")]
            per_sub = [gauge(n, "channel", "client") for n in (
                "rivulet_subscriber_lag_messages", "rivulet_subscriber_lag_seconds",
                "rivulet_subscriber_read_rate", "rivulet_subscriber_eta_seconds")]
            status = gauge("rivulet_subscriber_status", "channel", "client", "status")
            for info in channels:
                values = [info.message_count, info.head_id, info.subscriber_count,
                          info.write_rate]
                for family, value in zip(per_channel, values):
                    if value is not None:
                        family.add_metric([info.name], value)
                if info.error is not None:
                    continue  # a channel with a problem lists no subscriber series
                for sub in subscribers.get(info.name, []):
                    subs = [sub.lag, sub.lag_seconds, sub.read_rate, sub.eta_s]
                    for family, value in zip(per_sub, subs):
                        if value is not None:
                            family.add_metric([info.name, sub.client_id], value)
                    status.add_metric([info.name, sub.client_id, sub.status], 1)
            yield from (*per_channel, *per_sub, status)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())  # type: ignore[arg-type]
    return bytes(generate_latest(registry))


#: Families whose values are ages or rates: read from Redis's clock a moment
#: apart by the two scrapes.
TIMED = ("rivulet_subscriber_lag_seconds{", "rivulet_subscriber_read_rate{",
         "rivulet_subscriber_eta_seconds{", "rivulet_channel_write_rate{")


def assert_same_exposition(new: list[str], old: list[str], elapsed: float) -> None:
    assert len(new) == len(old), set(new) ^ set(old)
    for ours, theirs in zip(new, old):
        if ours.startswith(TIMED):
            sample, value = ours.rsplit(" ", 1)
            their_sample, their_value = theirs.rsplit(" ", 1)
            assert sample == their_sample
            if ours.startswith(TIMED[0]):
                assert float(their_value) <= float(value) <= float(their_value) + elapsed + 0.002
            else:  # over a window of minutes, a few ms apart
                assert float(value) == pytest.approx(float(their_value), rel=1e-3)
        else:
            assert ours == theirs


def test_the_lag_scan_exposition_is_what_prometheus_client_wrote(
    backend: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.metrics import exposition

    fast = make_client("fast")
    slow = make_client('sl"o\\w reader')
    fast.subscribe(["a/1", "b", 'q"uote\\d', "planted", "broken", "empty"])
    slow.subscribe(["a/1", "b", "planted"])
    fast.write("a/1", [f"m{i}" for i in range(30)])
    fast.write("b", "one")
    fast.write("planted", "x")
    fast.read()  # "fast" is up to date; "slow" lags
    fast.write("a/1", "after")
    backend.zadd(keys.msg_key("planted"), {"not ours": 2**60})
    backend.set(keys.meta_key("broken"), "not a hash")
    backend.zadd(keys.CHANNELS, {"gone": 0, "bad name\x00": 0})
    admin = rivulet.Admin(backend)
    started = time.monotonic()
    old = _reference_exposition(admin).decode().splitlines()
    new = exposition(admin.lag_scan()).decode().splitlines()
    assert_same_exposition(new, old, time.monotonic() - started)
    assert ('rivulet_subscriber_lag_messages{channel="a/1",client="sl\\"o\\\\w reader"} 31.0'
            in new)
    assert 'rivulet_channel_messages{channel="broken"} 0.0' in new
    assert not any('channel="planted",client' in line for line in new)
    assert any(line.startswith("rivulet_subscriber_lag_seconds{") and not line.endswith(" 0.0")
               for line in new)
    assert 'rivulet_subscriber_status{channel="b",client="fast",status="caught up"} 1.0' in new


def test_the_lag_scan_reloads_a_flushed_script_and_survives_a_lost_link(
    standalone: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rivulet.fastpath import FastCalls

    c = make_client("w")
    c.subscribe(["a", "b"])
    c.write("a", ["1", "2"])
    admin = rivulet.Admin(standalone)
    standalone.script_flush()
    real = FastCalls._pipeline
    dropped = []

    def drop_once(self: FastCalls, conn: Any, packed: bytes, count: int) -> list[Any]:
        if not dropped:
            dropped.append(count)
            conn.send_packed_command([packed], check_health=False)  # they run, unread
            conn.disconnect()
            raise rex.ConnectionError("connection reset by peer")
        return real(self, conn, packed, count)

    monkeypatch.setattr(FastCalls, "_pipeline", drop_once)
    rows = admin.lag_scan()
    assert dropped == [2]
    assert [(r.name, r.head_id, r.message_count, r.subscriber_count) for r in rows] == [
        ("a", 2, 2, 1), ("b", 0, 0, 1)]
    assert rows[0].subscribers[0].client_id == "w"
