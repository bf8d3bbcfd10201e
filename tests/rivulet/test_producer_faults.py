"""The Producer when its users or its Redis misbehave: callbacks that wait on
the sender or raise, an outage with a backlog waiting, bad flush() input."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import Any

import pytest

import rivulet
from rivulet.producer import Producer

from . import test_producer as base
from .test_producer import HOLD_MS, producer, stored

producers = base.producers  # the fixture, shared by name


def test_result_in_a_callback_raises_instead_of_waiting_on_the_sender(
    make_client: Any, backend: Any, producers: list[Producer]
) -> None:
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c)
    raised: list[BaseException] = []
    done = threading.Event()

    def waits(_: concurrent.futures.Future[int]) -> None:
        try:
            p.send("ch", "inner").result()
        except rivulet.RivuletError as error:
            raised.append(error)
        done.set()

    first = p.send("ch", "outer")
    first.add_done_callback(waits)
    assert first.result(timeout=10) == 1
    assert done.wait(10)
    assert len(raised) == 1 and "callback" in str(raised[0])
    # The sender was not stuck on itself: what came next is stored.
    assert p.send("ch", "next").result(timeout=10) == 3
    p.flush(timeout=10)
    assert [m["data"] for m in stored(backend, "ch")] == ["outer", "inner", "next"]


@pytest.mark.parametrize("error", [ValueError("callback bug"), SystemExit(0),
                                   KeyboardInterrupt()])
def test_a_callback_that_raises_leaves_the_sender_running(
    make_client: Any, producers: list[Producer], caplog: pytest.LogCaptureFixture,
    error: BaseException
) -> None:
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c)
    after: list[int] = []

    def bad(_: concurrent.futures.Future[int]) -> None:
        raise error

    first = p.send("ch", "one")
    first.add_done_callback(bad)
    first.add_done_callback(lambda f: after.append(f.result()))  # the next one still runs
    with caplog.at_level(logging.ERROR, logger="rivulet"):
        assert first.result(timeout=10) == 1
        assert p.send("ch", "two").result(timeout=10) == 2
    assert p._thread is not None and p._thread.is_alive()
    assert after == [1]
    assert any("done-callback" in r.getMessage() for r in caplog.records)


def test_the_calls_that_waited_through_an_outage_fail_with_it_unsent(
    make_client: Any, backend: Any, producers: list[Producer], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_client("w", channel_ids="ch")
    p = producer(producers, c, linger_ms=HOLD_MS, max_batch=1)
    sent: list[list[str]] = []
    queued = threading.Event()
    down = rivulet.ConnectionError("cannot reach Redis: down")
    original = Producer._write

    def outage_then_back(self: Producer, taken: dict[str, Any]) -> list[Any]:
        sent.append([d for call in taken.values() for d in call.data])
        if len(sent) == 1:
            assert queued.wait(10)  # the backlog is queued while this round "retries"
            return [down] * len(taken)
        return original(self, taken)

    monkeypatch.setattr(Producer, "_write", outage_then_back)
    backlog = [p.send("ch", f"m{i}") for i in range(3)]
    queued.set()
    errors = [f.exception(timeout=10) for f in backlog]
    assert errors == [down, down, down]
    assert len(sent) == 1  # the two that waited through it never went
    # A message sent after the failure gets its own attempt, and is stored.
    assert p.send("ch", "later").result(timeout=10) == 1
    assert len(sent) == 2
    assert [m["data"] for m in stored(backend, "ch")] == ["later"]


def test_close_with_redis_down_spends_the_budget_once_not_once_per_call() -> None:
    from ..conftest import free_port

    c = rivulet.connect(f"redis://127.0.0.1:{free_port()}/0", client_id="w",
                        retry=rivulet.RetryPolicy(budget_s=0.3))
    p = Producer(c, linger_ms=HOLD_MS, max_batch=1)
    rounds: list[int] = []
    original = Producer._write

    def counting(self: Producer, taken: dict[str, Any]) -> list[Any]:
        rounds.append(len(taken))
        return original(self, taken)

    p._write = counting.__get__(p)  # type: ignore[method-assign]
    futures = [p.send("ch", str(i)) for i in range(5)]
    p.close()
    assert all(isinstance(f.exception(timeout=0), rivulet.ConnectionError) for f in futures)
    assert len(rounds) < len(futures)  # the first round's retries stood for the rest
    c.close()


@pytest.mark.parametrize("timeout", ["x", True, -1, float("nan")])
def test_flush_refuses_a_timeout_that_is_no_number_of_seconds(
    make_client: Any, producers: list[Producer], timeout: Any
) -> None:
    p = producer(producers, make_client("w", channel_ids="ch"), linger_ms=HOLD_MS)
    p.send("ch", "x")
    with pytest.raises((TypeError, ValueError)):
        p.flush(timeout)
    p.flush(timeout=10)


def test_a_sender_that_stops_on_a_bug_fails_its_round_and_the_queue(
    make_client: Any, producers: list[Producer], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="rivulet")
    c = make_client("w", channel_ids=["a", "b"])
    p = producer(producers, c, linger_ms=HOLD_MS)
    in_round = threading.Event()
    go_on = threading.Event()
    original = Producer._write

    def held(self: Producer, taken: dict[str, Any]) -> list[Any]:
        in_round.set()
        assert go_on.wait(10)
        return original(self, taken)

    def buggy(self: Producer, taken: dict[str, Any], results: list[Any]) -> None:
        raise ZeroDivisionError("a bug in the sender")

    monkeypatch.setattr(Producer, "_write", held)
    monkeypatch.setattr(Producer, "_resolve", buggy)
    first = p.send("a", "in the round")
    p._hurry()
    assert in_round.wait(10)
    queued = p.send("b", "queued behind it")
    go_on.set()
    for future in (first, queued):
        error = future.exception(timeout=10)
        assert isinstance(error, rivulet.RivuletError) and "sender stopped" in str(error)
    with pytest.raises(rivulet.RivuletError, match="closed"):
        p.send("a", "after")
    assert any("sender stopped" in r.getMessage() for r in caplog.records)


def test_an_outage_fails_fast_only_the_calls_for_the_node_that_failed(
    make_client: Any, backend: Any, producers: list[Producer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a cluster with "sick" and "well" on different masters, one of them down.
    from rivulet.producer_rounds import Outage

    monkeypatch.setattr(Outage, "_node", lambda self, channel: channel)
    c = make_client("w", channel_ids=["sick", "well"])
    p = producer(producers, c, linger_ms=HOLD_MS, max_batch=1)
    sent: list[dict[str, int]] = []
    queued = threading.Event()
    down = rivulet.TimeoutError("Redis did not answer in time")
    original = Producer._write

    def one_node_down(self: Producer, taken: dict[str, Any]) -> list[Any]:
        sent.append({ch: len(call.data) for ch, call in taken.items()})
        if len(sent) == 1:
            assert queued.wait(10)
        replies = original(self, {ch: call for ch, call in taken.items() if ch == "well"})
        return [down if ch == "sick" else replies.pop(0) for ch in taken]

    monkeypatch.setattr(Producer, "_write", one_node_down)
    futures = {ch: [p.send(ch, f"{ch}{i}") for i in range(2)] for ch in ("sick", "well")}
    p._hurry()
    queued.set()
    assert [f.exception(timeout=10) for f in futures["sick"]] == [down, down]
    assert [f.result(timeout=10) for f in futures["well"]] == [1, 2]
    assert "sick" in sent[0]  # (and "well" too, if its send came first)
    assert all("sick" not in r for r in sent[1:])  # the sick node's backlog was not sent
    assert [m["data"] for m in stored(backend, "well")] == ["well0", "well1"]
