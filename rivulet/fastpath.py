"""One script call per round trip, without redis-py's per-command layer.

A ``write()`` through ``redis.Redis.evalsha`` spends about three quarters of
its client CPU in redis-py's command layer: a pool checkout with a readiness
poll, event and observability hooks, a retry wrapper rivulet switches off
anyway. :class:`FastCalls` keeps one connection of the client's own pool for
itself and sends each call as one packed ``EVALSHA``, reading the reply on
the same connection (a single call's integer reply is read off the socket
by :mod:`rivulet.wire`). Everything the connection does stays redis-py's:
TLS, AUTH and HELLO (RESP3) on (re)connect, unix sockets, the parser for
every other reply, and rivulet's deadline-capped socket timeouts
(:mod:`rivulet.deadline`).

What the command layer did that still matters is done here:

- a pending re-authentication (a streaming credential provider's new token,
  which the pool hands to checked-out connections) is sent before the call;
- after ``fork()`` the child never touches the parent's socket: it takes a
  fresh connection from the (by then reset) pool (:mod:`rivulet.kept`);
- a call interrupted between send and reply (an error, a timeout, even
  KeyboardInterrupt) drops the connection, so no stale reply is ever read
  as the next call's; the next call reconnects;
- NOSCRIPT (a restarted or flushed server) loads the script and sends the
  call again, which is safe because a NOSCRIPT call never ran.

Only plain standalone clients get it (:func:`for_redis`); a cluster client
keeps the routed path in :mod:`rivulet.scripts`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis.exceptions as rex

from . import wire
from .kept import KeptConnection, standalone_pool
from .scripts import ArgT, KeyT, Script
from .urls import is_utf8

log = logging.getLogger("rivulet")


class Prefix:
    """The keys and leading arguments of calls that repeat them (a writer's
    mode, id and wake-up channel on one channel), with their packed bytes
    made once per way of calling (FCALL, EVALSHA) and kept."""

    __slots__ = ("_packed", "args", "keys", "script")

    def __init__(self, script: Script, keys: Sequence[KeyT], args: Sequence[ArgT]) -> None:
        self.script = script
        self.keys = list(keys)
        self.args = list(args)
        self._packed: dict[bool, bytes | None] = {}

    def packed(self, encoder: Any, by_function: bool) -> bytes | None:
        """``[FCALL fn | EVALSHA sha] numkeys keys... args...`` as RESP bulk
        strings, or None where redis-py's packer must decide."""
        try:
            return self._packed[by_function]
        except KeyError:
            pass
        packed = None
        if encoder is not None:
            packed = _bulks(encoder, [*_head(self.script, by_function), len(self.keys),
                                      *self.keys, *self.args])
        self._packed[by_function] = packed
        return packed


