"""One packed command out and its reply in, on a kept redis-py connection.

The write's round trip is the hot path (issue 9), and on it redis-py's
``send_packed_command`` and ``read_response`` cost about 2.5 us over the two
system calls they wrap: per call a host name formatted for an error message
that is almost never raised, two socket timeouts checked, and a parser that
copies the reply through a ``BytesIO``. The write script answers one integer
(``:<id>\\r\\n``), so :func:`roundtrip` sends on the connection's own socket
and reads that integer itself.

What stays redis-py's: the socket (TCP, TLS, unix), connecting with its AUTH
and HELLO, and every reply that is not exactly one integer: error replies,
RESP3 push messages that came first, a reply cut in two by the network. Those
bytes go into the parser's buffer, where redis-py's own ``recv`` would have
put them, and redis-py reads the reply from there. A connection whose parser
keeps no such buffer (hiredis), or holds unread bytes already, or is not
connected, or that has no real socket of its own (fakeredis; the proxy
redis-py puts around a connection for client-side caching), takes
redis-py's path whole.

Failures follow redis-py's rules: a timeout or socket error drops the
connection (a reply may still be on its way) and raises redis-py's
``TimeoutError`` or ``ConnectionError``. Anything else that interrupts the
call (KeyboardInterrupt) leaves the connection out of step: the caller drops
it (:class:`rivulet.fastpath.FastCalls` does).
"""

from __future__ import annotations

import io
import socket
from typing import Any

import redis.exceptions as rex

#: As much as one recv takes (redis-py reads 64 KiB at a time too).
_READ_SIZE = 65536


def roundtrip(conn: Any, data: bytes) -> Any:
    """Send ``data`` (one packed command) on ``conn``; its reply.

    :raises redis.exceptions.ResponseError: the command's error reply; the
        connection stays in step.
    """
    # A real socket (TLS's is one too); not a test double such as fakeredis',
    # nor a wrapper that has none of its own (client-side caching's proxy).
    sock: Any = getattr(conn, "_sock", None)
    buffered = _empty_buffer(conn) if isinstance(sock, socket.socket) else None
    if buffered is None:
        return _through_redis_py(conn, data)
    arm = getattr(conn, "_arm", None)
    try:
        if arm is not None:
            arm()  # rivulet.deadline: the send's cap ...
        sock.sendall(data)
        if arm is not None:
            arm()  # ... and the read's, less what a slow send took (no syscall if none)
        reply = sock.recv(_READ_SIZE)
    except TimeoutError:  # socket.timeout
        conn.disconnect()
        raise rex.TimeoutError(f"Timeout talking to {_where(conn)}") from None
    except OSError as error:
        conn.disconnect()
        raise rex.ConnectionError(f"Error talking to {_where(conn)}: {error}") from None
    if reply[:1] == b":" and reply[-2:] == b"\r\n":
        try:
            return int(reply[1:-2])  # a second reply in the bytes fails: no digits
        except ValueError:
            pass
    if not reply:
        conn.disconnect()
        raise rex.ConnectionError(f"Connection closed by server ({_where(conn)}).")
    # Not one whole integer: what redis-py's own recv would have buffered.
    buffered.write(reply)
    buffered.seek(-len(reply), io.SEEK_END)
    return conn.read_response()


def _empty_buffer(conn: Any) -> Any:
    """The ``BytesIO`` under the connection's parser when it holds nothing
    unread (its position at its end), else None."""
    socket_buffer = getattr(getattr(conn, "_parser", None), "_buffer", None)
    buffered = getattr(socket_buffer, "_buffer", None)
    if type(buffered) is not io.BytesIO:
        return None  # hiredis, fakeredis' own, not connected
    at = buffered.tell()
    if buffered.seek(0, io.SEEK_END) != at:
        buffered.seek(at)
        return None  # bytes of a reply (or a push) are waiting: redis-py reads them
    return buffered


def _through_redis_py(conn: Any, data: bytes) -> Any:
    conn.send_packed_command([data], check_health=False)
    return conn.read_response()


def _where(conn: Any) -> str:
    describe = getattr(conn, "_host_error", None)
    return describe() if callable(describe) else "Redis"
