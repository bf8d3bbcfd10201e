"""One script call per round trip, without redis-py's per-command layer.

A ``write()`` through ``redis.Redis.evalsha`` spends about three quarters of
its client CPU in redis-py's command layer: a pool checkout with a readiness
poll, event and observability hooks, a retry wrapper rivulet switches off
anyway. :class:`FastCalls` keeps one connection of the client's own pool for
itself and sends each call as one packed ``EVALSHA``, reading the reply on
the same connection. Everything the connection does stays redis-py's: TLS,
AUTH and HELLO (RESP3) on (re)connect, unix sockets, the parser, and
rivulet's deadline-capped socket timeouts (:mod:`rivulet.deadline`).

What the command layer did that still matters is done here:

- a pending re-authentication (a streaming credential provider's new token,
  which the pool hands to checked-out connections) is sent before the call;
- after ``fork()`` the child never touches the parent's socket: it takes a
  fresh connection from the (by then reset) pool;
- a call interrupted between send and reply (an error, a timeout, even
  KeyboardInterrupt) drops the connection, so no stale reply is ever read
  as the next call's; the next call reconnects;
- NOSCRIPT (a restarted or flushed server) loads the script and sends the
  call again, which is safe because a NOSCRIPT call never ran.

Only plain standalone clients get it (:func:`for_redis`); a cluster client
keeps the routed path in :mod:`rivulet.scripts`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import redis
import redis.exceptions as rex

from .scripts import ArgT, KeyT, Script


class FastCalls:
    """Script calls on one connection kept from ``pool`` (one thread at a time)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._conn: Any = None
        self._pid = os.getpid()

    def call(self, script: Script, keys: Sequence[KeyT], args: Sequence[ArgT]) -> Any:
        """Run ``script`` once; its reply, or the exception redis-py raised."""
        conn = self._connection()
        packed = _pack(conn, ["EVALSHA", script.sha, len(keys), *keys, *args])
        try:
            return self._roundtrip(conn, packed)
        except rex.NoScriptError:
            self._roundtrip(conn, conn.pack_command("SCRIPT", "LOAD", script.source))
            return self._roundtrip(conn, packed)

    def call_many(self, script: Script, calls: Sequence[tuple[Sequence[KeyT], Sequence[ArgT]]]
                  ) -> list[Any]:
        """Run ``script`` once per ``(keys, args)``, all sent at once and read
        in order (one round trip); each reply, or the error reply it got.

        For read-only scripts: after a lost link the caller may send them all
        again. NOSCRIPT (the first reply says so) loads the script and resends.
        """
        conn = self._connection()
        packed = b"".join(b"".join(_pack(conn, ["EVALSHA", script.sha, len(keys), *keys, *args]))
                          for keys, args in calls)
        replies = self._pipeline(conn, packed, len(calls))
        if calls and isinstance(replies[0], rex.NoScriptError):
            self._roundtrip(conn, conn.pack_command("SCRIPT", "LOAD", script.source))
            replies = self._pipeline(conn, packed, len(calls))
        return replies

    def _pipeline(self, conn: Any, packed: bytes, count: int) -> list[Any]:
        replies: list[Any] = []
        try:
            if getattr(conn, "_re_auth_token", None) is not None:
                conn.re_auth()
            conn.send_packed_command([packed], check_health=False)
            for _ in range(count):
                try:
                    replies.append(conn.read_response())
                except rex.ResponseError as error:
                    replies.append(error)  # this call's own error; the link is in step
        except BaseException:
            conn.disconnect()  # replies still on their way: out of step
            raise
        return replies

    def _roundtrip(self, conn: Any, packed: Any) -> Any:
        try:
            if getattr(conn, "_re_auth_token", None) is not None:
                conn.re_auth()  # redis-py >= 5.3 (streaming credentials)
            conn.send_packed_command(packed, check_health=False)
            return conn.read_response()
        except rex.ResponseError:
            raise  # an error reply: the connection is in step, keep it
        except BaseException:
            # Half sent, or a reply still on its way: the link is out of
            # step. redis-py dropped it already for socket errors; not for
            # everything (an interrupt), so drop it here too.
            conn.disconnect()
            raise

    def _connection(self) -> Any:
        if self._pid != os.getpid():
            # A forked child: the parent's socket is not ours to use or close
            # (redis-py's disconnect would leave the parent's alone, but the
            # object belongs to the parent's pool). The pool resets itself.
            self._conn = None
            self._pid = os.getpid()
        if self._conn is None:
            # The one pool checkout, with its readiness check, per connection.
            try:
                self._conn = self._pool.get_connection()
            except TypeError:  # redis-py < 5.3 wants a command name
                self._conn = self._pool.get_connection("EVALSHA")
        return self._conn

    def close(self) -> None:
        """Hand the connection back to the pool (in the process that took it)."""
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            self._pool.release(conn)


def _pack(conn: Any, args: list[Any]) -> Any:
    """``args`` as one RESP command, as ``conn.pack_command`` would send it.

    redis-py's packer costs about 3 us per argument (its encoder's checks,
    a buffer per argument); a write has 11 or more. For str, int and bytes
    on a UTF-8 connection the bytes are the same, built here in one join;
    anything else is left to redis-py.
    """
    encoder = getattr(conn, "encoder", None)
    if encoder is None or encoder.encoding.lower().replace("-", "") != "utf8":
        return conn.pack_command(*args)
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode("utf-8", encoder.encoding_errors)
        elif isinstance(arg, bytes):
            data = arg
        elif type(arg) is int:
            data = b"%d" % arg
        else:
            return conn.pack_command(*args)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return [b"".join(parts)]


def for_redis(client: Any) -> FastCalls | None:
    """Fast calls for a plain standalone ``redis.Redis``; None for anything
    else (a cluster, a pipeline, an object that only looks like a client),
    which then keeps the ordinary path."""
    if not isinstance(client, redis.Redis):
        return None
    pool = getattr(client, "connection_pool", None)
    if pool is None or getattr(client, "connection", None) is not None:
        # single_connection_client: its one connection is already kept.
        return None
    return FastCalls(pool)
