"""Socket timeouts that never outlast the current call's time budget.

:meth:`RetryPolicy.run` publishes the call's deadline here (a contextvar, so
each thread and task has its own); the connection classes below cap every
connect, send and read at the time left before it. A Redis that accepts the
connection and then never answers (stopped, swapping, behind a dead link)
therefore costs a call its budget, not budget plus ``socket_timeout``.

Outside a budgeted call (a blocking read's wait) nothing is capped: the
connection's own ``socket_timeout`` applies.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import redis.connection
import redis.exceptions as rex

#: redis-py's "no timeout given" default (in redis.utils from 6.x, but
#: imported into redis.connection in every version we support).
_DEFAULT: object = getattr(redis.connection, "SENTINEL", object())

T = TypeVar("T")

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "rivulet_deadline", default=None
)


@contextlib.contextmanager
def within(deadline: float) -> Iterator[None]:
    """Run the block with ``deadline`` (``time.monotonic()`` seconds) as the
    limit of every socket operation; a tighter outer deadline still wins.

    The outer value is put back by value, set inside the ``try``: an
    exception that lands between the two (a KeyboardInterrupt) cannot leave
    this deadline in force for the thread's later calls. The hot paths use
    :func:`run_within`, which cannot leave it at all.
    """
    outer = _deadline.get()
    try:
        _deadline.set(soonest(deadline))
        yield
    finally:
        _deadline.set(outer)


def run_within(deadline: float, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` with ``deadline`` in force, run in a copy of the
    current context: the deadline lives in the copy only, so nothing (a
    KeyboardInterrupt included) can leave it set in the caller's context,
    where it would fail every later call once it has passed. The caller
    has taken an outer deadline into account (:func:`soonest`)."""
    return contextvars.copy_context().run(_call_within, deadline, call, args)


def soonest(deadline: float) -> float:
    """``deadline``, or the one in force when that ends first (a budgeted
    call made inside another)."""
    outer = _deadline.get()
    return deadline if outer is None or deadline < outer else outer


def _call_within(deadline: float, call: Callable[..., T], args: tuple[Any, ...]) -> T:
    _deadline.set(deadline)
    return call(*args)


def current() -> float | None:
    """The deadline in force (``time.monotonic()`` seconds), or None."""
    return _deadline.get()


def time_left() -> float | None:
    """Seconds left in the current call's budget, or None outside one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


#: How far a socket's timeout may be from the time left before it is set
#: again (seconds): the most a socket operation may outlast its call's budget.
REARM_SLACK_S = 0.001


class BudgetSpent(rex.TimeoutError):
    """The call's budget ran out before a socket operation could start: a
    timeout (so retry layers see it as one), but not news about Redis."""


def cap(timeout: float | None) -> float | None:
    """``timeout`` (None: no limit) capped at the time left in the budget.

    :raises BudgetSpent: the budget is already spent.
    """
    left = time_left()
    if left is None:
        return timeout
    if left <= 0:
        raise BudgetSpent("the call's time budget is spent")
    return left if timeout is None else min(timeout, left)


class DeadlineMixin:
    """Caps each socket operation of a redis-py connection at the budget.

    ``timeouts_used`` keeps the last few timeouts applied (seconds, None for
    none), so a test can see the cap instead of timing it.
    """

    # Provided by redis-py's connection classes.
    _sock: Any
    socket_timeout: float | None
    socket_connect_timeout: float | None

    timeouts_used: collections.deque[float | None]

    def _note(self, timeout: float | None) -> float | None:
        try:
            self.timeouts_used.append(timeout)
        except AttributeError:  # the first: no __init__ of ours to make it in
            self.timeouts_used = collections.deque([timeout], maxlen=16)
        return timeout

    def _connect(self) -> Any:
        # redis-py reads both timeouts inside _connect: lend it capped ones.
        connect_s, socket_s = self.socket_connect_timeout, self.socket_timeout
        try:
            self.socket_connect_timeout = self._note(cap(connect_s))
            self.socket_timeout = cap(socket_s)
            return super()._connect()  # type: ignore[misc]
        finally:
            self.socket_connect_timeout, self.socket_timeout = connect_s, socket_s

    def _capped(self, timeout: float | None) -> float | None:
        """``timeout`` capped at the budget; a spent budget also drops the
        connection, since a command on it may be half sent or its reply
        unread, and then it cannot be reused."""
        try:
            return self._note(cap(timeout))
        except BudgetSpent:
            self.disconnect()  # type: ignore[attr-defined]
            raise

    def _arm(self) -> None:
        """Set the socket's timeout for the operation about to run.

        ``settimeout`` is a system call (an ioctl) every time, twice per
        round trip; a timeout within :data:`REARM_SLACK_S` of the one the
        socket has already is kept, so a call's send and read, and calls in
        a row with a fresh budget each, cost none. An operation may then
        outlast the budget by at most that slack.
        """
        sock = self._sock
        if sock is not None:
            # cap() and _capped(), inlined: this runs twice a round trip.
            timeout = self.socket_timeout
            deadline = _deadline.get()
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.disconnect()  # type: ignore[attr-defined]
                    raise BudgetSpent("the call's time budget is spent")
                timeout = left if timeout is None or left < timeout else timeout
            self._note(timeout)
            current = sock.gettimeout()
            if timeout is None or current is None or abs(timeout - current) > REARM_SLACK_S:
                if timeout != current:
                    sock.settimeout(timeout)

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        # Not connected yet: _connect leaves the new socket capped already.
        self._arm()
        super().send_packed_command(command, check_health)  # type: ignore[misc]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        timeout = kwargs.get("timeout", _DEFAULT)
        if timeout is not _DEFAULT:
            kwargs["timeout"] = self._capped(timeout)
        else:
            self._arm()
        return super().read_response(*args, **kwargs)  # type: ignore[misc]

    def can_read(self, timeout: float | None = 0) -> bool:
        result: bool = super().can_read(self._capped(timeout))  # type: ignore[misc]
        return result


class DeadlineConnection(DeadlineMixin, redis.connection.Connection):
    """TCP connection whose socket timeouts respect the call's budget."""


class DeadlineSSLConnection(DeadlineMixin, redis.connection.SSLConnection):
    """TLS connection whose socket timeouts respect the call's budget."""


class DeadlineUnixDomainSocketConnection(
    DeadlineMixin, redis.connection.UnixDomainSocketConnection
):
    """Unix-socket connection whose socket timeouts respect the call's budget."""


#: redis-py's connection class (what its URL parser picks) -> ours.
CAPPED: dict[type[Any], type[Any]] = {
    redis.connection.Connection: DeadlineConnection,
    redis.connection.SSLConnection: DeadlineSSLConnection,
    redis.connection.UnixDomainSocketConnection: DeadlineUnixDomainSocketConnection,
}
