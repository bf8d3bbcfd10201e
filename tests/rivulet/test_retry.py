"""The retry layer: transient failures are retried within a budget, others are not."""

from __future__ import annotations

import itertools

import pytest
import redis.exceptions as rex

import rivulet
from rivulet import deadline
from rivulet.retry import RetryPolicy


class Flaky:
    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


@pytest.mark.parametrize("error", [rex.ConnectionError("down"), rex.TimeoutError("slow"),
                                   rex.BusyLoadingError("LOADING"),
                                   rex.ResponseError("LOADING Redis is loading")])
def test_transient_failures_are_retried(error: Exception) -> None:
    call = Flaky(3, error)
    policy = RetryPolicy(budget_s=5, base_delay_s=0.001, max_delay_s=0.002)
    assert policy.run(call) == "ok"
    assert call.calls == 4


def test_spent_budget_raises_the_translation() -> None:
    call = Flaky(10**6, rex.ConnectionError("down"))
    with pytest.raises(rivulet.ConnectionError, match="cannot reach Redis"):
        RetryPolicy(budget_s=0.05, base_delay_s=0.001, max_delay_s=0.002).run(call)
    assert call.calls > 1
    with pytest.raises(rivulet.TimeoutError):
        RetryPolicy.none().run(Flaky(1, rex.TimeoutError("slow")))


def test_other_errors_are_not_retried() -> None:
    call = Flaky(1, rex.ResponseError("WRONGTYPE Operation against a key"))
    with pytest.raises(rivulet.BackendError, match="wrong type"):
        RetryPolicy().run(call)
    assert call.calls == 1


def test_delays_are_jittered_and_capped() -> None:
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=0.4)
    delays = [policy.delay(10) for _ in range(200)]
    assert all(0 <= d <= 0.4 for d in delays)
    assert len(set(delays)) > 100


def test_each_attempt_sees_the_time_left_in_the_budget() -> None:
    seen: list[float | None] = []

    def call() -> str:
        seen.append(deadline.time_left())
        if len(seen) < 3:
            raise rex.TimeoutError("slow")
        return "ok"

    policy = RetryPolicy(budget_s=5, base_delay_s=0.001, max_delay_s=0.002)
    assert policy.run(call) == "ok"
    # Published to the connections (rivulet.deadline), shrinking per attempt.
    assert all(left is not None and 0 < left <= 5 for left in seen), seen
    assert seen == sorted(seen, reverse=True)  # type: ignore[type-var]
    assert deadline.time_left() is None  # and withdrawn afterwards


def test_no_retries_leaves_the_attempt_to_the_socket_timeouts() -> None:
    assert RetryPolicy.none().run(deadline.time_left) is None


def test_a_spent_budget_inside_a_call_is_a_rivulet_timeout() -> None:
    # What a capped connection raises once the deadline has passed.
    def call() -> None:
        deadline.cap(1.0)

    with deadline.within(0.0), pytest.raises(rivulet.TimeoutError):
        RetryPolicy(budget_s=5).run(call)


def test_running_out_of_budget_reports_what_redis_last_said() -> None:
    # The attempt that starts as the budget ends fails for want of time; the
    # error raised is the previous, real one (refused), not a "timeout".
    errors = itertools.chain([rex.ConnectionError("refused")],
                             itertools.repeat(deadline.BudgetSpent("spent")))

    def call() -> None:
        raise next(errors)

    policy = RetryPolicy(budget_s=0.05, base_delay_s=0.001, max_delay_s=0.002)
    with pytest.raises(rivulet.ConnectionError, match="refused"):
        policy.run(call)


def test_run_each_sends_again_only_the_calls_that_failed_transiently() -> None:
    refused = rex.ResponseError("WRONGTYPE Operation against a key")
    answers = iter([["a", rex.ConnectionError("reset"), refused, rex.TimeoutError("slow")],
                    ["b", rex.ConnectionError("reset")], ["c"]])
    seen: list[tuple[list[int], bool]] = []
    refreshed: list[int] = []

    def attempt(todo: list[int], again: bool) -> list[object]:
        seen.append((list(todo), again))
        return next(answers)

    policy = RetryPolicy(budget_s=5, base_delay_s=0.001, max_delay_s=0.002)
    results = policy.run_each(4, attempt, "test", lambda: refreshed.append(1))
    assert results == ["a", "b", refused, "c"]
    assert seen == [([0, 1, 2, 3], False), ([1, 3], True), ([3], True)]
    assert len(refreshed) == 2


def test_run_each_out_of_time_mid_attempt_keeps_what_redis_last_said() -> None:
    down = rex.ConnectionError("Connection refused")
    answers = iter([[down], [deadline.BudgetSpent("budget spent")]])
    policy = RetryPolicy(budget_s=0.05, base_delay_s=0.001, max_delay_s=0.002)

    def attempt(todo: list[int], again: bool) -> list[object]:
        return next(answers, [deadline.BudgetSpent("budget spent")])

    assert policy.run_each(1, attempt) == [down]


class InterruptedAfterSet:
    """The deadline's context variable, with a KeyboardInterrupt landing
    right after its next ``set`` (a signal between two bytecodes)."""

    def __init__(self, var: object) -> None:
        self._var = var
        self.armed = True

    def set(self, value: float | None) -> object:
        token = self._var.set(value)  # type: ignore[attr-defined]
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt
        return token

    def __getattr__(self, name: str) -> object:
        return getattr(self._var, name)


@pytest.mark.parametrize("how", ["run", "run_each", "within"])
def test_an_interrupt_right_after_the_deadline_is_set_leaves_none_behind(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deadline left in force fails every later call of the thread once it
    # has passed ("the call's time budget is spent"), on any client.
    monkeypatch.setattr(deadline, "_deadline", InterruptedAfterSet(deadline._deadline))
    policy = RetryPolicy(budget_s=5)
    with pytest.raises(KeyboardInterrupt):
        if how == "run":
            policy.run(lambda: "ok")
        elif how == "run_each":
            policy.run_each(1, lambda todo, again: ["ok"])
        else:
            with deadline.within(0.0):
                pass
    assert deadline.current() is None
    assert policy.run(deadline.time_left) is not None  # the next call gets its own
    assert deadline.current() is None
