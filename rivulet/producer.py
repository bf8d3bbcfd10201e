"""A coalescing producer: many small sends become few write calls.

Threads call :meth:`Producer.send`, which validates and encodes the message
at once and queues it; one background sender thread packs whatever waits for
each channel into one write-script call, and the calls for all waiting
channels into one pipeline, so a round trip carries many messages.

Why one call per channel per round trip: the write script remembers only a
writer's *last* token in each channel. A retried pipeline (its reply lost)
re-sends every call with its token; with two calls for one channel in it the
first would no longer be recognised and would be stored twice.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import functools
import os
import threading
import time
import weakref
from concurrent.futures._base import PENDING
from json.encoder import encode_basestring as _json_string  # json_literal's encoder, in C
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import scripts
from .client import write_call
from .exceptions import (
    BackendError,
    MessageTooLargeError,
    NotSubscribedError,
    RivuletError,
    TimeoutError,
    translate,
)
from .names import validate_name

if TYPE_CHECKING:
    from .client import Client

#: One write call carries at most this many bytes of message data (at least one
#: message): Redis buffers a whole request, and a 1000-message call of 1 MiB
#: messages would be a gigabyte.
MAX_CALL_BYTES = 8 << 20


class _Call:
    """The messages of one future write call: a channel's next ``max_batch``.

    Its futures share one condition. A ``threading.Condition`` per future
    (what ``Future()`` makes) is most of a send's cost once the garbage
    collector walks thousands of waiting ones; sharing is safe because the
    sender settles all of a call's futures while holding the condition, so a
    waiter never wakes to find its own future still pending.
    """

    __slots__ = ("condition", "data", "futures", "size")

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.data: list[str] = []
        self.futures: list[_Future] = []
        self.size = 0


class _Future(concurrent.futures.Future[int]):
    """A send's outcome. Waiting on it tells the sender not to linger."""

    def __init__(self, producer: Producer, condition: threading.Condition) -> None:
        # Future.__init__'s attributes (unchanged since Python 3.2; a test
        # compares them with a plain Future's), with the call's condition.
        self._condition = condition
        self._state = PENDING
        self._result = None
        self._exception = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Any] = []
        self._producer = producer

    def result(self, timeout: float | None = None) -> int:
        if not self.done():
            self._producer._hurry()
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self.done():
            self._producer._hurry()
        return super().exception(timeout)

    def cancel(self) -> bool:
        """A sent message is on its way; it cannot be called back."""
        return False

    def _invoke_callbacks(self) -> None:
        # Deferred: set_result runs under the call's shared condition, and a
        # callback must not run holding it. The sender calls them after.
        pass

    def _run_callbacks(self) -> None:
        super()._invoke_callbacks()  # type: ignore[misc]


