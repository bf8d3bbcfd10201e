"""The coalescing Producer (SPEC section 3), on every backend."""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import rivulet
from rivulet import keys
from rivulet.producer import Producer
from rivulet.producer_calls import Call

from ..socket_faults import fail_next_read

#: Long enough that the sender never goes on its own during a test: rounds are
#: then cut by flush(), so a test decides exactly what one round holds.
HOLD_MS = 600_000


def stored(backend: Any, channel: str) -> list[dict[str, Any]]:
    """The messages of a channel as the data model holds them, in id order."""
    return [json.loads(m) for m in backend.zrange(keys.msg_key(channel), 0, -1)]


@pytest.fixture
def producers() -> Iterator[list[Producer]]:
    """Producers a test made; closed afterwards so no sender thread outlives it."""
    made: list[Producer] = []
    yield made
    for producer in made:
        producer.close()


def producer(made: list[Producer], client: rivulet.Client, **kwargs: Any) -> Producer:
    p = Producer(client, **kwargs)
    made.append(p)
    return p


def test_futures_resolve_to_the_stored_ids_with_the_client_as_src(
    make_client: Any, backend: Any, producers: list[Producer]
) -> None:
    c = make_client("writer", channel_ids=["a", "b"])
    p = producer(producers, c)
    futures = [p.send("a", "one"), p.send("b", "two"), p.send("a", "three")]
    assert [f.result(timeout=10) for f in futures] == [1, 1, 2]
    assert [(m["id"], m["data"], m["src"]) for m in stored(backend, "a")] == [
        (1, "one", "writer"), (2, "three", "writer")]
    assert [(m["id"], m["src"]) for m in stored(backend, "b")] == [(1, "writer")]


def test_a_round_packs_each_channel_into_one_write_call(
    make_client: Any, backend: Any, producers: list[Producer], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_client("w", channel_ids=["a", "b"])
    p = producer(producers, c, linger_ms=HOLD_MS, max_batch=3)
    rounds: list[dict[str, int]] = []
    original = Producer._write

    def counting(self: Producer, taken: dict[str, Any]) -> list[Any]:
        rounds.append({channel: len(call.data) for channel, call in taken.items()})
        return original(self, taken)

    monkeypatch.setattr(Producer, "_write", counting)
    futures = [p.send("a", str(i)) for i in range(7)] + [p.send("b", "x")]
    p.flush(timeout=10)
    # At most max_batch per call (and, by the shape of a round, one call per
    # channel in it): a full call goes at once, so how rounds fall is timing.
    assert all(0 < n <= 3 for r in rounds for n in r.values())
    assert [sum(r.get(ch, 0) for r in rounds) for ch in ("a", "b")] == [7, 1]
    assert len([r for r in rounds if "a" in r]) == 3
    assert [f.result() for f in futures] == [1, 2, 3, 4, 5, 6, 7, 1]
    assert [m["data"] for m in stored(backend, "a")] == [str(i) for i in range(7)]


def test_a_call_is_bounded_in_bytes_too(
    make_client: Any, backend: Any, producers: list[Producer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Call, "MAX_BYTES", 10)
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c, linger_ms=HOLD_MS)
    sizes: list[list[int]] = []
    original = Producer._write

    def recording(self: Producer, taken: dict[str, Any]) -> list[Any]:
        sizes.extend([len(d) - 2 for d in call.data] for call in taken.values())
        return original(self, taken)

    monkeypatch.setattr(Producer, "_write", recording)
    futures = [p.send("ch", data) for data in ["1234", "5678", "9", "over ten bytes", "x"]]
    p.flush(timeout=10)
    # 4 + 4 + 1 fit; a message over the bound still goes, alone.
    assert sizes == [[4, 4, 1], [14], [1]]
    assert [f.result() for f in futures] == [1, 2, 3, 4, 5]


def test_order_per_thread_and_channel_with_many_threads(
    make_client: Any, backend: Any, producers: list[Producer]
) -> None:
    c = make_client("w", channel_ids=["a", "b"])
    p = producer(producers, c, max_batch=50)
    threads_n, per_channel = 6, 150
    start = threading.Barrier(threads_n)
    ids: dict[tuple[int, str], list[int]] = {}

    def work(t: int) -> None:
        start.wait()
        futures: dict[str, list[concurrent.futures.Future[int]]] = {"a": [], "b": []}
        for i in range(per_channel):
            for channel in ("a", "b"):
                futures[channel].append(p.send(channel, f"{t}:{i}"))
        for channel, fs in futures.items():
            ids[t, channel] = [f.result(timeout=30) for f in fs]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == threads_n * 2
    for channel in ("a", "b"):
        messages = stored(backend, channel)
        assert [m["id"] for m in messages] == list(range(1, threads_n * per_channel + 1))
        by_id = {m["id"]: m["data"] for m in messages}
        for t in range(threads_n):
            got = ids[t, channel]
            assert got == sorted(got)  # one thread's messages: increasing ids
            assert [by_id[i] for i in got] == [f"{t}:{i}" for i in range(per_channel)]


def test_waiting_on_a_future_sends_at_once(
    make_client: Any, producers: list[Producer]
) -> None:
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c, linger_ms=HOLD_MS)
    assert p.send("ch", "x").result(timeout=10) == 1  # no flush, and a linger of minutes
    assert p.send("ch", "y").exception(timeout=10) is None


