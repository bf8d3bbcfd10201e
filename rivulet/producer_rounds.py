"""How a :class:`~rivulet.producer.Producer`'s round reaches Redis: one
round trip carrying every waiting channel's write call.

On a plain standalone client the round goes as one packed pipeline on a
connection the producer keeps for itself (:mod:`rivulet.fastpath`): redis-py's
pipeline layer (a pool checkout with a readiness poll, its command stack and
hooks) cost more client CPU than the rest of a small round. A cluster client
keeps :class:`rivulet.scripts.Batch`, which routes each call to its node.

Either way every call carries a token of its own, drawn once: a call whose
reply was lost is sent again with it, and the write script answers the ids it
stored the first time.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import deadline as deadlines
from . import fastpath, scripts
from .client import write_call
from .exceptions import is_transient, translate

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("rivulet")


class RoundWriter:
    """Sends rounds of write calls for one producer (one round at a time)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._fast = fastpath.for_redis(client.redis)
        # Unique per producer and per process, even for a reused client id.
        self._token_prefix = os.urandom(6).hex() + ":p:"
        self._calls = 0

    def write(self, calls: Sequence[tuple[str, list[str]]]) -> list[Any]:
        """Each ``(channel, encoded messages)`` call's reply, or its error
        (translated): once the retry budget is spent for transient ones."""
        client = self.client
        payload = []
        for channel, data in calls:
            self._calls += 1
            payload.append(write_call(
                channel, data, mode="sub", writer=client.client_id, src=client.client_id,
                token=f"{self._token_prefix}{self._calls}",
            ))
        if self._fast is None:
            batch = scripts.Batch()
            for write_keys, args in payload:
                batch.script(scripts.WRITE, write_keys, args)
            return batch.run(client.redis, client.retry, "producer write", strict=False)
        return self._run_fast(self._fast, payload)

    def _run_fast(self, fast: fastpath.FastCalls,
                  payload: list[tuple[list[str], list[str]]]) -> list[Any]:
        """The calls on the kept connection, retried as ``Batch.run`` retries:
        transient failures only, in their order, within the budget."""
        retry = self.client.retry
        deadline = time.monotonic() + retry.budget_s
        results: list[Any] = [None] * len(payload)
        todo = list(range(len(payload)))
        attempt = 0
        while True:
            try:
                with retry.bounded(deadline):
                    replies = fast.call_many(scripts.WRITE, [payload[i] for i in todo])
            except Exception as error:  # the link failed: no reply of this attempt arrived
                replies = [error] * len(todo)
            for i, reply in zip(todo, replies):
                # Out of time mid-attempt: what Redis last said is the news.
                if not (isinstance(reply, deadlines.BudgetSpent) and results[i] is not None):
                    results[i] = reply
            todo = [i for i in todo if isinstance(results[i], Exception)
                    and is_transient(results[i])]
            left = deadline - time.monotonic()
            if not todo or left <= 0:
                break
            pause = min(left, retry.delay(attempt))
            log.info("producer write: %d of %d calls failed (%s); retrying in %.3fs",
                     len(todo), len(payload), results[todo[0]], pause)
            time.sleep(pause)
            attempt += 1
        return [translate(r) if isinstance(r, Exception) else r for r in results]

    def close(self) -> None:
        """Hand the kept connection back to the client's pool."""
        if self._fast is not None:
            self._fast.close()
