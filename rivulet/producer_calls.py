"""What a :class:`~rivulet.producer.Producer` queues: calls of encoded
messages, and the futures that ride in them."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from concurrent.futures._base import FINISHED, PENDING
from json.encoder import encode_basestring as _json_string  # json_literal's encoder, in C
from typing import Any, Protocol

from .exceptions import MessageTooLargeError, RivuletError
from .write_calls import write_reply

log = logging.getLogger("rivulet")


class Sender(Protocol):
    """What a future asks of its producer."""

    def _hurry(self) -> None:
        """Someone is about to wait: send without lingering."""

    def _back(self) -> None:
        """A thread woken by its future's round has left ``result()``."""

    def _on_sender(self) -> bool:
        """True on the sender thread, where the futures' callbacks run."""


class Call:
    """The messages of one future write call: a channel's next ``max_batch``.

    Its futures share one condition. A ``threading.Condition`` per future
    (what ``Future()`` makes) is most of a send's cost once the garbage
    collector walks thousands of waiting ones; sharing is safe because
    :meth:`settle` resolves all of a call's futures while holding the
    condition, so a waiter never wakes to find its own future still pending.
    """

    __slots__ = ("condition", "created", "data", "futures", "size", "waiting")

    #: A call carries at most this many bytes of message data (at least one
    #: message): Redis buffers a whole request, and a 1000-message call of
    #: 1 MiB messages would be a gigabyte.
    MAX_BYTES = 8 << 20

    def __init__(self) -> None:
        # A plain lock: nothing takes it twice (settle sets the futures' state
        # itself rather than through set_result, which would).
        self.condition = threading.Condition(threading.Lock())
        self.created = time.monotonic()  # when its first message was sent
        self.data: list[str] = []
        self.futures: list[MessageFuture] = []
        self.size = 0
        self.waiting = 0  # threads inside result() or exception() on its futures

    def settle(self, first_id: int | None, error: BaseException | None) -> int:
        """Resolve every future of the call: to ids from ``first_id`` on, or
        to ``error``; one wake-up for all its waiters. Returns how many
        threads were waiting on them.

        What ``set_result`` and ``set_exception`` do, once for the call
        instead of once per future (each takes the condition and notifies).
        """
        with self.condition:
            for offset, future in enumerate(self.futures):
                if error is None:
                    assert first_id is not None
                    future._result = first_id + offset
                else:
                    future._exception = error
                future._state = FINISHED
                for waiter in future._waiters:  # concurrent.futures.wait()'s
                    if error is None:
                        waiter.add_result(future)
                    else:
                        waiter.add_exception(future)
            self.condition.notify_all()
            return self.waiting


class MessageFuture(concurrent.futures.Future[int]):
    """A send's outcome. Waiting on it tells the sender not to linger, and
    a thread its round wakes tells the sender when it has left (see
    :meth:`Producer._back <rivulet.producer.Producer._back>`)."""

    def __init__(self, producer: Sender, call: Call) -> None:
        # Future.__init__'s attributes (unchanged since Python 3.2; a test
        # compares them with a plain Future's), with the call's condition.
        self._condition = call.condition
        self._state = PENDING
        self._result = None
        self._exception = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Any] = []
        self._producer = producer
        self._call = call

    def result(self, timeout: float | None = None) -> int:
        if self._state != FINISHED:
            self._wait(timeout)
        elif self._exception is None:
            return self._result  # type: ignore[return-value]  # set with the state
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._state != FINISHED:
            self._wait(timeout)
        return super().exception(0)

    def _wait(self, timeout: float | None) -> None:
        """Wait until resolved or ``timeout``; counted in the call's
        ``waiting`` meanwhile, so the sender knows how many threads a round
        wakes (one wait: only the round's resolution notifies).

        :raises RivuletError: called from a future's callback (the sender
            thread) on a message not resolved yet: only that thread could
            resolve it, so the wait would never end.
        """
        if self._producer._on_sender():
            raise RivuletError("result() of an unresolved message from a future's callback "
                               "would wait on itself; chain another callback instead")
        self._producer._hurry()
        call = self._call
        woken = False
        try:
            with self._condition:
                if self._state == FINISHED:
                    return
                call.waiting += 1
                try:
                    self._condition.wait(timeout)
                finally:  # even interrupted: a woken thread must report back
                    call.waiting -= 1
                    woken = self._state == FINISHED
        finally:
            if woken:
                self._producer._back()

    def cancel(self) -> bool:
        """A sent message is on its way; it cannot be called back."""
        return False

    def _invoke_callbacks(self) -> None:
        # Deferred: set_result runs under the call's shared condition, and a
        # callback must not run holding it. The sender calls them after.
        pass

    def _run_callbacks(self) -> None:
        """Run the done-callbacks on the sender thread. Whatever one raises,
        SystemExit included, is logged and the next one runs: a callback must
        not stop the sender and strand every later message's future."""
        for callback in self._done_callbacks:
            try:
                callback(self)
            except BaseException:
                log.exception("a done-callback of a rivulet.Producer message raised; "
                              "the producer goes on")


def first_id(reply: Any) -> Any:
    """The first id in a write script's reply (:func:`rivulet.client.write_reply`),
    or None for a reply that is not one."""
    try:
        return write_reply(reply)[0]
    except ValueError:
        return None


def encode_one(data: object, max_bytes: int) -> tuple[str, int]:
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