def test_many_threads_waiting_on_each_message(
    make_client: Any, backend: Any, producers: list[Producer]
) -> None:
    c = make_client("w", channel_ids=["a", "b"])
    p = producer(producers, c)
    threads_n, per_thread = 6, 40
    start = threading.Barrier(threads_n)
    ids: dict[int, list[tuple[str, int]]] = {}

    def work(t: int) -> None:
        start.wait()
        got = []
        for i in range(per_thread):
            channel = "ab"[i % 2]
            got.append((channel, p.send(channel, f"{t}:{i}").result(timeout=30)))
        ids[t] = got

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == threads_n
    assert p._transit == 0  # every thread a round woke came back
    for channel in ("a", "b"):
        messages = stored(backend, channel)
        assert [m["id"] for m in messages] == list(range(1, threads_n * per_thread // 2 + 1))
        by_id = {m["id"]: m["data"] for m in messages}
        for t, got in ids.items():
            mine = [i for ch, i in got if ch == channel]
            assert mine == sorted(mine)
            assert [by_id[i] for i in mine] == [
                f"{t}:{i}" for i in range(per_thread) if "ab"[i % 2] == channel]


def observe_waits(future: concurrent.futures.Future[int], waiting: threading.Event) -> None:
    """Give ``future``'s call a condition that reports when a thread waits on it."""
    observed = _ObservedCondition(threading.Lock(), waiting)
    future._call.condition = observed  # type: ignore[attr-defined]
    future._condition = observed  # type: ignore[attr-defined]


def hold_a_woken_thread(p: Producer) -> tuple[threading.Event, threading.Thread]:
    """Send a message and wait on it in a thread that the round then wakes but
    that stays inside ``result()`` until the returned event is set."""
    first = p.send("ch", "1")
    first_waits = threading.Event()
    observe_waits(first, first_waits)
    original_write = p._writer.write

    def write_once_waited_on(calls: Any) -> list[Any]:
        assert first_waits.wait(10)  # the round will wake a waiting thread
        return original_write(calls)

    p._writer.write = write_once_waited_on  # type: ignore[method-assign]
    back, let_back = threading.Event(), threading.Event()
    original_back = p._back

    def held_back() -> None:
        back.set()
        assert let_back.wait(10)
        original_back()

    p._back = held_back  # type: ignore[method-assign]
    woken = threading.Thread(target=first.result, args=(10,))
    woken.start()
    assert back.wait(10)  # round 1 resolved; its thread has not left result() yet
    with p._lock:  # and the round's bookkeeping is done
        assert p._space.wait_for(lambda: p._pending == 0, 10)
    assert p._transit == 1
    return let_back, woken


def test_a_hurried_round_waits_for_the_threads_the_last_round_woke(
    make_client: Any, backend: Any, producers: list[Producer]
) -> None:
    # Threads that each wait on their message come back from a round
    # together: the next round must not go on the first one's message alone.
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c, linger_ms=HOLD_MS)
    sender_waited = threading.Event()
    p._work = _ObservedCondition(p._lock, sender_waited)
    let_back, woken = hold_a_woken_thread(p)
    second = p.send("ch", "2")
    second_waits = threading.Event()
    observe_waits(second, second_waits)
    waiter = threading.Thread(target=second.result, args=(10,))
    waiter.start()
    assert second_waits.wait(10)  # hurried: someone waits on it
    with p._lock:  # wake the sender to decide again, and see what it decides
        sender_waited.clear()
        p._work.notify()
    assert sender_waited.wait(10)
    assert not second.done()  # held while the woken thread is out
    assert [m["data"] for m in stored(backend, "ch")] == ["1"]
    let_back.set()  # it leaves result(): the held round goes
    assert second.result(timeout=10) == 2
    woken.join()
    waiter.join()
    assert p._transit == 0


def test_a_message_sent_while_a_woken_thread_is_out_still_goes_after_the_linger(
    make_client: Any, backend: Any, producers: list[Producer]
) -> None:
    # Such a send leaves the sender asleep (the last thread back wakes it):
    # with nobody waiting on the message, the linger must still run out.
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c, linger_ms=1)
    let_back, woken = hold_a_woken_thread(p)
    second = p.send("ch", "2")
    let_back.set()
    woken.join()
    done, _ = concurrent.futures.wait([second], timeout=10)  # waits without hurrying
    assert done == {second}
    assert second.result() == 2