class Producer:
    """Coalesces writes from any number of threads into few round trips.

    ``send`` returns a :class:`concurrent.futures.Future` for the message's id.
    A message waits up to ``linger_ms`` for company before it is sent (not at
    all when someone waits on a future, flushes or closes); ``max_batch``
    bounds the messages of one channel in one write call; ``send`` blocks
    while ``max_pending`` messages are unresolved. The client itself is used
    only for its redis connection, retry policy, id and size limit: the
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
        if not linger_ms >= 0:  # also refuses NaN
            raise ValueError(f"linger_ms must be at least 0, not {linger_ms}")
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
        self._queues: dict[str, collections.deque[_Call]] = {}
        self._last: dict[str, _Future] = {}  # each channel's newest unresolved future
        self._queued = 0  # waiting for the sender
        self._pending = 0  # queued or in flight
        self._oldest = 0.0  # when the oldest waiting message was queued
        self._full = False  # some channel has a full call waiting
        self._hurried = False  # someone waits on a future
        self._flushing = 0
        self._thread: threading.Thread | None = None
        self._round: threading.Thread | None = None  # the thread with a round in flight
        self._token_prefix = os.urandom(6).hex() + ":p:"
        self._calls = 0

    # -- the public API --------------------------------------------------------

    def send(self, channel_id: str, data: str) -> concurrent.futures.Future[int]:
        """Queue one message; the future resolves to its id, or to the write's error.

        Bad input is refused here, as :meth:`Client.write` refuses it.

        :raises RivuletError: the producer is closed.
        """
        channel = validate_name(channel_id)
        encoded, size = _encode(data, self.client.max_message_bytes)
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
                    or queue[-1].size + size > MAX_CALL_BYTES):
                if queue:
                    self._full = True  # a call is complete: no point lingering
                    self._work.notify()
                queue.append(_Call())
            call = queue[-1]
            future = _Future(self, call.condition)
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
                self._work.notify()
            if self._thread is None:
                self._start()
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every message sent before this call is stored or failed.

        Failures are reported on the messages' futures, not raised here.

        :raises TimeoutError: ``timeout`` seconds passed first.
        """
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
        """True in the thread running a round (its futures' callbacks run there)."""
        return self._round is threading.current_thread()

    def _after_fork(self) -> None:
        """In a forked child: the parent's messages are the parent's to send
        (sending them here too would store them twice); start afresh."""
        closed = self._closed
        self._reset()
        self._closed = closed

    def _hurry(self) -> None:
        """Someone waits on a future: no lingering. With no round in flight the
        waiting thread sends the round itself, sparing two thread hand-offs
        (waking the sender, the sender waking it); otherwise the round in
        flight is followed at once by the next."""
        if self._pid != os.getpid():
            self._after_fork()  # a child must not send the parent's messages
        with self._lock:
            if not self._queued:
                return  # the future's round is in flight
            if self._round is not None:
                self._hurried = True
                return
            taken = self._take_now()
        self._round_trip(taken)

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            self._round_trip(taken)

    def _round_trip(self, taken: dict[str, _Call]) -> None:
        try:
            results = self._write(taken)
        except BaseException as error:  # to the round's futures: never strand one
            results = [translate(error) if isinstance(error, Exception) else
                       RivuletError(f"producer round interrupted: {error!r}")] * len(taken)
            self._resolve(taken, results)
            if not isinstance(error, Exception):
                raise
            return
        self._resolve(taken, results)

    def _take(self) -> dict[str, _Call] | None:
        """Wait for messages (and up to ``linger_s`` for more), then take each
        waiting channel's next call; None once closed and drained."""
        with self._lock:
            while True:
                if self._round is not None:  # a waiting thread is sending one
                    self._work.wait()
                    continue
                if not self._queued:
                    if self._closed:
                        return None
                    self._work.wait()
                    continue
                if self._full or self._hurried or self._flushing or self._closed:
                    break
                left = self._oldest + self.linger_s - time.monotonic()
                if left <= 0:
                    break
                self._work.wait(left)
            return self._take_now()

    def _take_now(self) -> dict[str, _Call]:
        """Take each waiting channel's next call, with the lock held: one round
        in flight at a time keeps each thread's ids in order and each channel's
        retry token recognisable."""
        self._round = threading.current_thread()
        taken: dict[str, _Call] = {}
        for channel, queue in list(self._queues.items()):
            taken[channel] = queue.popleft()
            if not queue:
                del self._queues[channel]
        self._queued -= sum(len(call.data) for call in taken.values())
        # What is left over waited already: the next round goes at once.
        self._full = bool(self._queued)
        self._hurried = False
        return taken

    def _write(self, taken: dict[str, _Call]) -> list[Any]:
        """One round trip for the round: a write call per channel, or the error
        of the whole round (a dropped link once the retries are spent)."""
        client = self.client
        batch = scripts.Batch()
        for channel, call in taken.items():
            self._calls += 1
            write_keys, args = write_call(
                channel, call.data, mode="sub", writer=client.client_id,
                src=client.client_id, token=f"{self._token_prefix}{self._calls}",
            )
            batch.script(scripts.WRITE, write_keys, args)
        return batch.run(client.redis, client.retry, "producer write", strict=False)

    def _resolve(self, taken: dict[str, _Call], results: list[Any]) -> None:
        for (channel, call), result in zip(taken.items(), results):
            if not isinstance(result, BaseException) and _first_id(result) is None:
                result = BackendError(f"the write script answered {result!r}")
            if isinstance(result, NotSubscribedError):
                result = NotSubscribedError(
                    f"client {self.client.client_id!r} is not subscribed to channel "
                    f"{channel!r}; subscribe first", channel,
                )
            with call.condition:
                if isinstance(result, BaseException):
                    for future in call.futures:
                        future.set_exception(result)
                else:
                    first = _first_id(result)
                    for offset, future in enumerate(call.futures):
                        future.set_result(first + offset)
            for future in call.futures:
                if future._done_callbacks:
                    future._run_callbacks()
        with self._lock:
            for channel, call in taken.items():
                if self._last.get(channel) is call.futures[-1]:
                    del self._last[channel]
            self._pending -= sum(len(call.futures) for call in taken.values())
            self._round = None
            self._space.notify_all()
            self._work.notify()  # the sender may wait for this round to end


def _first_id(reply: Any) -> Any:
    """The first id in a write script's reply ``[first, count, duplicate]``."""
    try:
        return int(reply[0])
    except (TypeError, ValueError, IndexError, KeyError):
        return None


def _encode(data: object, max_bytes: int) -> tuple[str, int]:
    """One message as ``encode_batch`` checks and encodes it, and its size.

    The same rules and errors, without the batch's generality: this runs once
    per message on the senders' threads.
    """
    if not isinstance(data, str):
        raise TypeError(
            f"data is a {type(data).__name__}; rivulet carries str only "
            "(encode other data, e.g. with json.dumps, first)"
        )
    if data.isascii():
        size = len(data)
    else:
        try:
            size = len(data.encode("utf-8"))
        except UnicodeEncodeError as error:
            raise ValueError(f"message is not valid Unicode text: {error}") from None
    if size > max_bytes:
        raise MessageTooLargeError(
            f"message is {size} bytes of UTF-8, over the limit of {max_bytes}",
            size=size, limit=max_bytes,
        )
    return _json_string(data), size


def _flush_at_exit(ref: weakref.ref[Producer]) -> None:
    producer = ref()
    if producer is not None and producer._pid == os.getpid():
        producer.close()
