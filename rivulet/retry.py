"""rivulet's one retry layer: jittered exponential backoff over a time budget.

redis-py's own retries are switched off on connections rivulet makes, because
they re-run a script whose reply was lost without knowing whether it ran.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from . import deadline as deadlines
from .exceptions import RivuletError, is_transient, translate

log = logging.getLogger("rivulet")
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying when Redis is unreachable or restarting.

    ``budget_s`` bounds the whole call; each pause is drawn uniformly from
    ``[0, min(max_delay_s, base_delay_s * 2**attempt)]`` ("full jitter"), so
    many clients coming back at once do not arrive in step. The deadline is
    published to :mod:`rivulet.deadline`, so no socket operation of the call
    outlasts it, whatever ``socket_timeout`` says.
    """

    budget_s: float = 8.0
    base_delay_s: float = 0.05
    max_delay_s: float = 1.0

    @classmethod
    def none(cls) -> RetryPolicy:
        """No retries: one attempt, bounded by the connection's own socket
        timeouts; its first transient failure is raised."""
        return cls(budget_s=0.0)

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not crypto

    def run(self, call: Callable[[], T], what: str = "Redis call") -> T:
        """Run ``call``; retry transient failures until the budget is spent.

        :raises RivuletError: the translation of the last failure.
        """
        deadline = deadlines.soonest(time.monotonic() + self.budget_s)
        # A zero budget means "no retries", not "no time": its one attempt
        # is left to the connection's socket timeouts.
        bounded = self.budget_s > 0
        attempt = 0
        last: Exception | None = None
        while True:
            try:
                return deadlines.run_within(deadline, call) if bounded else call()
            except RivuletError:
                raise
            except Exception as error:
                if isinstance(error, deadlines.BudgetSpent) and last is not None:
                    # Out of time mid-attempt: what Redis last said is the news.
                    error = last
                if not is_transient(error):
                    raise translate(error) from error
                left = deadline - time.monotonic()
                if left <= 0:
                    raise translate(error) from error
                last = error
                pause = min(left, self.delay(attempt))
                log.info("%s failed (%s); retrying in %.3fs", what, error, pause)
                time.sleep(pause)
                attempt += 1

    def run_each(self, count: int, attempt: Callable[[list[int], bool], Sequence[Any]],
                 what: str = "Redis calls",
                 before_retry: Callable[[], None] | None = None) -> list[Any]:
        """Run ``count`` independent calls; retry only those that failed
        transiently, in their order, until the budget is spent.

        ``attempt(todo, again)`` sends the calls at positions ``todo`` (all of
        them first, ``again`` False) and returns each one's reply or the
        exception it met, in ``todo``'s order; ``before_retry`` runs before
        each retry (a cluster's topology refresh). Nothing that ran is sent
        twice, so a batch of writes keeps its retry tokens' promise.

        :returns: each call's reply or its last exception, untranslated: the
            caller decides whether an error is raised or handed back.
        """
        deadline = deadlines.soonest(time.monotonic() + self.budget_s)
        results: list[Any] = [None] * count
        todo = list(range(count))
        tries = 0
        while True:
            if self.budget_s > 0:
                replies = deadlines.run_within(deadline, attempt, todo, tries > 0)
            else:
                replies = attempt(todo, tries > 0)
            for i, reply in zip(todo, replies):
                # Out of time mid-attempt: what Redis last said is the news.
                if not (isinstance(reply, deadlines.BudgetSpent) and results[i] is not None):
                    results[i] = reply
            todo = [i for i in todo
                    if isinstance(results[i], Exception) and is_transient(results[i])]
            left = deadline - time.monotonic()
            if not todo or left <= 0:
                return results
            pause = min(left, self.delay(tries))
            log.info("%s: %d of %d calls failed (%s); retrying in %.3fs",
                     what, len(todo), count, results[todo[0]], pause)
            time.sleep(pause)
            tries += 1
            if before_retry is not None:
                before_retry()