def test_a_waiter_that_timed_out_holds_back_nobody(
    make_client: Any, producers: list[Producer]
) -> None:
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c, linger_ms=HOLD_MS)
    future = p.send("ch", "x")
    gate = threading.Event()
    original_write = p._writer.write

    def gated(calls: Any) -> list[Any]:
        assert gate.wait(10)
        return original_write(calls)

    p._writer.write = gated  # type: ignore[method-assign]
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(timeout=0)  # hurries the round, then gives up at once
    gate.set()
    p.flush(timeout=10)
    assert future.result(timeout=0) == 1
    assert p._transit == 0  # it was not counted as woken by the round
    assert p.send("ch", "y").result(timeout=10) == 2


def test_not_subscribed_fails_only_that_channels_futures(
    make_client: Any, backend: Any, producers: list[Producer]
) -> None:
    c = make_client("w", channel_ids="mine")
    p = producer(producers, c, linger_ms=HOLD_MS)
    good = [p.send("mine", "a"), p.send("mine", "b")]
    bad = [p.send("typo", "c"), p.send("typo", "d")]
    p.flush(timeout=10)  # one round holding both channels
    assert [f.result() for f in good] == [1, 2]
    for f in bad:
        error = f.exception()
        assert isinstance(error, rivulet.NotSubscribedError)
        assert error.channel == "typo"
        assert "'w'" in str(error) and "'typo'" in str(error)
        with pytest.raises(rivulet.NotSubscribedError):
            f.result()
    assert backend.exists(keys.msg_key("typo")) == 0
    assert len(stored(backend, "mine")) == 2


def test_a_broken_channel_fails_only_its_own_futures(
    make_client: Any, backend: Any, producers: list[Producer]
) -> None:
    c = make_client("w", channel_ids=["good", "broken"])
    backend.set(keys.msg_key("broken"), "not a zset")  # written around the library
    p = producer(producers, c, linger_ms=HOLD_MS)
    good = [p.send("good", "a"), p.send("broken", "b"), p.send("good", "c")]
    p.flush(timeout=10)  # one round holding both channels
    assert good[0].result() == 1 and good[2].result() == 2
    error = good[1].exception()
    assert isinstance(error, rivulet.BackendError) and not isinstance(error, redis.RedisError)
    assert backend.get(keys.msg_key("broken")) in ("not a zset", b"not a zset")
    assert p.send("good", "d").result(timeout=10) == 3


@pytest.mark.parametrize(("channel", "data", "error"), [
    ("ch", b"bytes", TypeError),
    ("ch", ["a", "list"], TypeError),
    ("ch", 7, TypeError),
    ("ch", "\ud800", ValueError),
    ("ch", "x" * 11, rivulet.MessageTooLargeError),
    ("a{b}", "x", rivulet.InvalidNameError),
    ("", "x", rivulet.InvalidNameError),
    (None, "x", rivulet.InvalidNameError),
])
def test_bad_input_is_refused_at_once_and_nothing_is_queued(
    make_client: Any, backend: Any, producers: list[Producer],
    channel: Any, data: Any, error: type[Exception]
) -> None:
    c = make_client("w", channel_ids="ch", max_message_bytes=10)
    p = producer(producers, c)
    with pytest.raises(error):
        p.send(channel, data)
    assert p._pending == 0
    assert p.send("ch", "fine").result(timeout=10) == 1
    assert [m["data"] for m in stored(backend, "ch")] == ["fine"]


