"""Blocking reads that wake with their messages: each channel's doorbell.

Every write rings its channel's ``rvl:bell:{C}``, a stream of one entry
(rivulet/scripts/_lib.lua's ``wake_readers``). A reader that looked and found
nothing sends, on one connection it keeps for this, ``XREAD BLOCK`` on the
bells of its channels from the ids that look saw, and right behind it the
read scripts. Redis runs a client's next command as soon as its blocked one
is served, so the wake-up and the messages come back together: the one round
trip after the wake-up is the index mirror's write (SPEC section 2 has it
written before the read returns), where a pub/sub reader spends one on the
read and one on the mirror. The look read each bell in the same atomic step as the
messages (read.lua), so a write landing between the look and the wait has
rung a newer id, and the XREAD returns at once: no wake-up is lost.

The read scripts run whatever the XREAD's outcome (a timeout too), and with
``auto_commit`` they move indexes: their replies are always handed back.

Only plain standalone clients get it (:func:`for_redis`); a cluster keeps
pub/sub (:mod:`rivulet.wakeup`): one XREAD may not span slots.

Like :mod:`rivulet.fastpath`, everything the connection does stays
redis-py's (TLS, AUTH and HELLO on reconnect, unix sockets, the parser); a
pending re-authentication is sent first; after ``fork()`` the child takes a
fresh connection; a call interrupted between send and reply drops the
connection, so no stale reply is read as the next call's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import redis.exceptions as rex

from .fastpath import pack
from .kept import KeptConnection, standalone_pool
from .scripts import ArgT, KeyT, Script

#: How much longer than its BLOCK time a waiting XREAD may take to answer
#: before the link counts as dead (a loaded machine, a slow network).
GRACE_S = 10.0


class Doorbell:
    """Doorbell waits on one connection kept from ``pool`` (one thread at a time)."""

    def __init__(self, pool: Any) -> None:
        self._kept = KeptConnection(pool, "XREAD")
        self._packed: tuple[Sequence[Any], bytes] | None = None
        # Where the reply of a command sent by send() goes, until it is read.
        self._pending: Callable[[Any], None] | None = None

    def send(self, command: Sequence[Any], on_reply: Callable[[Any], None]) -> None:
        """Send ``command`` now, on the waits' connection, without waiting for
        its reply: that is read ahead of the next wait's (or at close) and
        handed to ``on_reply``, an error included, as is a failure to send."""
        conn = self._connection()
        self._settle(conn)
        try:
            if getattr(conn, "_re_auth_token", None) is not None:
                conn.re_auth()
            conn.send_packed_command([pack(conn, command)], check_health=False)
        except Exception as error:
            conn.disconnect()
            on_reply(error)
            return
        self._pending = on_reply

    def _settle(self, conn: Any) -> None:
        """Read the reply a send() left, if any (it has long arrived)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            reply = self._reply(conn)
        except Exception as error:
            conn.disconnect()
            reply = error
        pending(reply)

    def wait(
        self, bells: Sequence[tuple[str, str]],
        reads: Sequence[tuple[Script, Sequence[KeyT], Sequence[ArgT]]],
        timeout_s: float,
    ) -> list[Any]:
        """Block until a bell rings past its id or ``timeout_s`` passes, then
        run ``reads``; their replies (an error reply in its place), in order.

        ``bells`` are ``(bell key, last id seen)`` pairs.

        :raises redis.RedisError: the link failed; nothing is known of the
            reads (a read that ran has moved its index, as any read whose
            reply is lost).
        """
        conn = self._connection()
        self._settle(conn)
        block_ms = max(1, math.ceil(timeout_s * 1000))
        # COUNT 1: one ring is news enough, however many came meanwhile.
        packed = [pack(conn, ["XREAD", "COUNT", 1, "BLOCK", block_ms, "STREAMS",
                               *(key for key, _ in bells), *(seen for _, seen in bells)]),
                  self._packed_reads(conn, reads)]
        try:
            if getattr(conn, "_re_auth_token", None) is not None:
                conn.re_auth()  # redis-py >= 5.3 (streaming credentials)
            conn.send_packed_command([b"".join(packed)], check_health=False)
            if not conn.can_read(timeout=block_ms / 1000 + GRACE_S):
                raise rex.TimeoutError("Redis did not answer a doorbell wait")
            replies = [self._reply(conn) for _ in range(len(reads) + 1)]
        except BaseException:
            # Replies still on their way: the link is out of step.
            conn.disconnect()
            raise
        return replies[1:]

    def _packed_reads(self, conn: Any,
                      reads: Sequence[tuple[Script, Sequence[KeyT], Sequence[ArgT]]]) -> bytes:
        # The same reads go behind every wait of a blocking read: packed once.
        if self._packed is not None and self._packed[0] is reads:
            return self._packed[1]
        packed = b"".join(pack(conn, ["EVALSHA", script.sha, len(keys), *keys, *args])
                          for script, keys, args in reads)
        self._packed = (reads, packed)
        return packed

    @staticmethod
    def _reply(conn: Any) -> Any:
        try:
            return conn.read_response()
        except rex.ResponseError as error:
            return error  # this command's own error; the link is in step

    def _connection(self) -> Any:
        if self._kept.forked:
            self._pending = None  # the parent's reply, on the parent's socket
        return self._kept.get()

    def close(self) -> None:
        """Hand the connection back to the pool (in the process that took it),
        once the reply of a command sent by send() is read."""
        if self._kept.conn is not None and not self._kept.forked:
            self._settle(self._kept.conn)
        self._kept.release()


def for_redis(client: Any) -> Doorbell | None:
    """A doorbell for a plain standalone ``redis.Redis``; None for anything
    else (:func:`rivulet.kept.standalone_pool`), which waits on pub/sub."""
    pool = standalone_pool(client)
    return None if pool is None else Doorbell(pool)
