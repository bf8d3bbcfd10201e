"""A coalescing producer: many small sends become few write calls.

Threads call :meth:`Producer.send`, which validates and encodes the message
at once and queues it; one background sender thread packs whatever waits for
each channel into one write-script call, and the calls for all waiting
channels into one pipeline, so a round trip carries many messages
(:mod:`rivulet.producer_rounds` sends it).

One round at a time, and one call per channel in it, keep each thread's ids
in order whatever a retry does. A retried round sends again only the calls
that failed: with two calls for one channel in flight, an error reply to the
first alone (LOADING, TRYAGAIN, ...) with the second stored would store the
first's messages after the second's. The write script recognises a writer's
last 8 tokens per channel, which leaves room for the client's own writes and
other producers on the same client. More calls per round would buy little: a
round's cost is almost all in its messages once a call holds ``max_batch``.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import functools
import logging
import math
import os
import threading
import time
import weakref
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .exceptions import (
    BackendError,
    NotSubscribedError,
    RivuletError,
    TimeoutError,
    translate,
)
from .names import validate_name
from .producer_calls import Call, MessageFuture, encode_one, first_id
from .producer_rounds import Outage, RoundWriter

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("rivulet")


class Producer:
    """Coalesces writes from any number of threads into few round trips.

    ``send`` returns a :class:`concurrent.futures.Future` for the message's id.
    A message waits up to ``linger_ms`` for company before it is sent (not at
    all when someone waits on a future, flushes or closes); ``max_batch``
    bounds the messages of one channel in one write call; ``send`` blocks
    while ``max_pending`` messages are unresolved. The client itself is used
    only for its connection pool (the producer keeps one connection of it for
    its rounds), retry policy, id, size limit and ``wait_replicas``: the
    producer draws its own write tokens, so it may share the client with the
    thread that owns it (close the producer before the client).

    A forked child gets a sender of its own on its first call; the messages
    the parent had queued stay the parent's to send (their futures, copied
    into the child, never resolve there).
    """

    def __init__(
        self,
        client: Client,
        linger_ms: float = 2,
        max_batch: int = 1000,
        max_pending: int = 100_000,
    ) -> None:
        if isinstance(linger_ms, bool) or not isinstance(linger_ms, (int, float)):
            raise TypeError("linger_ms must be a number of milliseconds")
        if not 0 <= linger_ms / 1000 <= threading.TIMEOUT_MAX:  # also refuses NaN
            raise ValueError(
                f"linger_ms must be from 0 to {threading.TIMEOUT_MAX * 1000:g}, not {linger_ms}")
        for name, value in (("max_batch", max_batch), ("max_pending", max_pending)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        self.client = client
        self.linger_s = float(linger_ms) / 1000
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._closed = False
        self._reset()
        # Messages still waiting when the interpreter exits are sent, not
        # dropped with the daemon sender thread.
        self._at_exit = functools.partial(_flush_at_exit, weakref.ref(self))
        atexit.register(self._at_exit)

    def _reset(self) -> None:
        """Fresh state: at construction, and in a forked child (whose copy of
        the parent's lock may be held by a thread that no longer exists)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the sender waits for messages
        self._space = threading.Condition(self._lock)  # senders wait below max_pending
        self._queues: dict[str, collections.deque[Call]] = {}
        self._last: dict[str, MessageFuture] = {}  # each channel's newest unresolved future
        self._queued = 0  # waiting for the sender
        self._pending = 0  # queued or in flight
        self._oldest = 0.0  # when the oldest waiting message was queued
        self._full = False  # some channel has a full call waiting
        self._hurried = False  # someone waits on a future
        self._flushing = 0
        self._transit = 0  # threads a round woke that have not left result() yet
        self._outage = Outage(self.client.redis)
        self._thread: threading.Thread | None = None
        self._writer = RoundWriter(self.client)

    # -- the public API --------------------------------------------------------

    def send(self, channel_id: str, data: str) -> concurrent.futures.Future[int]:
        """Queue one message; the future resolves to its id, or to the write's error.

        Bad input is refused here, as :meth:`Client.write` refuses it.

        :raises RivuletError: the producer is closed.
        """
        channel = validate_name(channel_id)
        encoded, size = encode_one(data, self.client.max_message_bytes)
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            if self._closed:
                raise RivuletError("this Producer is closed")
            if self._pending >= self.max_pending and not self._on_sender():
                self._space.wait_for(lambda: self._pending < self.max_pending or self._closed)
                if self._closed:
                    raise RivuletError("this Producer was closed while send waited")
            queue = self._queues.get(channel)
            if queue is None:
                queue = self._queues[channel] = collections.deque()
            if (not queue or len(queue[-1].data) >= self.max_batch
                    or queue[-1].size + size > Call.MAX_BYTES):
                if queue:
                    self._full = True  # a call is complete: no point lingering
                    self._work.notify()
                queue.append(Call())
            call = queue[-1]
            future = MessageFuture(self, call)
            call.data.append(encoded)
            call.futures.append(future)
            call.size += size
            if len(call.data) == self.max_batch:
                self._full = True
                self._work.notify()
            self._last[channel] = future
            self._pending += 1
            self._queued += 1
            if self._queued == 1:
                self._oldest = time.monotonic()
                if self._transit <= 0:  # else the last one back wakes the sender
                    self._work.notify()
            if self._thread is None:
                self._start()
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every message sent before this call is stored or failed.

        Failures are reported on the messages' futures, not raised here.

        :raises TimeoutError: ``timeout`` seconds passed first.
        :raises TypeError, ValueError: ``timeout`` is no number of seconds >= 0.
        """
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError(f"timeout must be a number of seconds or None, not "
                                f"{type(timeout).__name__}")
            if math.isnan(timeout) or timeout < 0:
                raise ValueError(f"timeout must be at least 0 seconds, not {timeout}")
        if self._pid != os.getpid():
            self._after_fork()
        if self._on_sender():
            raise RivuletError("flush() from a future's callback would wait on itself")
        with self._lock:
            waiting = list(self._last.values())
            if not waiting:
                return
            self._flushing += 1
            self._work.notify()
        try:
            _, not_done = concurrent.futures.wait(waiting, timeout)
        finally:
            with self._lock:
                self._flushing -= 1
        if not_done:
            raise TimeoutError(
                f"flush timed out after {timeout}s with messages in "
                f"{len(not_done)} channel(s) still waiting"
            )

    def close(self) -> None:
        """Flush, then stop the sender. Later sends raise; the client stays open."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._work.notify()
            self._space.notify_all()
            thread = self._thread
        atexit.unregister(self._at_exit)
        if thread is not None and thread is not threading.current_thread():
            thread.join()  # the sender drains the queues before it stops

    def __enter__(self) -> Producer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<rivulet.Producer for {self.client.client_id!r}, {self._pending} pending>"

    # -- the sender --------------------------------------------------------------

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"rivulet-producer-{self.client.client_id}", daemon=True
        )
        self._thread.start()

    def _on_sender(self) -> bool:
        """True on the sender thread, where the futures' callbacks run."""
        return self._thread is threading.current_thread()

    def _after_fork(self) -> None:
        """In a forked child: the parent's messages are the parent's to send
        (sending them here too would store them twice); start afresh."""
        closed = self._closed
        self._reset()
        self._closed = closed

    def _hurry(self) -> None:
        """Someone waits on a future: send what waits without lingering, but
        not before the threads the last round woke are back (:meth:`_back`).

        (Letting a waiting thread send the round itself, sparing the
        hand-off to the sender, measured slower with bench/_producer.py:
        0.95-1.06x single writes against 1.18-1.23x, with more thread
        switches per message, since that thread's own next message then
        misses the round it sends.)
        """
        if self._pid != os.getpid():
            self._after_fork()  # a child must not send the parent's messages
        with self._lock:
            if self._queued and not self._hurried:
                self._hurried = True
                if self._transit <= 0:
                    self._work.notify()

    def _back(self) -> None:
        """A thread the last round woke has left ``result()``.

        Threads that each wait on their message come back from a round
        together, and most send again at once: a hurried round that went on
        the first one's message would carry one message, the next round the
        rest. So a hurried round waits until every woken thread has left
        ``result()`` (never longer than the linger): the last one to leave
        wakes the sender, which runs once that thread blocks or lets the GIL
        go, by then with its next message queued too. A thread that does not
        send again delays nobody: it has left. Sends meanwhile leave the
        sender asleep (each wake-up costs a thread switch or two); the last
        one back wakes it for them too, to start their linger.
        """
        with self._lock:
            self._transit -= 1
            if self._transit <= 0 and self._queued:
                self._work.notify()

    def _run(self) -> None:
        taken: dict[str, Call] | None = None
        try:
            while True:
                taken = None
                taken = self._take()
                if taken is None:
                    self._writer.close()
                    return
                expired = self._outage.expired(taken)
                if expired:
                    self._resolve({ch: call for ch, (call, _) in expired.items()},
                                  [error for _, error in expired.values()])
                    taken = {ch: call for ch, call in taken.items() if ch not in expired}
                    if not taken:
                        continue
                try:
                    results = self._write(taken)
                except BaseException as error:  # to the round's futures: never strand one
                    results = [translate(error) if isinstance(error, Exception) else
                               RivuletError(f"producer round interrupted: {error!r}")
                               ] * len(taken)
                self._outage.note(list(taken), results)
                self._resolve(taken, results)
        except BaseException as error:  # logged there: a thread's traceback reaches no one
            self._crashed(error, list(taken.values()) if taken else [])

    def _crashed(self, error: BaseException, in_flight: list[Call]) -> None:
        """The sender stopped on an error of its own (a bug): no message may
        wait for it forever. The round it held and everything queued fail,
        and the producer closes."""
        log.error("rivulet.Producer's sender stopped: %r; its waiting messages fail", error,
                  exc_info=error)
        failure = RivuletError(f"the producer's sender stopped: {error!r}")
        with self._lock:
            self._closed = True
            calls = [call for call in in_flight if not call.futures[-1].done()]
            calls += [call for queue in self._queues.values() for call in queue]
            self._queues.clear()
            self._last.clear()
            self._queued = 0
            self._pending -= sum(len(call.futures) for call in calls)
            self._space.notify_all()
        for call in calls:
            call.settle(None, failure)

    def _take(self) -> dict[str, Call] | None:
        """Wait for messages (and up to ``linger_s`` for more), then take each
        waiting channel's next call; None once closed and drained."""
        with self._lock:
            while True:
                if not self._queued:
                    if self._closed:
                        return None
                    self._work.wait()
                    continue
                if self._full or self._flushing or self._closed:
                    break
                if self._hurried and self._transit <= 0:
                    break
                left = self._oldest + self.linger_s - time.monotonic()
                if left <= 0:
                    break
                self._work.wait(left)
            return self._take_now()

    def _take_now(self) -> dict[str, Call]:
        """Take each waiting channel's next call, with the lock held. (One
        round in flight at a time keeps each thread's ids in order.)"""
        taken: dict[str, Call] = {}
        for channel, queue in list(self._queues.items()):
            taken[channel] = queue.popleft()
            if not queue:
                del self._queues[channel]
        self._queued -= sum(len(call.data) for call in taken.values())
        # What is left over waited already: the next round goes at once.
        self._full = bool(self._queued)
        self._hurried = False
        return taken

    def _write(self, taken: dict[str, Call]) -> list[Any]:
        """One round trip for the round: a write call per channel, each
        call's reply or error."""
        return self._writer.write([(channel, call.data) for channel, call in taken.items()])

    def _resolve(self, taken: dict[str, Call], results: list[Any]) -> None:
        woken = 0
        for (channel, call), result in zip(taken.items(), results):
            if not isinstance(result, BaseException) and first_id(result) is None:
                result = BackendError(f"the write script answered {result!r}")
            if isinstance(result, NotSubscribedError):
                result = NotSubscribedError(
                    f"client {self.client.client_id!r} is not subscribed to channel "
                    f"{channel!r}; subscribe first", channel,
                )
            if isinstance(result, BaseException):
                woken += call.settle(None, result)
            else:
                woken += call.settle(first_id(result), None)
            for future in call.futures:
                if future._done_callbacks:
                    future._run_callbacks()
        with self._lock:
            for channel, call in taken.items():
                if self._last.get(channel) is call.futures[-1]:
                    del self._last[channel]
            self._pending -= sum(len(call.futures) for call in taken.values())
            self._transit += woken
            self._space.notify_all()


def _flush_at_exit(ref: weakref.ref[Producer]) -> None:
    producer = ref()
    if producer is not None and producer._pid == os.getpid():
        producer.close()