def connection_class(backend: Any, method: str = "read_response") -> type[Any]:
    """The class whose ``method`` the backend's connections use."""
    if hasattr(backend, "get_default_node"):  # RedisCluster
        pool = backend.get_default_node().redis_connection.connection_pool
    else:
        pool = backend.connection_pool
    for cls in pool.connection_class.__mro__:
        if method in vars(cls):
            return cls  # type: ignore[no-any-return]
    raise AssertionError(f"no {method}")


def test_a_lost_reply_is_retried_with_its_tokens_and_stored_once(
    make_client: Any, backend: Any, producers: list[Producer], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_client("w", channel_ids=["a", "b"])
    p = producer(producers, c, linger_ms=HOLD_MS)
    p.send("a", "warm-up").result(timeout=10)  # script loaded, connection open
    lose_next = fail_next_read(connection_class(backend), monkeypatch)
    futures = [p.send("a", "x"), p.send("b", "y"), p.send("a", "z")]
    lose_next.set()
    p.flush(timeout=30)
    assert not lose_next.is_set()  # the reply really was dropped once
    assert [f.result() for f in futures] == [2, 1, 3]
    assert [m["data"] for m in stored(backend, "a")] == ["warm-up", "x", "z"]
    assert [m["data"] for m in stored(backend, "b")] == ["y"]


def test_a_lost_reply_with_more_calls_of_the_channel_waiting_keeps_their_order(
    make_client: Any, backend: Any, producers: list[Producer], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_client("w", channel_ids="a")
    p = producer(producers, c, linger_ms=HOLD_MS, max_batch=2)
    p.send("a", "warm-up").result(timeout=10)
    lose_next = fail_next_read(connection_class(backend), monkeypatch)
    futures = [p.send("a", str(i)) for i in range(5)]  # three calls: 2 + 2 + 1
    lose_next.set()
    p.flush(timeout=30)
    assert not lose_next.is_set()
    assert [f.result() for f in futures] == [2, 3, 4, 5, 6]
    assert [m["data"] for m in stored(backend, "a")] == ["warm-up", "0", "1", "2", "3", "4"]


def test_an_error_reply_to_one_call_retries_that_call_alone(
    make_client: Any, backend: Any, producers: list[Producer], monkeypatch: pytest.MonkeyPatch
) -> None:
    if hasattr(backend, "get_default_node"):
        pytest.skip("a cluster client's rounds go through scripts.Batch (its own tests)")
    from rivulet import fastpath

    c = make_client("w", channel_ids=["a", "b"])
    p = producer(producers, c, linger_ms=HOLD_MS)
    p.send("a", "warm-up").result(timeout=10)
    sizes: list[int] = []
    original_many = fastpath.FastCalls.call_many

    def call_many(self: Any, script: Any, calls: Any) -> list[Any]:
        sizes.append(len(calls))
        return original_many(self, script, calls)

    monkeypatch.setattr(fastpath.FastCalls, "call_many", call_many)
    # Read, then answered LOADING: the link stays in step.
    loading = fail_next_read(connection_class(backend), monkeypatch, redis.ResponseError(
        "LOADING Redis is loading the dataset in memory"))
    futures = [p.send("a", "x"), p.send("b", "y")]
    loading.set()
    p.flush(timeout=30)
    assert not loading.is_set()
    assert sizes == [2, 1]  # the round, then a's call again on its own
    assert [f.result() for f in futures] == [2, 1]
    assert [m["data"] for m in stored(backend, "a")] == ["warm-up", "x"]  # its token
    assert [m["data"] for m in stored(backend, "b")] == ["y"]


def test_rounds_go_on_one_kept_connection_handed_back_on_close(
    make_client: Any, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if hasattr(backend, "get_default_node"):
        pytest.skip("a cluster client routes each call through scripts.Batch")
    c = make_client("w", channel_ids=["a", "b"])
    pool = c.redis.connection_pool
    checkouts: list[Any] = []
    original = type(pool).get_connection

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        connection = original(self, *args, **kwargs)
        checkouts.append(connection)
        return connection

    monkeypatch.setattr(type(pool), "get_connection", counting)
    p = Producer(c, linger_ms=HOLD_MS)
    assert p.send("a", "warm-up").result(timeout=10) == 1  # connected, script loaded
    assert len(checkouts) == 1
    sent = [0]
    connection_cls = connection_class(backend, "send_packed_command")
    original_send = connection_cls.send_packed_command

    def send_packed_command(self: Any, *args: Any, **kwargs: Any) -> None:
        sent[0] += 1
        original_send(self, *args, **kwargs)

    monkeypatch.setattr(connection_cls, "send_packed_command", send_packed_command)
    for i in range(3):
        futures = [p.send("a", f"a{i}"), p.send("b", f"b{i}"), p.send("a", f"c{i}")]
        p.flush(timeout=10)
        assert [f.result() for f in futures] == [2 * i + 2, i + 1, 2 * i + 3]
    assert sent[0] == 3  # a round, both channels' calls in it, is one send
    assert len(checkouts) == 1  # and no pool checkout of its own
    assert checkouts[0] in pool._in_use_connections
    p.close()
    assert checkouts[0] not in pool._in_use_connections  # back in the pool


def test_connection_error_reaches_the_futures_once_retries_are_spent() -> None:
    from ..conftest import free_port

    c = rivulet.connect(f"redis://127.0.0.1:{free_port()}/0", client_id="w",
                        retry=rivulet.RetryPolicy(budget_s=0.3))
    p = Producer(c, linger_ms=0)
    future = p.send("ch", "lost")
    with pytest.raises(rivulet.TimeoutError):
        p.flush(timeout=0)  # the round is still retrying
    error = future.exception(timeout=30)
    assert isinstance(error, rivulet.ConnectionError)
    assert not isinstance(error, redis.RedisError)
    p.close()
    c.close()


def test_flush_waits_for_everything_sent_before_it(
    make_client: Any, backend: Any, producers: list[Producer]
) -> None:
    c = make_client("w", channel_ids=["a", "b"])
    p = producer(producers, c, linger_ms=HOLD_MS)
    futures = [p.send(ch, str(i)) for i in range(50) for ch in ("a", "b")]
    assert not any(f.done() for f in futures)  # held by the linger
    p.flush()
    assert all(f.done() for f in futures)
    assert p._pending == 0 and not p._last and not p._queues
    assert len(stored(backend, "a")) == len(stored(backend, "b")) == 50
    p.flush()  # nothing waiting: returns at once


def test_close_and_with_send_everything_then_stop(
    make_client: Any, backend: Any
) -> None:
    c = make_client("w", channel_ids="ch")
    with Producer(c, linger_ms=HOLD_MS) as p:
        futures = [p.send("ch", str(i)) for i in range(10)]
        thread = p._thread
    assert thread is not None and not thread.is_alive()
    assert [f.result(timeout=0) for f in futures] == list(range(1, 11))
    assert len(stored(backend, "ch")) == 10
    with pytest.raises(rivulet.RivuletError, match="closed"):
        p.send("ch", "late")
    p.close()  # twice is fine
    assert len(stored(backend, "ch")) == 10
    assert c.write("ch", "the client still works") == [11]


def test_futures_cannot_be_cancelled_once_sent(
    make_client: Any, producers: list[Producer]
) -> None:
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c, linger_ms=HOLD_MS)
    future = p.send("ch", "x")
    assert future.cancel() is False
    p.flush(timeout=10)
    assert future.result() == 1


class _ObservedCondition(threading.Condition):
    """A condition that reports when a thread starts waiting on it."""

    def __init__(self, lock: Any, waiting: threading.Event) -> None:
        super().__init__(lock)
        self.waiting = waiting

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)


def test_send_blocks_while_max_pending_messages_wait(
    make_client: Any, backend: Any, producers: list[Producer]
) -> None:
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c, linger_ms=HOLD_MS, max_pending=2)
    blocked = threading.Event()
    p._space = _ObservedCondition(p._lock, blocked)
    first = [p.send("ch", "1"), p.send("ch", "2")]
    third: list[concurrent.futures.Future[int]] = []
    returned = threading.Event()

    def send_third() -> None:
        third.append(p.send("ch", "3"))
        returned.set()

    thread = threading.Thread(target=send_third)
    thread.start()
    assert blocked.wait(10)  # the third send is waiting for room
    assert not returned.is_set()
    assert stored(backend, "ch") == []
    first[0].result(timeout=10)  # waiting on a future sends the round: room again
    assert returned.wait(10)
    thread.join()
    assert third[0].result(timeout=10) == 3
    assert [m["data"] for m in stored(backend, "ch")] == ["1", "2", "3"]