class FastCalls:
    """Script calls on one connection kept from ``pool`` (one thread at a time)."""

    def __init__(self, pool: Any, afresh: bool = True) -> None:
        self._kept = KeptConnection(pool, "EVALSHA", afresh)
        self._conn: Any = None
        self._encoder: Any = None  # the kept connection's, when it is UTF-8
        # FCALL until the server shows it cannot (Redis 6.2, an ACL that
        # denies FUNCTION LOAD): then EVALSHA, for this client's life.
        self.functions = True

    def call(self, prefix: Prefix, rest: Sequence[ArgT]) -> Any:
        """Run ``prefix.script`` once with ``prefix``'s keys and arguments,
        then ``rest``; its reply, or the exception redis-py raised.

        The call goes by FCALL (:attr:`Script.library`) for a script made
        ``as_function`` where the server has Functions, else by EVALSHA; a
        missing script or library (a restarted or flushed server) is loaded
        and the call sent once more, which is safe because such a call never
        ran. The prefix is packed once and kept, which saves a write about a
        tenth of its client CPU.
        """
        conn = self._connection()
        script = prefix.script
        # At most: FCALL unknown (6.2), then EVALSHA's NOSCRIPT, then the call.
        for attempt in range(3):
            by_function = self.functions and script.as_function
            try:
                return self._roundtrip(conn, self._pack_call(conn, prefix, rest, by_function))
            except rex.ResponseError as error:
                if attempt == 2 or not _never_ran(error, by_function):
                    raise  # the script's own error reply, or a server that keeps forgetting
                self._prepare(conn, script, error)
        raise AssertionError("unreachable")

    def call_many(self, script: Script, calls: Sequence[tuple[Sequence[KeyT], Sequence[ArgT]]]
                  ) -> list[Any]:
        """Run ``script`` once per ``(keys, args)``, all sent at once and read
        in order (one round trip); each reply, or the error reply it got.

        After a lost link the caller may send them all again: for read-only
        scripts, and for writes that carry their retry tokens. When a call
        finds its script or library missing, it is loaded and the calls from
        that one on are sent again, in order (those of them that ran are
        read-only or answered from their tokens).
        """
        conn = self._connection()
        by_function = self.functions and script.as_function
        replies = self._pipeline(conn, self._pack_many(conn, script, calls, by_function),
                                 len(calls))
        for _ in range(2):  # as in call(): FCALL unknown, then NOSCRIPT
            first = next((i for i, reply in enumerate(replies)
                          if isinstance(reply, rex.ResponseError)
                          and _never_ran(reply, by_function)), None)
            if first is None:
                break
            self._prepare(conn, script, replies[first])
            rest = calls[first:]
            by_function = self.functions and script.as_function
            replies[first:] = self._pipeline(
                conn, self._pack_many(conn, script, rest, by_function), len(rest))
        return replies

    def _prepare(self, conn: Any, script: Script, error: rex.ResponseError) -> None:
        """Make a call that never ran runnable: load what it missed, or go by
        EVALSHA from now on where the server has no Functions for us."""
        if isinstance(error, rex.NoScriptError):
            self._roundtrip(conn, pack(conn, ["SCRIPT", "LOAD", script.source]))
        elif not (str(error).startswith("Function not found") and self._load(conn, script)):
            self.functions = False
            log.info("the server runs no Redis Functions for rivulet; its scripts go by EVALSHA")

    def _load(self, conn: Any, script: Script) -> bool:
        """FUNCTION LOAD the script's library; False when the server will not."""
        try:
            self._roundtrip(conn, pack(conn, ["FUNCTION", "LOAD", "REPLACE", script.library]))
        except rex.ReadOnlyError:
            raise  # a replica (failing over): the write fails as it would anyway
        except rex.ResponseError:
            return False  # NOPERM, OOM, a proxy without FUNCTION
        return True

    def _pack_many(self, conn: Any, script: Script,
                   calls: Sequence[tuple[Sequence[KeyT], Sequence[ArgT]]], by_function: bool
                   ) -> bytes:
        head = _head(script, by_function)
        return b"".join(pack(conn, [*head, len(keys), *keys, *args]) for keys, args in calls)

    def _pack_call(self, conn: Any, prefix: Prefix, rest: Sequence[ArgT],
                   by_function: bool) -> bytes:
        encoder = self._encoder
        packed = prefix.packed(encoder, by_function)
        if packed is not None:
            tail = _bulks(encoder, rest)
            if tail is not None:
                return b"*%d\r\n%b%b" % (3 + len(prefix.keys) + len(prefix.args) + len(rest),
                                          packed, tail)
        return pack(conn, [*_head(prefix.script, by_function), len(prefix.keys), *prefix.keys,
                           *prefix.args, *rest])

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

    def _roundtrip(self, conn: Any, packed: bytes) -> Any:
        try:
            if getattr(conn, "_re_auth_token", None) is not None:
                conn.re_auth()  # redis-py >= 5.3 (streaming credentials)
            return wire.roundtrip(conn, packed)
        except rex.ResponseError:
            raise  # an error reply: the connection is in step, keep it
        except BaseException:
            # Half sent, or a reply still on its way: the link is out of
            # step. A socket error dropped it already; not everything does
            # (an interrupt), so drop it here too.
            conn.disconnect()
            raise

    def _connection(self) -> Any:
        conn = self._kept.get()
        if conn is not self._conn:  # the first, or a forked child's own
            self._conn, self._encoder = conn, _utf8_encoder(conn)
        return conn

    def close(self) -> None:
        """Hand the connection back to the pool (in the process that took it)."""
        self._kept.release()


def _never_ran(error: rex.ResponseError, by_function: bool) -> bool:
    """True for the errors of a call that never ran its script: NOSCRIPT, or
    for an FCALL, the library missing or FCALL unknown or denied (ACL). A
    script's own error replies never start like these."""
    if isinstance(error, rex.NoScriptError):
        return True
    if not by_function:
        return False
    text = str(error)
    return (text.startswith(("Function not found", "unknown command"))
            or (isinstance(error, rex.NoPermissionError) and "'fcall'" in text.lower()))


def _utf8_encoder(conn: Any) -> Any:
    encoder = getattr(conn, "encoder", None)
    return encoder if encoder is not None and is_utf8(encoder.encoding) else None


def _bulks(encoder: Any, args: Sequence[Any]) -> bytes | None:
    """``args`` as RESP bulk strings, or None when one is not a str, bytes
    or int (redis-py's packer then decides what it becomes)."""
    parts = []
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode("utf-8", encoder.encoding_errors)
        elif isinstance(arg, bytes):
            data = arg
        elif type(arg) is int:
            data = b"%d" % arg
        else:
            return None
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def pack(conn: Any, args: Sequence[Any]) -> bytes:
    """``args`` as one RESP command, as ``conn.pack_command`` would send it.

    redis-py's packer costs about 3 us per argument (its encoder's checks,
    a buffer per argument); a write has 11 or more. For str, int and bytes
    on a UTF-8 connection the bytes are the same, built here in one join;
    anything else is left to redis-py.
    """
    encoder = _utf8_encoder(conn)
    bulks = None if encoder is None else _bulks(encoder, args)
    if bulks is None:
        return b"".join(conn.pack_command(*args))
    return b"*%d\r\n%b" % (len(args), bulks)


def _head(script: Script, by_function: bool) -> list[Any]:
    return ["FCALL", script.function] if by_function else ["EVALSHA", script.sha]


def for_redis(client: Any, afresh: bool = True) -> FastCalls | None:
    """Fast calls for a plain standalone ``redis.Redis``; None for anything
    else (:func:`rivulet.kept.standalone_pool`), which then keeps the
    ordinary path. ``afresh``: as :class:`rivulet.kept.KeptConnection`'s
    (False for a user of one call)."""
    pool = standalone_pool(client)
    return None if pool is None else FastCalls(pool, afresh)
