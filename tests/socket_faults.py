"""Faults in a real connection: a reply lost on its way in, a send that
crawls or goes nowhere, a reply cut into pieces.

The fast write path reads its reply from the connection's socket itself
(rivulet/wire.py), so a fault injected into redis-py's ``read_response``
would not meet it. :func:`override` puts the fault in the socket instead, by
giving it a class of its own (a real socket, TLS's included, stays one).
Where the connection has no real socket (fakeredis), :func:`lose_next_reply`
puts it in ``read_response``, which is where that path reads; and
:func:`fail_next_read` does for every connection of a class what redis-py's
pipelines (the Producer's rounds on a cluster) go through.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis.exceptions as rex


def override(sock: socket.socket, **methods: Callable[..., Any]) -> type[Any]:
    """Swap ``sock``'s class for a subclass in which ``methods`` replace its
    own. Each is called as ``method(plain, sock, *args)``, ``plain`` being
    the socket's own class: ``plain.recv(sock, n)`` is the real recv, and
    ``sock.__class__ = plain`` puts everything back. Returns ``plain``."""
    plain = type(sock)

    def calling(method: Callable[..., Any]) -> Callable[..., Any]:
        return lambda self, *args, **kwargs: method(plain, self, *args, **kwargs)

    body = {name: calling(method) for name, method in methods.items()}
    sock.__class__ = type("Faulty", (plain,), {"__slots__": (), **body})
    return plain


def lose_next_reply(conn: Any, error: BaseException, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make the next reply ``conn`` reads vanish and ``error`` be raised in
    its place; returns a list that holds one item once that has happened."""
    lost: list[Any] = []
    sock = conn._sock
    if isinstance(sock, socket.socket):

        def recv(plain: type[Any], sock: Any, *args: Any, **kwargs: Any) -> bytes:
            lost.append(plain.recv(sock, *args, **kwargs))  # the command ran ...
            sock.__class__ = plain  # (once)
            raise error  # ... and its reply is lost

        override(sock, recv=recv)
        return lost
    real = conn.read_response

    def read_response(*args: Any, **kwargs: Any) -> Any:
        if not lost:
            lost.append(real(*args, **kwargs))
            if isinstance(error, OSError):  # as redis-py's read_response raises it
                conn.disconnect()
                raise rex.ConnectionError(f"Error while reading: {error}")
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(conn, "read_response", read_response)
    return lost


def fail_next_read(cls: type[Any], monkeypatch: pytest.MonkeyPatch,
                   error: Exception | None = None) -> threading.Event:
    """Patch ``cls.read_response``: once the returned event is set, the next
    reply read on any connection of ``cls`` is read and then lost (the link
    dropped, ``ConnectionError``), or answered with ``error`` instead (the
    link in step). The event is clear again once that has happened."""
    armed = threading.Event()
    original = cls.read_response

    def read_response(self: Any, *args: Any, **kwargs: Any) -> Any:
        reply = original(self, *args, **kwargs)
        if armed.is_set():
            armed.clear()
            if error is not None:
                raise error
            self.disconnect()  # it ran; its reply never arrives
            raise rex.ConnectionError("reply lost in transit")
        return reply

    monkeypatch.setattr(cls, "read_response", read_response)
    return armed
