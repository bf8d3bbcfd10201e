"""How a :class:`~rivulet.producer.Producer`'s round reaches Redis: one
round trip carrying every waiting channel's write call.

On a plain standalone client the round goes as one packed pipeline on a
connection the producer keeps for itself (:mod:`rivulet.fastpath`): redis-py's
pipeline layer (a pool checkout with a readiness poll, its command stack and
hooks) cost more client CPU than the rest of a small round. A cluster client
keeps :class:`rivulet.scripts.Batch`, which routes each call to its node.

Either way every call carries a token of its own, drawn once: a call whose
reply was lost is sent again with it, and the write script answers the ids it
stored the first time. A client made with ``wait_replicas`` sends its rounds
through ``Batch`` too, with one ``WAIT`` per node after that node's calls, as
its own writes wait.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import fastpath, keys, scripts
from .exceptions import ConnectionError, NotReplicatedError, TimeoutError, translate
from .scripts import routing
from .write_calls import write_call, write_reply

if TYPE_CHECKING:
    from .client import Client
    from .producer_calls import Call

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
        if client.wait_replicas:
            return self._run_replicated(calls, payload)
        if self._fast is None:
            batch = scripts.Batch()
            for write_keys, args in payload:
                batch.script(scripts.WRITE, write_keys, args)
            return batch.run(client.redis, client.retry, "producer write", strict=False)
        return self._run_fast(self._fast, payload)

    def _run_replicated(self, calls: Sequence[tuple[str, list[str]]],
                        payload: list[tuple[list[str], list[str]]]) -> list[Any]:
        """The calls, then one WAIT per node (a WAIT per call would wait its
        timeout once per channel when a replica is missing). A call stored
        but confirmed by too few replicas answers NotReplicatedError."""
        client = self.client
        wanted, timeout_ms = client.wait_replicas, client.wait_timeout_ms
        batch = scripts.Batch()
        for write_keys, args in payload:
            batch.script(scripts.WRITE, write_keys, args)
        last_on: dict[str, str] = {}  # node -> key of its last call
        node_of = [_node(client.redis, write_keys[0]) for write_keys, _ in payload]
        for node, (write_keys, _) in zip(node_of, payload):
            last_on[node] = write_keys[0]
        waits = {node: batch.wait(key, wanted, timeout_ms) for node, key in last_on.items()}
        results = batch.run(client.redis, client.retry, "producer write", strict=False)
        out: list[Any] = []
        for i, ((channel, data), node) in enumerate(zip(calls, node_of)):
            reply = results[i]
            try:
                first, count = write_reply(reply)[0], len(data)
            except ValueError:
                out.append(reply)  # an error, or a reply the producer reports
                continue
            acked = results[waits[node]]
            acked = acked if isinstance(acked, int) else 0  # a failed WAIT confirmed nothing
            if acked < wanted:
                reply = NotReplicatedError(
                    f"write to {channel!r} reached {acked} of {wanted} replicas in "
                    f"{timeout_ms} ms; it is stored on the master only",
                    list(range(first, first + count)), acked, wanted,
                )
            out.append(reply)
        return out

    def _run_fast(self, fast: fastpath.FastCalls,
                  payload: list[tuple[list[str], list[str]]]) -> list[Any]:
        """The calls on the kept connection, retried as ``Batch.run`` retries."""

        def attempt(todo: list[int], _again: bool) -> list[Any]:
            try:
                return fast.call_many(scripts.WRITE, [payload[i] for i in todo])
            except Exception as error:  # the link failed: no reply of this attempt arrived
                return [error] * len(todo)

        results = self.client.retry.run_each(len(payload), attempt, "producer write")
        return [translate(r) if isinstance(r, Exception) else r for r in results]

    def close(self) -> None:
        """Hand the kept connection back to the client's pool."""
        if self._fast is not None:
            self._fast.close()


class Outage:
    """The nodes whose last round failed after spending its retry budget
    (unreachable or not answering), each until a round on it is answered.

    The calls for such a node that were waiting already when it failed fail
    with its error, unsent: sent one by one, each would spend the budget
    again, and ``flush()``, ``close()`` and the interpreter's exit would wait
    the budget once per waiting call (minutes, with a Redis down and a
    backlog). A call made after the failure gets a budget of its own, and a
    call for another node (a cluster's healthy masters) is sent as ever.
    """

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._down: dict[str, tuple[float, BaseException]] = {}  # node -> (since, error)

    def expired(self, taken: dict[str, Call]) -> dict[str, tuple[Call, BaseException]]:
        """The calls of ``taken`` made before their node failed, with its error."""
        if not self._down:
            return {}
        out = {}
        for channel, call in taken.items():
            down = self._down.get(self._node(channel))
            if down is not None and call.created <= down[0]:
                out[channel] = (call, down[1])
        return out

    def note(self, channels: Sequence[str], results: Sequence[Any]) -> None:
        """Take in a round's results (translated errors or replies), in the
        order of its ``channels``."""
        now = time.monotonic()
        for channel, result in zip(channels, results):
            if isinstance(result, (ConnectionError, TimeoutError)):
                self._down[self._node(channel)] = (now, result)
            elif not isinstance(result, BaseException) and self._down:
                self._down.pop(self._node(channel), None)

    def _node(self, channel: str) -> str:
        return _node(self._redis, keys.id_key(channel))


def _node(redis: Any, key: str) -> str:
    """The name of the node serving ``key`` ("" on a standalone server); a
    key whose node is not known yet gets a WAIT of its own."""
    if not routing.is_cluster(redis):
        return ""
    try:
        return str(redis.get_node_from_key(key).name)
    except Exception:  # no node for the slot yet: Batch reports it on the call
        return f"key:{key}"