def test_close_wakes_a_send_blocked_on_max_pending(
    make_client: Any, producers: list[Producer]
) -> None:
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c, linger_ms=HOLD_MS, max_pending=1)
    blocked = threading.Event()
    p._space = _ObservedCondition(p._lock, blocked)
    first = p.send("ch", "1")
    errors: list[BaseException] = []

    def send_second() -> None:
        try:
            p.send("ch", "2")
        except rivulet.RivuletError as error:
            errors.append(error)

    thread = threading.Thread(target=send_second)
    thread.start()
    assert blocked.wait(10)
    p.close()
    thread.join()
    assert first.result(timeout=0) == 1
    assert len(errors) == 1 and "closed" in str(errors[0])


def test_a_callback_may_send_again(make_client: Any, backend: Any,
                                   producers: list[Producer]) -> None:
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c, max_pending=1)
    chained: list[concurrent.futures.Future[int]] = []
    done = threading.Event()

    def again(_: concurrent.futures.Future[int]) -> None:
        # Runs on the sender thread while the first message is still pending:
        # it must not wait for room it alone could make.
        chained.append(p.send("ch", "second"))
        done.set()

    p.send("ch", "first").add_done_callback(again)
    assert done.wait(10)
    assert chained[0].result(timeout=10) == 2


