"""A reply lost on its way in, on a real connection.

The fast write path reads its reply from the connection's socket itself
(rivulet/wire.py), so a fault injected into redis-py's ``read_response``
would not meet it. Here the fault is in the socket: its next ``recv`` takes
the bytes that arrived (the command ran) and raises instead of handing them
over, once. Where the connection has no real socket (fakeredis), the fault
is in ``read_response``, which is where that path reads.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import redis.exceptions as rex


def lose_next_reply(conn: Any, error: BaseException, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make the next reply ``conn`` reads vanish and ``error`` be raised in
    its place; returns a list that holds one item once that has happened."""
    lost: list[Any] = []
    sock = conn._sock
    if isinstance(sock, socket.socket):
        plain = type(sock)

        class Losing(plain):  # type: ignore[misc,valid-type]
            __slots__ = ()

            def recv(self, *args: Any, **kwargs: Any) -> bytes:
                lost.append(super().recv(*args, **kwargs))
                self.__class__ = plain  # once
                raise error

        sock.__class__ = Losing
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