def test_futures_have_the_attributes_of_a_plain_future(
    make_client: Any, producers: list[Producer]
) -> None:
    # MessageFuture sets Future.__init__'s attributes itself (to share a condition);
    # a Python that adds one must make this fail rather than break futures.
    p = producer(producers, make_client("w", channel_ids="ch"), linger_ms=HOLD_MS)
    future = p.send("ch", "x")
    plain: concurrent.futures.Future[int] = concurrent.futures.Future()
    ours = {"_producer", "_call"}
    assert set(vars(future)) - ours == set(vars(plain))
    assert {k: type(v) for k, v in vars(future).items() if k not in ours} == {
        k: type(v) for k, v in vars(plain).items()}
    p.flush(timeout=10)
    assert future.result() == 1


@pytest.mark.parametrize("args", [
    {"linger_ms": -1}, {"linger_ms": float("nan")}, {"linger_ms": float("inf")},
    {"max_batch": 0}, {"max_pending": 0},
])
def test_bad_settings_are_refused(make_client: Any, args: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Producer(make_client(), **args)


@pytest.mark.parametrize("args", [{"linger_ms": "2"}, {"max_batch": 1.5}, {"max_pending": True}])
def test_settings_of_the_wrong_type_are_refused(make_client: Any, args: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        Producer(make_client(), **args)


def test_wait_replicas_reports_a_round_no_replica_confirmed(
    real_redis: redis.Redis, producers: list[Producer]
) -> None:
    c = rivulet.Client(redis=real_redis, client_id="w", channel_ids=["a", "b"],
                       wait_replicas=1, wait_timeout_ms=1)
    p = producer(producers, c, linger_ms=HOLD_MS)
    real_redis.config_resetstat()
    futures = [p.send("a", "x"), p.send("b", "y"), p.send("a", "z")]
    p.flush(timeout=10)
    errors = [f.exception() for f in futures]
    assert all(isinstance(e, rivulet.NotReplicatedError) for e in errors)
    assert [(e.ids, e.acked, e.wanted) for e in errors] == [  # type: ignore[union-attr]
        ([1, 2], 0, 1), ([1], 0, 1), ([1, 2], 0, 1)]
    assert [m["data"] for m in stored(real_redis, "a")] == ["x", "z"]  # stored once, not lost
    assert [m["data"] for m in stored(real_redis, "b")] == ["y"]
    # One WAIT for the round's node, not one per channel (each would wait out
    # its timeout while a replica is missing).
    assert real_redis.info("commandstats")["cmdstat_wait"]["calls"] == 1
    c.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_gets_its_own_sender_and_not_the_parents_messages(
    real_redis: redis.Redis, producers: list[Producer]
) -> None:
    c = rivulet.Client(redis=real_redis, client_id="w", channel_ids="ch")
    p = producer(producers, c, linger_ms=HOLD_MS)
    parents = p.send("ch", "parent's")  # queued; the sender thread is waiting
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            # Waiting on the parent's future must not send the parent's message.
            with pytest.raises(concurrent.futures.TimeoutError):
                parents.result(timeout=0.05)
            child_id = p.send("ch", "child's").result(timeout=10)
            os.write(write_end, str(child_id).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child_id = int(pipe.read())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert parents.result(timeout=10) == 2
    assert child_id == 1
    assert [m["data"] for m in stored(real_redis, "ch")] == ["child's", "parent's"]
    c.close()
